"""The accuracy case and per-token logprobs through a real vLLM CPU server serving the built-in model.

The server's harness is ``vllm_harness.py``; without vLLM these tests skip, saying so.
"""

from __future__ import annotations

import json
import re

import pytest
from vllm_harness import NEEDS_VLLM, launched_vllm

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.outputs.fingerprint import TOP_K

pytestmark = NEEDS_VLLM
QUESTIONS = 20
LINE = re.compile(
    r"ascend-llm accuracy [\d.]+ \((\d+)/(\d+), 95% interval [\d.]+–[\d.]+\); (\d+) unparsable, (\d+) failed"
)


@pytest.fixture(scope="module")
def vllm(tmp_path_factory):
    yield from launched_vllm(tmp_path_factory)


def test_the_accuracy_case_accounts_for_every_question_through_vllm(vllm, pytester):
    questions = pytester.path / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"prompt": f"What is {a} * {a + 3} + 7?", "answer": str(a * (a + 3) + 7)}) + "\n"
            for a in range(2, 2 + QUESTIONS)
        )
    )
    result = pytester.runpytest(
        "--pyargs", "pytest_ascend_llm.suite.test_accuracy", "-p", "no:cacheprovider", "-p", "no:randomly",
        "--llm-engine", "openai", "--llm-endpoint", vllm.engine.endpoint.url, "--llm-eval", str(questions),
        "--llm-eval-concurrency", "4",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    found = [m for line in result.outlines if (m := LINE.fullmatch(line.strip()))]
    assert len(found) == 1, result.stdout.str()[-3000:]
    k, n, unparsable, failed = (int(value) for value in found[0].groups())
    assert n == QUESTIONS and failed == 0, found[0][0]
    assert 0 <= k <= n and 0 <= unparsable <= n


def test_completions_logprobs_come_for_every_output_token(vllm, engine):
    """One logprob per output token, its alternatives sorted; tokens come back as ids (vLLM's
    return_tokens_as_token_ids), the same greedy ids the transformers engine picks (``engine``: conftest)."""
    params = SamplingParams(max_new_tokens=12, ignore_eos=True, logprobs=TOP_K)
    prompts = [engine.encode("The quick brown fox"), "def is_prime(n):"]
    results = vllm.engine.generate(prompts, params)
    for prompt, result in zip(prompts, results):
        assert result.output_tokens == 12, prompt
        assert result.logprobs is not None and len(result.logprobs) == result.output_tokens, prompt
        for i, position in enumerate(result.logprobs):
            values = [logprob for _, logprob in position.top]
            assert position.logprob <= 0 and values == sorted(values, reverse=True), (prompt, i)
            assert 1 <= len(position.top) <= TOP_K and isinstance(position.token, int), (prompt, i)
    [local] = engine.generate([prompts[0]], SamplingParams(max_new_tokens=12, ignore_eos=True))
    assert [p.token for p in results[0].logprobs] == local.output_ids
