"""Prefix caching (RadixAttention's job): reuse must not change outputs, must reuse exactly the shared
prefix, and must cut TTFT. Select with ``-k prefix``."""

from __future__ import annotations

import itertools

import pytest

from pytest_ascend_llm.benchmarking.results import generation_tokens
from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.suite.prompts import corpus_text, prompt_of_length, skip_unless_context_fits
from pytest_ascend_llm.workloads.shared_prefix import generated_shared_prefix

pytestmark = pytest.mark.npu

PREFIX_LENGTHS = (256, 1024, 2048, 4096)
SUFFIX_TOKENS = 32
WORKLOAD = {"groups": 4, "prompts_per_group": 4, "system_tokens": 512, "question_tokens": 32}
CPU_WORKLOAD = {"groups": 2, "prompts_per_group": 4, "system_tokens": 256, "question_tokens": 32}  # quick start: short


@pytest.fixture(scope="module", autouse=True)
def _needs_prefix_cache(llm_engine):
    if "prefix_cache" not in llm_engine.capabilities:
        pytest.skip(f"the {llm_engine.name} engine exposes no prefix cache")


def _prefix(llm_engine, llm_session, length: int) -> list[int]:
    skip_unless_context_fits(llm_session, length + SUFFIX_TOKENS + 8, f"prefix_cache_ttft[prefix{length}]")
    return prompt_of_length(llm_engine.encode, length)


def test_prefix_cache_reuse_gives_identical_tokens_and_counts_the_prefix(llm_engine, llm_session, record_property):
    groups = generated_shared_prefix(llm_engine.encode, corpus_text(), groups=2, prompts_per_group=3, seed=1)
    params = SamplingParams(max_new_tokens=24)
    for group in groups:
        handle = llm_engine.cache_prefix(group.prefix)
        reused = llm_engine.generate(group.prompts(), params, prefix_cache=handle)
        fresh = [llm_engine.generate([prompt], params)[0] for prompt in group.prompts()]
        for with_reuse, without in zip(reused, fresh):
            assert with_reuse.output_ids == without.output_ids, (
                "reusing the prefix KV cache changed the output: the cache copy or positions are wrong"
            )
            assert with_reuse.cached_tokens == len(group.prefix), (
                f"reused {with_reuse.cached_tokens} prefix tokens, the shared prefix has {len(group.prefix)}"
            )
            assert without.cached_tokens == 0
    record_property("cached_tokens_per_request", len(groups[0].prefix))


@pytest.mark.parametrize("length", PREFIX_LENGTHS, ids=[f"prefix{n}" for n in PREFIX_LENGTHS])
@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_perf_prefix_cache_ttft(llm_bench, llm_engine, llm_session, llm_run, cache, length):
    """One round = one new request (a distinct suffix) producing its first token."""
    prefix = _prefix(llm_engine, llm_session, length)
    suffixes = itertools.cycle(range(1000))
    handle = llm_engine.cache_prefix(prefix) if cache == "warm" else None
    params = SamplingParams(max_new_tokens=1, ignore_eos=True)

    def request():
        prompt = prefix + prompt_of_length(llm_engine.encode, SUFFIX_TOKENS + next(suffixes))[-SUFFIX_TOKENS:]
        return llm_engine.generate([prompt], params, prefix_cache=handle)

    case = llm_bench(request, tokens=generation_tokens, extra={"prefix_tokens": length})
    assert {r.cached_tokens for r in case.requests} == ({length} if handle else {0})
    cold = llm_run.results.get(case.name.replace("[warm-", "[cold-"))
    if handle is not None and cold is not None:
        case.extra["speedup"] = cold.metrics()["ttft_p50"] / case.metrics()["ttft_p50"]
        llm_bench.record(case)


@pytest.mark.parametrize("reuse", ["no_reuse", "reuse"])
def test_perf_prefix_cache_shared_prefix_workload(llm_bench, llm_engine, llm_session, llm_run, reuse):
    """All groups' requests in one round, each served on its own (as a server would); with reuse each
    group's system prompt is prefilled once and every request computes only its question."""
    shape = WORKLOAD if llm_session.device.is_accelerator else CPU_WORKLOAD
    size = dict(shape, system_tokens=min(shape["system_tokens"], llm_session.source.max_positions // 2))
    groups = generated_shared_prefix(llm_engine.encode, corpus_text(), seed=7, **size)
    params = SamplingParams(max_new_tokens=16, ignore_eos=True)

    def workload():
        results = []
        for group in groups:
            handle = llm_engine.cache_prefix(group.prefix) if reuse == "reuse" else None
            for prompt in group.prompts():
                results += llm_engine.generate([prompt], params, prefix_cache=handle)
        return results

    case = llm_bench(
        workload, tokens=generation_tokens, extra={"requests_per_round": sum(len(g.prompts()) for g in groups)}
    )
    expected = size["system_tokens"] if reuse == "reuse" else 0
    assert {r.cached_tokens for r in case.requests} == {expected}
    baseline = llm_run.results.get(case.name.replace("[reuse]", "[no_reuse]"))
    if reuse == "reuse" and baseline is not None:
        case.extra["speedup"] = baseline.metrics()["p50"] / case.metrics()["p50"]
        llm_bench.record(case)
