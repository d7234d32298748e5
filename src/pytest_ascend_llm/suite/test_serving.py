"""Serving load cases (``-k serving``): a concurrency sweep and Poisson request-rate runs, on random-length
and shared-prefix workloads, against whichever server engine is selected (``--llm-engine openai
--llm-endpoint URL``, ``vllm-server`` or ``sglang-server``).

Each case reports TTFT, TPOT, ITL and E2E with P50/P95/P99 and their sample counts, output and total
token throughput, request throughput, achieved concurrency and goodput against the SLO (``--llm-slo``),
into the same saved JSON, table and gate as the offline cases. Every request is accounted for: a case
whose requests failed or timed out records what it measured, then fails naming how many and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_ascend_llm.engines import EngineCapabilityError, SamplingParams
from pytest_ascend_llm.plugin.state import STATE_KEY
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load
from pytest_ascend_llm.serving.slo import parse_slo
from pytest_ascend_llm.serving.summary import load_case
from pytest_ascend_llm.suite.prompts import corpus_text, serving_lengths
from pytest_ascend_llm.workloads.random_lengths import random_length_requests
from pytest_ascend_llm.workloads.shared_prefix import generated_shared_prefix

pytestmark = pytest.mark.npu

WORKLOADS = ("random", "shared_prefix")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The sweep's points come from --llm-concurrency / --llm-request-rate, so ids name them."""
    settings = metafunc.config.stash[STATE_KEY].settings
    if "concurrency" in metafunc.fixturenames:
        metafunc.parametrize("concurrency", settings.concurrency, ids=[f"c{c}" for c in settings.concurrency])
    if "rate" in metafunc.fixturenames:
        metafunc.parametrize("rate", settings.request_rate, ids=[f"rate{r:g}" for r in settings.request_rate])


@dataclass
class Serving:
    """What every serving case shares: the engine, its tokenizer (if any), the SLO and workload sizes."""

    engine: object
    encode: object
    slo: object
    input_len: int
    output_len: int
    requests: int | None
    range_ratio: float = 0.0
    workers: int | None = None  # --llm-client-workers (None: one per usable core)

    def count(self, concurrency: int) -> int:
        return self.requests or max(16, 4 * concurrency)

    def workload(self, name: str, count: int) -> list[LoadRequest]:
        if name == "random":
            return random_length_requests(
                corpus_text(), count, self.input_len, self.output_len, self.encode, range_ratio=self.range_ratio
            )
        if self.encode is None:
            pytest.skip("the shared-prefix workload needs token ids: pass --llm-model DIR for a tokenizer")
        groups = max(1, count // 4)
        params = SamplingParams(max_new_tokens=self.output_len, ignore_eos=True)
        made = generated_shared_prefix(
            self.encode,
            corpus_text(),
            groups=groups,
            prompts_per_group=-(-count // groups),
            system_tokens=self.input_len * 3 // 4,
            question_tokens=max(8, self.input_len // 4),
        )
        return [LoadRequest(prompt, params) for group in made for prompt in group.prompts()][:count]


@pytest.fixture(scope="module")
def serving(llm_session, llm_engine) -> Serving:
    if not llm_session.serves_over_http:
        pytest.skip(
            "serving cases need a server: --llm-engine openai --llm-endpoint URL, or --llm-engine vllm-server / "
            "sglang-server to launch one"
        )
    try:
        llm_engine.encode("probe")
        encode = llm_engine.encode
    except EngineCapabilityError:
        encode = None
    settings = llm_session.settings
    input_len, output_len = serving_lengths(llm_session)
    return Serving(
        llm_engine,
        encode,
        parse_slo(settings.slo),
        input_len,
        output_len,
        settings.serving_requests,
        settings.range_ratio,
        settings.client_workers,
    )


def _run(serving: Serving, llm_bench, requests: list[LoadRequest], shape: LoadShape):
    """Flush the prefix cache (no case is flattered by the one before), run, record, then judge."""
    serving.engine.flush_cache()
    progress = llm_bench.progress(f"{llm_bench.name} ({shape.describe()})")
    run = run_load(serving.engine.endpoint, requests, shape, progress, serving.workers)
    case = llm_bench.record_load(load_case(llm_bench.name, run, serving.slo))
    accept = serving.engine.speculative_accept_length()
    if accept is not None:
        llm_bench.annotate(accept_length=accept)  # SGLang's server-side figure under speculative decoding
    assert not run.failure_summary(), run.failure_summary()
    short = [r.index for r in run.records if r.counted_tokens != requests[r.index].params.max_new_tokens]
    assert not short, f"requests {short[:5]} stopped before max_tokens although ignore_eos was set"
    assert all(r.ttft is not None and r.ttft <= r.e2e for r in run.records)
    return case


@pytest.mark.parametrize("workload", WORKLOADS)
def test_serving_concurrency(serving, llm_bench, workload, concurrency):
    requests = serving.workload(workload, serving.count(concurrency))
    case = _run(serving, llm_bench, requests, LoadShape(concurrency=concurrency))
    if workload == "shared_prefix":
        llm_bench.annotate(cached_fraction=case.extra["cached_prompt_tokens"] / max(1, case.extra["prompt_tokens"]))


@pytest.mark.parametrize("workload", WORKLOADS)
def test_serving_request_rate(serving, llm_bench, workload, rate):
    requests = serving.workload(workload, serving.count(max(1, int(rate))))
    _run(serving, llm_bench, requests, LoadShape(rate=rate, seed=0))
