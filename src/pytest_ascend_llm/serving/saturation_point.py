"""One point of a saturation search: a load run against a server, its figures, and whether the SLO held.

A point holds when every request completed and the P95 of each metric the SLO limits (TTFT, TPOT, E2E)
is within its limit. A P95 its sample count cannot resolve (fewer than 21 values, ``metrics/stats.py``)
is in effect the maximum of a handful of requests: such a point does not hold, and says so. Requests are
scaled with the load so that each point sees its in-flight population turn over a few times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_ascend_llm.metrics.stats import is_resolved, min_samples
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, Progress, run_load
from pytest_ascend_llm.serving.saturation import Point
from pytest_ascend_llm.serving.slo import SLO
from pytest_ascend_llm.serving.summary import load_case
from pytest_ascend_llm.units import format_ms

P95 = 95
TURNOVERS = 4  # requests per point: this many times those in flight
# (SLO attribute, label, saved P95 key, its sample count key); E2E is a serving case's rounds
LIMITED = (("ttft", "TTFT", "ttft_p95", "ttft_n"), ("tpot", "TPOT", "tpot_p95", "tpot_n"), ("e2e", "E2E", "p95", "n"))
KEPT = (
    "requests", "completed", "failed", "timed_out", "n", "ttft_n", "tpot_n", "ttft_p95", "tpot_p95", "p95", "mean",
    "goodput_requests_per_s", "output_tokens_per_s", "requests_per_s", "achieved_concurrency", "duration_s",
    "failures", "unresolved",
)  # fmt: skip


def point_requests(in_flight: float) -> int:
    """Requests for one point: ``TURNOVERS`` × the requests in flight, at least a resolved P95's 21."""
    return max(min_samples(P95), math.ceil(TURNOVERS * in_flight))


def in_flight(axis: str, load: float, e2e_mean: float | None) -> float:
    """Streams, or by Little's law a rate × the mean E2E last measured (0 before any point ran)."""
    if axis == "concurrency":
        return load
    return load * e2e_mean if e2e_mean and e2e_mean == e2e_mean else 0.0


def judge(figures: dict, slo: SLO) -> tuple[bool, str]:
    """Held or not, and why in one line: every limit with its P95, or what broke it."""
    requests, completed = int(figures.get("requests", 0)), int(figures.get("completed", 0))
    if completed < requests:
        why = figures.get("failures") or f"{requests - completed} of {requests} requests did not complete"
        return False, f"not every request completed: {why}"
    broken, within = [], []
    for attribute, label, key, count in LIMITED:
        limit = getattr(slo, attribute)
        if limit is None:
            continue
        n = int(figures.get(count) or 0)
        if not is_resolved(P95, n):
            broken.append(f"{label} P95 unresolved ({n} samples, a P95 needs {min_samples(P95)})")
            continue
        value = figures.get(key)
        text = f"{label} P95 {format_ms(value)} ms"
        if not isinstance(value, int | float) or not value <= limit:
            broken.append(f"{text} > {format_ms(limit)} ms")
        else:
            within.append(f"{text} ≤ {format_ms(limit)} ms")
    return (False, "; ".join(broken)) if broken else (True, "; ".join(within))


def point_of(load: float, run, slo: SLO) -> Point:
    """A finished load run as a search point: the saved figures a case would have, judged."""
    metrics = load_case("saturation point", run, slo).metrics()
    figures = {key: metrics[key] for key in KEPT if key in metrics}
    held, why = judge(figures, slo)
    return Point(load, held, why, figures, run=run)


def measure_point(
    endpoint,
    requests: Sequence[LoadRequest],
    shape: LoadShape,
    slo: SLO,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Point:
    """Run ``requests`` as ``shape`` says and judge the point (its load: the shape's rate, else streams)."""
    run = run_load(endpoint, requests, shape, progress, workers)
    return point_of(shape.rate if shape.rate is not None else float(shape.concurrency or 0), run, slo)
