"""The latency table's footnote names the knob that adds samples to the cases it shows: timed rounds for
round-based cases, requests for serving cases (whose metrics carry a ``load``). Injected metrics only."""

from __future__ import annotations

from pytest_ascend_llm.benchmarking.table import latency_table

ROUNDS = {"n": 5, "p50": 0.01, "p95": 0.02, "p99": 0.03, "unresolved": ["p95", "p99"]}
SERVING = {"n": 8, "ttft_n": 8, "ttft_p95": 0.05, "load": "concurrency 4", "unresolved": ["ttft_p95"]}


def test_round_based_cases_are_told_to_raise_the_rounds():
    footnote = latency_table({"test_perf_decode_step[bs1]": ROUNDS})[-1]
    assert footnote.endswith("raise --llm-rounds") and "--llm-serving-requests" not in footnote


def test_serving_cases_alone_are_told_to_raise_the_requests():
    footnote = latency_table({"test_perf_serving[concurrency4]": SERVING})[-1]
    assert footnote.endswith("raise --llm-serving-requests N") and "--llm-rounds" not in footnote


def test_a_mixed_table_names_each_knob_for_its_cases():
    table = latency_table({"test_perf_decode_step[bs1]": ROUNDS, "test_perf_serving[concurrency4]": SERVING})
    assert table[-1].endswith("raise --llm-rounds (serving cases: --llm-serving-requests N)")
    assert "(max)" in "\n".join(table[:-1])
