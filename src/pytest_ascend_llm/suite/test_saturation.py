"""Saturation search (``-k saturation``): the highest concurrency, and separately the highest Poisson
request rate, at which the SLO (``--llm-slo``) still holds on the server under test.

Each point is a serving load run on the random workload, after a prefix-cache flush; it holds when every
request completed and each limited P95 (TTFT, TPOT, E2E) is resolved and within its limit. The search
doubles from 1 stream (or ``--llm-saturation-rate-start``) up to ``--llm-saturation-max`` streams (or
``--llm-saturation-max-rate``), then bisects to ``--llm-saturation-resolution``. The knee point is
recorded as the case (saved, tabled and gated like the serving cases); every point is saved under
``saturation`` with the capacity planner's ``--max-running-requests`` for the same device beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pytest

from pytest_ascend_llm.engines import EngineCapabilityError
from pytest_ascend_llm.planning.for_server import server_plan
from pytest_ascend_llm.serving.load import LoadShape
from pytest_ascend_llm.serving.saturation import Axis, Point, search
from pytest_ascend_llm.serving.saturation_lines import point_line
from pytest_ascend_llm.serving.saturation_point import in_flight, measure_point, point_requests
from pytest_ascend_llm.serving.slo import LIMITS, SLO, parse_slo
from pytest_ascend_llm.serving.summary import load_case
from pytest_ascend_llm.suite.prompts import corpus_text, serving_lengths
from pytest_ascend_llm.workloads.random_lengths import random_length_requests

pytestmark = pytest.mark.npu

AXES = ("concurrency", "rate")


def axis_for(name: str, settings) -> Axis:
    """The search's range and resolution from the options."""
    if name == "concurrency":
        return Axis(name, 1, settings.saturation_max, settings.saturation_resolution, "--llm-saturation-max")
    start = min(settings.saturation_rate_start, settings.saturation_max_rate)
    return Axis(name, start, settings.saturation_max_rate, settings.saturation_resolution, "--llm-saturation-max-rate")


@pytest.fixture
def served(llm_session):
    """A skip before any server is launched or reached when the engine runs in this process."""
    if not llm_session.serves_over_http:
        pytest.skip(
            "serving cases need a server: --llm-engine openai --llm-endpoint URL, or --llm-engine vllm-server / "
            "sglang-server to launch one"
        )
    return llm_session


@dataclass
class PointRunner:
    """``measure(load)`` for the search: flush the prefix cache, run the point's requests, say the line."""

    engine: object
    axis: Axis
    slo: SLO
    bench: object
    lengths: tuple[int, int]
    range_ratio: float = 0.0
    workers: int | None = None  # --llm-client-workers
    e2e_mean: float | None = None  # the last point's, for a rate's in-flight estimate (Little's law)

    def encode(self):
        try:
            self.engine.encode("probe")
            return self.engine.encode
        except EngineCapabilityError:
            return None

    def __call__(self, load: float) -> Point:
        count = point_requests(in_flight(self.axis.name, load, self.e2e_mean))
        requests = random_length_requests(
            corpus_text(), count, *self.lengths, self.encode(), range_ratio=self.range_ratio
        )
        shape = LoadShape(concurrency=int(load)) if self.axis.whole else LoadShape(rate=load, seed=0)
        self.engine.flush_cache()  # no point is flattered by the one before
        began = time.perf_counter()
        progress = self.bench.progress(f"{self.bench.name} ({shape.describe()})")
        point = measure_point(self.engine.endpoint, requests, shape, self.slo, progress, self.workers)
        point = replace(point, load=load, seconds=time.perf_counter() - began)
        self.e2e_mean = point.figures.get("mean")
        self.bench.say(point_line(self.axis, point.to_dict()))
        return point


@pytest.mark.parametrize("axis", AXES)
def test_saturation(served, llm_bench, request, axis):
    engine = request.getfixturevalue("llm_engine")  # after the skip: no server is launched for it
    settings = served.settings
    slo = parse_slo(settings.slo)
    plan = axis_for(axis, settings)
    bound = llm_bench.plan.bound
    stop = (lambda: f"stopped by {bound.option}" if bound.passed() else None) if bound is not None else None
    runner = PointRunner(
        engine, plan, slo, llm_bench, serving_lengths(served), settings.range_ratio, settings.client_workers
    )
    found = search(plan, runner, stop)
    shown = found.knee or found.failed
    if shown is None:
        pytest.skip(f"the saturation search {found.stopped_by} before its first point")
    case = load_case(llm_bench.name, shown.run, slo)
    limits = {name: getattr(slo, name) for name in LIMITS if getattr(slo, name)}
    case.extra["saturation"] = found.to_dict() | {
        "slo": slo.describe(),
        "slo_limits": limits,
        "planner": server_plan(served),
    }
    case.extra["saturation_knee"] = found.knee.load if found.knee else None
    llm_bench.record_load(case)
    if found.knee is None:
        pytest.fail(
            f"SLO {slo.describe()} fails already at {plan.unit(shown.load)}, the lightest load searched: {shown.why}",
            pytrace=False,
        )
