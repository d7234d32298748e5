"""Start-up and the first request (``-k startup``), per graph mode: the engine's first request against the
warm requests after it, with what the start cost: the weights' load and a compile for an in-process engine,
launch → healthy and healthy → first token for a server the session launched.

These cases run before every other (the plugin orders them first) on an engine that has served nothing;
where one has (another test ran first in this process), the case skips saying so. The warm requests are
the case's timed rounds, so their tails are saved and gated like any case's; the single-shot figures ride
in its saved metrics and are held by --llm-floors (``max_load_s``, ``max_first_ttft_ms`` …). The method
and its limits: ``benchmarking/startup.py``."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.benchmarking.results import generation_tokens
from pytest_ascend_llm.benchmarking.startup import AlreadyServed, first_request
from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.engines.base import EngineCapabilityError
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.plugin.state import STATE_KEY
from pytest_ascend_llm.session import graph_modes_of

pytestmark = pytest.mark.npu

QUESTION = "In one sentence: what does a deployment engineer check after an upgrade?"
NEW_TOKENS = 16
SHARED_WEIGHTS = "weights loaded earlier in this session (one load serves every graph mode): see the first mode's case"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per graph mode of the run, named by it (``test_startup[eager]``, ``[compiled]``, ``[default]``)."""
    if "graph_mode" in metafunc.fixturenames:
        modes = graph_modes_of(metafunc.config.stash[STATE_KEY].settings)
        metafunc.parametrize("graph_mode", modes, ids=modes)


def _engine(llm_session, graph_mode: str):
    try:
        return llm_session.engine_in(graph_mode)
    except LLMSetupError as error:
        pytest.fail(str(error), pytrace=False)


def _prompt(engine):
    try:
        return engine.format_chat([{"role": "user", "content": QUESTION}])
    except EngineCapabilityError:
        return QUESTION


def test_startup(llm_bench, llm_session, graph_mode):
    loads_before = llm_session.load_count
    engine = _engine(llm_session, graph_mode)
    load = llm_session.loaded if llm_session.load_count > loads_before else None
    prompt, params = _prompt(engine), SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True)
    try:
        startup = first_request(engine, prompt, params, graph_mode, load)
    except AlreadyServed as error:
        pytest.skip(f"start-up not measured: {error} in this process before this case (run -k startup alone)")
    if load is None and not llm_session.model_in_engine:
        startup.notes.append(SHARED_WEIGHTS)
    elif llm_session.model_in_engine and not llm_session.serves_over_http:
        startup.notes.append(f"load not measured apart: the {engine.name} engine loads the model itself")
    case = llm_bench(lambda: engine.generate([prompt], params), tokens=generation_tokens, extra=startup.metrics())
    llm_bench.annotate(**startup.against_warm(case.requests).metrics())
    llm_bench.hold_floors_again()  # the first/warm ratios rest on the rounds just timed
    assert startup.first_tokens == NEW_TOKENS, "EOS ignored: the first request does the warm requests' work"
    assert all(r.output_tokens == NEW_TOKENS for r in case.requests), "every warm request made the same tokens"
    assert startup.first_e2e_s >= startup.first_ttft_s > 0, "first request: E2E at or after TTFT, both after t0"
    if load is not None:
        assert startup.load_s > 0 and startup.load_bytes > 0, "a start that loaded weights took time and bytes"
