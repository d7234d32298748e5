"""The soak cut into windows: what each window's requests did and what memory read at its end.

A request belongs to the window in which it ended (so a window's figures are complete when it
closes); errors are counted the same way. Memory is the last reading of each source in the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from pytest_ascend_llm.serving.records import RequestRecord


@dataclass(frozen=True)
class Finished:
    """One request's record and when it ended, in seconds from the soak's start."""

    record: RequestRecord
    ended: float


@dataclass(frozen=True)
class Sample:
    """One reading of every memory source (MiB; None: not readable then), with the requests done by then."""

    time: float
    done: int
    mib: dict[str, float | None]


def _p(values: Sequence[float], q: float) -> float | None:
    from pytest_ascend_llm.metrics.stats import percentile

    return percentile(values, q) if values else None


@dataclass(frozen=True)
class Window:
    """Requests ended in (start, end]: how many, how many failed, TTFT/E2E P50/P95 over the completed
    ones (n of them), and each memory source's last reading."""

    index: int
    start: float
    end: float
    requests: int
    errors: int
    n: int
    ttft_p50: float | None
    ttft_p95: float | None
    e2e_p50: float | None
    e2e_p95: float | None
    mib: dict[str, float | None] = field(default_factory=dict)
    e2e: tuple[float, ...] = ()  # the completed requests' E2E, for the drift's bootstrap

    def to_dict(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if key != "e2e"}


def make_window(
    index: int, start: float, end: float, finished: Sequence[Finished], samples: Sequence[Sample]
) -> Window:
    """Window ``index`` (1-based) from everything that ended in (start, end]."""
    inside = [f.record for f in finished if start < f.ended <= end]
    done = [r for r in inside if r.completed and r.e2e is not None]
    ttft = [r.ttft for r in done if r.ttft is not None]
    e2e = [r.e2e for r in done]
    mib: dict[str, float | None] = {}
    for sample in samples:
        if start < sample.time <= end or (index == 1 and sample.time <= end):  # the first has the t=0 reading
            for source, value in sample.mib.items():
                mib[source] = value if value is not None else mib.get(source)
    errors = sum(not r.completed for r in inside)
    return Window(
        index, start, end, len(inside), errors, len(done),
        _p(ttft, 50), _p(ttft, 95), _p(e2e, 50), _p(e2e, 95), mib, tuple(e2e),
    )  # fmt: skip
