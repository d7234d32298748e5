"""Prefix reuse, speculative decoding and the memory monitor on the built-in model, through the library."""

import pytest
import torch

from pytest_ascend_llm.devices.monitor import MemoryMonitor
from pytest_ascend_llm.engines import SamplingParams, SpeculativeConfig
from pytest_ascend_llm.engines.speculative import NgramProposer
from pytest_ascend_llm.suite.prompts import corpus_text, prompt_of_length
from pytest_ascend_llm.workloads.shared_prefix import generated_shared_prefix

GREEDY = SamplingParams(max_new_tokens=40, ignore_eos=True)
PROMPT = "Continue the story: the engineer upgraded the toolkit, ran the tests, and"


def test_ngram_proposer_proposes_what_followed_the_latest_match():
    proposer = NgramProposer(max_ngram=3)
    tokens = [1, 2, 3, 4, 5, 9, 1, 2, 3]
    assert proposer.propose(tokens, 2) == [4, 5]
    assert proposer.propose([7, 8, 9], 3) == []
    assert proposer.propose(tokens, 0) == []


@pytest.mark.parametrize("method", ["draft", "ngram"])
def test_speculative_output_and_counters_are_consistent(engine, method):
    plain = engine.generate([PROMPT], GREEDY)[0]
    spec = engine.generate([PROMPT], GREEDY, speculative=SpeculativeConfig(method, num_tokens=4))[0]
    stats = spec.speculative
    assert spec.output_ids == plain.output_ids
    assert sum(chunk.count for chunk in spec.chunks) == spec.output_tokens == 40
    assert stats.verify_steps == len(spec.chunks) - 1  # the first token comes from the prefill
    assert spec.output_tokens == 1 + stats.verify_steps + stats.accepted
    assert 0 <= stats.accepted <= stats.proposed <= 4 * stats.verify_steps
    assert len(spec.itl) == spec.output_tokens - 1


def test_builtin_draft_is_accepted_often_enough_to_matter(engine):
    spec = engine.generate([PROMPT], GREEDY, speculative=SpeculativeConfig("draft", num_tokens=4))[0]
    assert spec.speculative.acceptance_rate > 0.2 and spec.speculative.accept_length(spec.output_tokens) > 1.5


def test_speculation_stops_at_eos_like_plain_decoding(engine):
    params = SamplingParams(max_new_tokens=200)
    for prompt in ("The capital of China is", "def fibonacci(n):", PROMPT):
        plain = engine.generate([prompt], params)[0]
        spec = engine.generate([prompt], params, speculative=SpeculativeConfig("draft"))[0]
        assert spec.output_ids == plain.output_ids and spec.finish_reason == plain.finish_reason


def test_prefix_reuse_takes_the_longest_common_prefix(engine):
    prefix = prompt_of_length(engine.encode, 300)
    handle = engine.cache_prefix(prefix)
    diverging = prefix[:200] + prompt_of_length(engine.encode, 150)[-150:]
    results = engine.generate([prefix + [5, 6, 7], diverging], SamplingParams(max_new_tokens=16), prefix_cache=handle)
    assert [r.cached_tokens for r in results] == [300, 200]
    fresh = [engine.generate([p], SamplingParams(max_new_tokens=16))[0] for p in (prefix + [5, 6, 7], diverging)]
    assert [r.output_ids for r in results] == [r.output_ids for r in fresh]
    assert handle.cache.get_seq_length() == 300, "requests must not modify the shared prefix cache"


def test_shared_prefix_workload_is_deterministic_and_shaped(engine):
    make = lambda seed: generated_shared_prefix(engine.encode, corpus_text(), 3, 2, 100, 10, seed)  # noqa: E731
    groups = make(1)
    assert groups == make(1) and groups != make(2)
    assert [len(g.prefix) for g in groups] == [100] * 3 and all(len(q) == 10 for g in groups for q in g.questions)
    assert len({tuple(g.prefix) for g in groups}) == 3


def test_memory_monitor_samples_in_the_background(cpu_session):
    with MemoryMonitor(cpu_session.device, interval=0.01) as monitor:
        block = torch.ones(32 * 2**20 // 4)
        block += 1
        cpu_session.engine.generate([PROMPT], SamplingParams(max_new_tokens=24))
        del block
    report = monitor.report
    assert len(report.timeline) >= 3 and report.peak_allocated >= max(s.allocated for s in report.timeline)
    assert set(report.summary()) >= {"peak_allocated_bytes", "peak_fragmentation_bytes", "peak_host_rss_bytes"}


def test_keyword_groups_select_the_advanced_cases(pytester):
    counts = {}
    for keyword in ("prefix", "speculative", "memory", "capacity"):
        result = pytester.runpytest("--pyargs", "pytest_ascend_llm.suite", "--co", "-q", "-k", keyword)
        counts[keyword] = sum(1 for line in result.outlines if "::" in line and keyword in line.lower())
    assert counts["prefix"] >= 9 and counts["speculative"] >= 5 and counts["memory"] >= 3, counts
    assert counts["capacity"] == 2, counts


def test_capacity_refusal_loads_nothing_and_the_plan_runs_on_cpu(pytester):
    refused = pytester.runpytest(
        "--pyargs", "pytest_ascend_llm.suite", "-k", "capacity and refused", "--llm-device", "cpu"
    )
    refused.assert_outcomes(passed=1, deselected=refused.parseoutcomes()["deselected"])
    assert "loaded 1 time" not in refused.stdout.str()
    runs = pytester.runpytest("--pyargs", "pytest_ascend_llm.suite", "-k", "capacity", "--llm-device", "cpu")
    runs.assert_outcomes(passed=2, deselected=runs.parseoutcomes()["deselected"])
    runs.stdout.fnmatch_lines(
        [
            "*ascend-llm capacity plan for this device*",
            "*context 2048: at most * concurrent full-length sequences*",
            "SGLang: python -m sglang.launch_server --model-path * --max-running-requests * --host 127.0.0.1 *",
        ]
    )


def test_advanced_cases_pass_on_cpu_and_report_memory(pytester):
    result = pytester.runpytest(
        "--pyargs",
        "pytest_ascend_llm.suite",
        "-k",
        "prefix or speculative or memory",
        "--llm-device",
        "cpu",
        "--llm-rounds",
        "2",
        "--llm-warmup",
        "0",
        "-p",
        "no:cacheprovider",
        "--junitxml=report.xml",
    )
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes and outcomes["passed"] >= 15, outcomes
    result.stdout.fnmatch_lines(["prefix_cache_ttft *", "cold-prefix256 *", "speculative_decoding *", "draft *"])
    assert 'name="memory"' in (pytester.path / "report.xml").read_text()


def test_benchmark_cases_run_from_python_without_pytest_benchmark(cpu_session):
    from pytest_ascend_llm.benchmarking.results import generation_tokens
    from pytest_ascend_llm.benchmarking.rounds import run_rounds

    engine = cpu_session.engine
    params = SamplingParams(max_new_tokens=8, ignore_eos=True)
    case = run_rounds("generate", lambda: engine.generate([PROMPT], params), generation_tokens, cpu_session.device, 4)
    metrics = case.metrics()
    assert metrics["rounds"] == 4 and case.tokens_per_round == [8] * 4 and len(case.requests) == 4
    assert metrics["p50"] <= metrics["p95"] <= metrics["p99"] and metrics["ttft_p95"] > 0
    assert len(metrics["samples"]["host_probe_seconds"]) == 4 and min(case.host_probe_seconds) > 0
