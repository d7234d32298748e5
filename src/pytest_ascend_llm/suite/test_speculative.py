"""Speculative decoding (a draft model, and prompt-lookup n-grams): same greedy output as plain
decoding, with accept length, acceptance rate and speed-up read from the real run. ``-k speculative``."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.benchmarking.results import generation_tokens
from pytest_ascend_llm.engines import SamplingParams, SpeculativeConfig
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.torch_backend import torch

pytestmark = pytest.mark.npu

METHODS = ("draft", "ngram")
PROMPTS = (
    "Continue the story: the engineer upgraded the toolkit, ran the tests, and",
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\n# Now",
)
NEW_TOKENS = 48


@pytest.fixture(scope="module", autouse=True)
def _needs_speculation(llm_engine):
    if "speculative" not in llm_engine.capabilities:
        pytest.skip(f"the {llm_engine.name} engine exposes no speculative decoding")


def _config(method: str, llm_session) -> SpeculativeConfig:
    if method == "draft":
        try:
            _ = llm_session.draft_model
        except LLMSetupError as error:
            pytest.skip(str(error))
    return SpeculativeConfig(method=method, num_tokens=4)


def first_divergence(a: list[int], b: list[int]) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None if len(a) == len(b) else min(len(a), len(b)))


@pytest.mark.parametrize("method", METHODS)
def test_speculative_output_equals_plain_greedy(llm_engine, llm_session, llm_loaded, method, record_property):
    config = _config(method, llm_session)
    params = SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True)
    exact = llm_loaded.dtype == torch.float32
    for prompt in PROMPTS:
        plain = llm_engine.generate([prompt], params)[0]
        spec = llm_engine.generate([prompt], params, speculative=config)[0]
        stats = spec.speculative
        record_property(f"accept_length[{prompt[:12]}]", stats.accept_length(spec.output_tokens))
        record_property(f"acceptance_rate[{prompt[:12]}]", stats.acceptance_rate)
        assert stats.verify_steps > 0 and spec.output_tokens == NEW_TOKENS
        position = first_divergence(plain.output_ids, spec.output_ids)
        if exact:
            assert position is None, f"{method} speculation changed greedy output at token {position} in float32"
        else:
            allowed = int(llm_session.settings.spec_tolerance * NEW_TOKENS)
            record_property("first_divergence", position)
            assert position is None or position >= allowed, (
                f"{method} speculation diverged from plain greedy at token {position} in {llm_loaded.dtype} "
                f"(tolerance: first {allowed} tokens must match; --llm-spec-tolerance)"
            )


@pytest.mark.parametrize("method", ("plain", *METHODS))
def test_perf_speculative_decoding(llm_bench, llm_engine, llm_session, llm_run, method):
    config = None if method == "plain" else _config(method, llm_session)
    params = SamplingParams(max_new_tokens=64, ignore_eos=True)
    case = llm_bench(lambda: llm_engine.generate([PROMPTS[0]], params, speculative=config), tokens=generation_tokens)
    if config is not None:
        stats = [r.speculative for r in case.requests]
        tokens = sum(r.output_tokens for r in case.requests)
        case.extra["accept_length"] = tokens / sum(s.verify_steps for s in stats)
        case.extra["acceptance_rate"] = sum(s.accepted for s in stats) / max(1, sum(s.proposed for s in stats))
        plain = llm_run.results.get(case.name.replace(f"[{method}]", "[plain]"))
        if plain is not None:
            case.extra["speedup"] = case.tokens_per_s / plain.tokens_per_s
        llm_bench.record(case)
