"""Performance cases (pytest-benchmark): run them before and after a CANN / torch_npu / engine upgrade
and compare the tails. Node and parameter ids are stable so saved runs line up in --benchmark-compare."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.benchmarking.results import generation_tokens
from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.metrics.timing import tpot_by_position
from pytest_ascend_llm.suite.prompts import prompt_of_length, skip_unless_context_fits
from pytest_ascend_llm.suite.roofline_check import check_decode_speed, check_generation_speed

pytestmark = pytest.mark.npu

CATEGORIES = {
    "short_qa": ("中国的首都是哪里？", 32),
    "code_generation": ("Write a Python function that checks whether a number is prime.", 64),
    "translation_zh_en": ("把下面的句子翻译成英文：今天天气很好，我们去公园散步吧。", 48),
    "long_continuation": ("Continue the story: the engineer upgraded the toolkit, ran the tests, and", 128),
}
PREFILL_CONTEXTS = (128, 512, 1024, 2048, 4096)
DECODE_BATCHES = (1, 8, 32)
DECODE_CONTEXTS = (128, 1024)
SCALING_BATCHES = (1, 2, 4, 8, 16)
SCALING_NEW_TOKENS = 32
LONG_BUCKET = 64


@pytest.mark.parametrize("category", CATEGORIES)
def test_perf_generation_end_to_end(llm_bench, llm_engine, llm_session, llm_loaded, llm_measured_bandwidth, category):
    question, new_tokens = CATEGORIES[category]
    prompt = llm_engine.format_chat([{"role": "user", "content": question}])
    params = SamplingParams(max_new_tokens=new_tokens, ignore_eos=True)
    case = llm_bench(lambda: llm_engine.generate([prompt], params), tokens=generation_tokens)
    assert all(r.output_tokens == new_tokens for r in case.requests), "EOS ignored: every round does the same work"
    check_generation_speed(llm_bench, case, llm_session, llm_loaded, llm_measured_bandwidth, batch=1)


@pytest.mark.parametrize("context", PREFILL_CONTEXTS, ids=[f"ctx{c}" for c in PREFILL_CONTEXTS])
def test_perf_prefill(llm_bench, llm_engine, llm_session, context):
    skip_unless_context_fits(llm_session, context, f"prefill[ctx{context}]")
    prompt = prompt_of_length(llm_engine.encode, context)
    case = llm_bench(lambda: llm_engine.prefill([prompt]), tokens=lambda state: state.context_length)
    assert case.tokens_per_round[0] == context


@pytest.mark.parametrize("context", DECODE_CONTEXTS, ids=[f"ctx{c}" for c in DECODE_CONTEXTS])
@pytest.mark.parametrize("batch", DECODE_BATCHES, ids=[f"bs{b}" for b in DECODE_BATCHES])
def test_perf_decode_step(llm_bench, llm_engine, llm_session, llm_loaded, llm_measured_bandwidth, batch, context):
    skip_unless_context_fits(llm_session, context + 1, f"decode_step[bs{batch}-ctx{context}]")
    state = llm_engine.prefill([prompt_of_length(llm_engine.encode, context)] * batch)
    case = llm_bench(
        lambda: llm_engine.decode_step(state),
        tokens=lambda _: batch,
        setup=lambda: state.truncate(context),  # untimed: the KV cache stays at `context` tokens
        extra={"batch_size": batch, "context_tokens": context},
    )
    assert state.context_length == context + 1, "the KV cache grew across rounds"
    step = case.metrics()["p50"]
    check_decode_speed(llm_bench, case, llm_session, llm_loaded, llm_measured_bandwidth, [context + 1] * batch, step)


@pytest.mark.parametrize("batch", SCALING_BATCHES, ids=[f"bs{b}" for b in SCALING_BATCHES])
def test_perf_batch_scaling(llm_bench, llm_engine, llm_session, llm_loaded, llm_measured_bandwidth, llm_run, batch):
    prompts = [llm_engine.format_chat([{"role": "user", "content": q}]) for q, _ in CATEGORIES.values()]
    batch_prompts = (prompts * batch)[:batch]
    params = SamplingParams(max_new_tokens=SCALING_NEW_TOKENS, ignore_eos=True)
    case = llm_bench(lambda: llm_engine.generate(batch_prompts, params), tokens=generation_tokens)
    case.extra["batch_size"] = batch
    single = llm_run.results.get(case.name.replace(f"[bs{batch}]", "[bs1]"))
    if single is not None:
        case.extra["speedup_vs_batch1"] = case.tokens_per_s / single.tokens_per_s
    check_generation_speed(llm_bench, case, llm_session, llm_loaded, llm_measured_bandwidth, batch=batch)


def test_perf_long_generation_tpot_by_position(llm_bench, llm_engine, llm_session, llm_loaded, llm_measured_bandwidth):
    new_tokens = 512 if llm_session.device.is_accelerator else 256
    skip_unless_context_fits(llm_session, new_tokens + 64, "long_generation_tpot_by_position")
    prompt = llm_engine.format_chat([{"role": "user", "content": CATEGORIES["long_continuation"][0]}])
    params = SamplingParams(max_new_tokens=new_tokens, ignore_eos=True)
    case = llm_bench(lambda: llm_engine.generate([prompt], params), tokens=generation_tokens)
    per_round = [tpot_by_position(r.chunks, LONG_BUCKET) for r in case.requests]
    for index, (first, last, _) in enumerate(per_round[0]):
        values = sorted(rows[index][2] for rows in per_round)
        case.extra[f"tpot_tokens_{first}_{last}"] = values[len(values) // 2]
    buckets = [v for k, v in case.extra.items() if k.startswith("tpot_tokens_")]
    case.extra["tpot_last_over_first"] = buckets[-1] / buckets[0]
    check_generation_speed(llm_bench, case, llm_session, llm_loaded, llm_measured_bandwidth, batch=1)
