"""The soak (``-k soak --llm-soak-seconds S``): a steady serving load for S seconds, in windows, judged on
memory growth, latency drift and errors.

It fails when the server's memory grows faster than ``--llm-soak-max-growth`` MiB/h (the slope's whole
95 % interval above it), when the last window's P95 exceeds the first's by more than
``--llm-soak-max-drift`` (the ratio's whole interval above it), or on any failed request; a straddling
interval is inconclusive, said in the soak block and as a warning. Its requests' latencies are the
case's rounds (saved and gated like the serving cases); windows, slopes and verdicts are saved with it.
"""

from __future__ import annotations

import warnings

import pytest

from pytest_ascend_llm.engines import EngineCapabilityError
from pytest_ascend_llm.serving.slo import parse_slo
from pytest_ascend_llm.serving.summary import load_case
from pytest_ascend_llm.soak import verdicts
from pytest_ascend_llm.soak.driver import run_soak
from pytest_ascend_llm.soak.judge import judge
from pytest_ascend_llm.soak.lines import window_line
from pytest_ascend_llm.soak.locate import locate_server
from pytest_ascend_llm.soak.plan import SoakPlan
from pytest_ascend_llm.soak.probes import server_probes
from pytest_ascend_llm.suite.prompts import corpus_text, serving_lengths
from pytest_ascend_llm.workloads.random_lengths import random_length_requests

pytestmark = pytest.mark.npu

PROMPTS = 64  # distinct requests, cycled: the same work in every window


class SoakInconclusive(UserWarning):
    """A soak whose interval straddles its limit: not a pass, not a failure; soak longer to decide."""


@pytest.fixture
def soak_plan(llm_session) -> SoakPlan:
    """The plan, or a one-line skip before any server is launched or reached."""
    if llm_session.settings.soak_seconds is None:
        pytest.skip("the soak runs when given its length: --llm-soak-seconds S (e.g. 3600)")
    if not llm_session.serves_over_http:
        pytest.skip(
            "the soak drives a server: --llm-engine openai --llm-endpoint URL, or vllm-server / sglang-server "
            "(an in-process engine's memory is -k memory's)"
        )
    return SoakPlan.from_settings(llm_session.settings)


def _workload(llm_session, engine) -> list:
    try:
        engine.encode("probe")
        encode = engine.encode
    except EngineCapabilityError:
        encode = None
    input_len, output_len = serving_lengths(llm_session)
    return random_length_requests(
        corpus_text(), PROMPTS, input_len, output_len, encode, range_ratio=llm_session.settings.range_ratio
    )


def test_soak(soak_plan, llm_session, llm_bench, request):
    engine = request.getfixturevalue("llm_engine")  # after the plan: no server is launched for a skip
    server = getattr(engine, "server", None)
    where = locate_server(engine.endpoint.url, server.process.pid if server and server.process else None)
    probes = server_probes(where.pid, llm_session.device.served_on)
    say = llm_bench.say  # each window's line as it closes
    bound, asked = llm_bench.plan.bound, soak_plan
    soak_plan = soak_plan.within(bound.left()) if bound is not None else soak_plan
    if soak_plan is not asked:
        say(f"soak: cut from {asked.seconds:g} s to {soak_plan.seconds:.3g} s by {bound.option}")
    say(f"soak: {soak_plan.describe()}; memory: {where.line}")
    names = [probe.name for probe in probes.probes]
    run = run_soak(engine.endpoint, _workload(llm_session, engine), soak_plan, probes,
                   lambda window, plan: say(window_line(window, plan, names)))  # fmt: skip
    settings = llm_session.settings
    soak = judge(run, probes, where, settings.soak_max_growth, settings.soak_max_drift)
    case = load_case(llm_bench.name, run.load_run(), parse_slo(settings.slo))
    case.extra["soak"] = soak
    if soak_plan is not asked:
        case.extra["stopped_by"] = {
            "option": bound.option,
            "line": f"soak cut from {asked.seconds:g} s to {soak_plan.seconds:.3g} s by {bound.option}",
        }
    llm_bench.record_load(case)
    checks = [verdicts.Check(**check) for check in soak["checks"]]
    if soak["outcome"] == verdicts.FAILED:
        pytest.fail(verdicts.failure_message(checks), pytrace=False)
    if soak["outcome"] == verdicts.INCONCLUSIVE:
        undecided = "; ".join(c.line for c in checks if c.outcome == verdicts.INCONCLUSIVE)
        warnings.warn(SoakInconclusive(f"soak inconclusive: {undecided}"), stacklevel=1)
