"""Output fingerprints: per prompt, the greedy tokens with each position's logprob and top-5, saved with
the run and compared with ``--benchmark-compare``'s run (and, with ``--llm-graph-mode both``, compiled
against eager in the same session). A prompt whose outputs drifted fails, naming the position, both
tokens and the margin the saved run had there. Select with ``-k fingerprint``.

With both graph modes every eager case runs before any compiled one, and compiled cases carry a
``compiled-`` id, so eager ones keep the names of a plain run's."""

from __future__ import annotations

import time

import pytest

from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.engines.base import EngineCapabilityError
from pytest_ascend_llm.outputs.fingerprint import TOP_K, fingerprint_of
from pytest_ascend_llm.plugin.state import STATE_KEY
from pytest_ascend_llm.suite.prompts import FINGERPRINT_PROMPTS, LONG_FINGERPRINT, prompt_of_length

pytestmark = pytest.mark.npu

PROMPTS = (*FINGERPRINT_PROMPTS, LONG_FINGERPRINT)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per prompt and graph mode, mode-major; the compiled mode's ids say so."""
    if "prompt" not in metafunc.fixturenames:
        return
    both = metafunc.config.stash[STATE_KEY].settings.graph_mode == "both"
    modes = ("eager", "compiled") if both else (None,)
    cases = [(mode, prompt) for mode in modes for prompt in PROMPTS]
    ids = [f"compiled-{prompt}" if mode == "compiled" else prompt for mode, prompt in cases]
    metafunc.parametrize(("graph_mode", "prompt"), cases, ids=ids)


def _prompt(engine, llm_session, name: str, new_tokens: int):
    """A chat turn for the fixed prompts; real text of 1-2k tokens for the long-context one."""
    if name == LONG_FINGERPRINT:
        length = min(2048 if llm_session.device.is_accelerator else 1024, llm_session.source.max_positions - new_tokens)
        return prompt_of_length(engine.encode, length)
    try:
        return engine.format_chat([{"role": "user", "content": FINGERPRINT_PROMPTS[name]}])
    except EngineCapabilityError:
        return FINGERPRINT_PROMPTS[name]


def test_output_fingerprint_matches_the_compared_run(llm_outputs, llm_session, graph_mode, prompt, record_property):
    mode = graph_mode or llm_session.graph_modes[0]
    engine = llm_session.engine_in(mode)
    new_tokens = 64 if llm_session.device.is_accelerator else 24
    params = SamplingParams(max_new_tokens=new_tokens, ignore_eos=True, logprobs=TOP_K)
    text = _prompt(engine, llm_session, prompt, new_tokens)
    start = time.perf_counter()
    try:
        result = engine.generate([text], params)[0]
    except EngineCapabilityError as error:
        pytest.skip(f"no output fingerprint: {error}")
    seconds = time.perf_counter() - start
    if result.logprobs is None:
        pytest.skip(f"the {engine.name} engine returned no logprobs, so outputs cannot be fingerprinted")
    assert len(result.logprobs) == result.output_tokens == new_tokens, "one logprob per output token"
    for cost in ("compile_seconds", "startup_seconds"):  # graph compilation, or a server's launch and capture
        if getattr(engine, cost, None) is not None:
            record_property(f"{cost}_{mode}", getattr(engine, cost))
    drifts = llm_outputs.fingerprint(fingerprint_of(prompt, result), mode, seconds, decode=_decoder(engine))
    record_property("fingerprint", {"mode": mode, "tokens": len(result.logprobs), "seconds": seconds})
    for drift in drifts:
        record_property("drift", drift.to_dict())


def _decoder(engine):
    tokenizer = getattr(engine, "tokenizer", None)
    return (lambda token: tokenizer.decode([token]) if isinstance(token, int) else str(token)) if tokenizer else str
