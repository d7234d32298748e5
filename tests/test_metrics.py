"""Metric definitions against hand-computed traces, and percentiles against numpy."""

import numpy as np
import pytest

from pytest_ascend_llm.metrics import timing
from pytest_ascend_llm.metrics.stats import percentile, summarize
from pytest_ascend_llm.metrics.timing import TokenChunk


def test_ttft_tpot_e2e_from_a_hand_trace():
    chunks = [TokenChunk(0.50), TokenChunk(0.60), TokenChunk(0.75), TokenChunk(0.80)]
    assert timing.ttft(chunks) == 0.50
    assert timing.e2e(chunks) == 0.80
    assert timing.tpot(chunks) == pytest.approx((0.80 - 0.50) / 3)
    assert timing.itl(chunks) == pytest.approx([0.10, 0.15, 0.05])


def test_multi_token_chunks_split_their_gap_evenly():
    chunks = [TokenChunk(0.2, 1), TokenChunk(0.5, 3)]
    assert timing.itl(chunks) == pytest.approx([0.1, 0.1, 0.1])
    assert timing.output_tokens(chunks) == 4
    assert timing.tpot(chunks) == pytest.approx(0.3 / 3)


def test_single_token_output_has_no_tpot_and_empty_output_has_nothing():
    assert timing.tpot([TokenChunk(0.3)]) is None
    assert timing.ttft([]) is None and timing.e2e([]) is None and timing.itl([]) == []


def test_percentiles_match_numpy_linear_interpolation():
    data = [0.012, 0.5, 0.031, 0.2, 0.019, 0.044, 0.9, 0.023, 0.027, 0.018, 0.3]
    summary = summarize(data)
    for q in (50, 90, 95, 99):
        assert summary[f"p{q}"] == pytest.approx(np.percentile(data, q))
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert summary["count"] == len(data) and summary["max"] == 0.9


def test_summary_of_nothing_is_nan_not_an_error():
    summary = summarize([])
    assert summary["count"] == 0 and np.isnan(summary["p95"])


def test_tpot_by_position_buckets_a_hand_trace():
    chunks = [TokenChunk(1.0), TokenChunk(1.1), TokenChunk(1.2), TokenChunk(1.5), TokenChunk(1.8)]
    rows = timing.tpot_by_position(chunks, bucket=2)
    assert [(a, b) for a, b, _ in rows] == [(1, 2), (3, 4), (5, 5)]
    assert [s for _, _, s in rows] == pytest.approx([0.1, 0.2, 0.3])


def test_itl_per_token_follows_sglang_and_per_chunk_follows_vllm():
    """The same speculative trace under both conventions: SGLang's bench_serving appends
    gap / k, k times, for a k-token chunk; vLLM's bench serve appends the chunk's gap once."""
    chunks = [TokenChunk(0.2, 1), TokenChunk(0.5, 3), TokenChunk(0.6, 1)]
    assert timing.itl(chunks) == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert timing.itl_per_chunk(chunks) == pytest.approx([0.3, 0.1])


def test_throughput_is_all_tokens_over_all_time_and_counts_travel_with_percentiles():
    from pytest_ascend_llm.benchmarking.results import CaseResult

    case = CaseResult("c", round_seconds=[1.0, 3.0, 1.0], tokens_per_round=[10, 10, 10])
    assert case.tokens_per_s == pytest.approx(30 / 5.0)  # what was delivered, vLLM's definition
    assert case.median_round_tokens_per_s == pytest.approx(10.0)
    metrics = case.metrics()
    assert metrics["n"] == 3 and metrics["samples"]["round_seconds"] == [1.0, 3.0, 1.0]
    assert set(metrics["unresolved"]) == {"p90", "p95", "p99"}  # 3 samples resolve only the median
