"""Is the client the bottleneck? The load generator's own figures, and the thresholds past which its
delays could move what it reports.

Three signs, each measured per run (``drive.py``): a worker process using nearly a whole core (it can
fall behind the streams it times), its event loop's timers firing late (every stamp it takes is as
late), and requests written well after they were due (connection setup excluded: that is the server's
accept queue, kept as its own figure). The limits scale with the latency being measured: a 3 ms lag
is noise against a 2 s TTFT and a 6 % error against a 50 ms one. A case past any limit is marked
``client-bound`` with the figure, and the gate calls its comparisons inconclusive, never a server
regression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_ascend_llm.metrics.stats import is_resolved, percentile
from pytest_ascend_llm.serving.drive import WorkerFigures
from pytest_ascend_llm.serving.records import RequestRecord

CPU_LIMIT = 0.9  # of one core, in any worker
DELAY_SHARE = 0.05  # loop lag P99 or client wait P95 above this share of the run's TTFT P50 ...
DELAY_FLOOR_S = 0.002  # ... and above this, whatever the TTFT


@dataclass
class ClientHealth:
    """The workers' figures of one run, and how many processes shared its streams."""

    workers: Sequence[WorkerFigures]
    processes: int

    def figures(self, records: Sequence[RequestRecord]) -> dict[str, object]:
        """Flat figures for the saved metrics: per-worker CPU, loop lag, waits and connection setup."""
        lag = [sample for worker in self.workers for sample in worker.lag_s]
        waits = [record.client_wait for record in records]
        connects = [record.connect for record in records if record.connect > 0]
        figures: dict[str, object] = {
            "client_workers": self.processes,
            "client_cpu_per_worker": [round(worker.cpu_share, 3) for worker in self.workers],
            "client_loop_lag_p99_ms": _ms(lag, 99),
            "client_loop_lag_max_ms": max(lag) * 1e3 if lag else None,
            "client_loop_lag_n": len(lag),
            "client_wait_p50_ms": _ms(waits, 50),
            "client_wait_p95_ms": _ms(waits, 95),
            "client_wait_n": len(waits),
            "connect_p50_ms": _ms(connects, 50),
            "connect_p95_ms": _ms(connects, 95),
            "connect_n": len(connects),
        }
        return figures

    def bound_by(self, records: Sequence[RequestRecord]) -> str:
        """'' when the client kept up; else the first limit passed, with its figure and what to do."""
        ttfts = [record.ttft for record in records if record.ttft is not None]
        limit = max(DELAY_FLOOR_S, DELAY_SHARE * percentile(ttfts, 50)) if ttfts else DELAY_FLOOR_S
        busiest = max(self.workers, key=lambda worker: worker.cpu_share, default=None)
        fix = "add client cores or --llm-client-workers, or lower the load"
        if busiest is not None and busiest.cpu_share >= CPU_LIMIT:
            return (
                f"client worker {busiest.worker} used {busiest.cpu_share:.0%} of a core (limit {CPU_LIMIT:.0%}): {fix}"
            )
        lag = [sample for worker in self.workers for sample in worker.lag_s]
        if is_resolved(99, len(lag)) and percentile(lag, 99) > limit:  # never a verdict on a handful
            return (
                f"the client's event loop ran {percentile(lag, 99) * 1e3:.1f} ms late at P99 (n={len(lag)}; limit "
                f"{limit * 1e3:.1f} ms): {fix}"
            )
        waits = [record.client_wait for record in records]
        if is_resolved(95, len(waits)) and percentile(waits, 95) > limit:
            return (
                f"requests left the client {percentile(waits, 95) * 1e3:.1f} ms after they were due at P95 "
                f"(n={len(waits)}; limit {limit * 1e3:.1f} ms): {fix}"
            )
        return ""


def _ms(values: Sequence[float], q: float) -> float | None:
    return percentile(values, q) * 1e3 if values else None
