"""Trace replay: a Mooncake trace read and checked line by line, its hash ids turned into real shared
token prefixes, its timing scaled, and the suite's trace case run against the fake server, whose simulated
prefix cache reports the prefixes it saw again."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.preflight import check_before_torch, unused_options
from pytest_ascend_llm.serving.trace import TraceEntry, read_trace
from pytest_ascend_llm.settings import Settings
from pytest_ascend_llm.testing.fake_server import start_fake_server
from pytest_ascend_llm.testing.synthetic_trace import synthetic_trace, write_trace
from pytest_ascend_llm.workloads.trace_prompts import BlockMaker, block_sharing, fit_lengths, trace_workload

VOCABULARY = list(range(100, 1100))
GOOD = {"timestamp": 0, "input_length": 600, "output_length": 4, "hash_ids": [0, 1]}


def _lines(tmp_path, *records, raw: str = "") -> str:
    text = "".join(json.dumps(record) + "\n" for record in records) + raw
    path = tmp_path / "trace.jsonl"
    path.write_text(text)
    return str(path)


def test_a_trace_is_read_in_order_skipping_blank_lines_and_capped_at_n(tmp_path):
    later = dict(GOOD, timestamp=250, hash_ids=[0, 2])
    path = _lines(tmp_path, GOOD, later, raw="\n" + json.dumps(dict(GOOD, timestamp=250.5)) + "\n")
    trace = read_trace(path)
    assert [(e.line, e.timestamp_ms, e.hash_ids) for e in trace.entries] == [
        (1, 0.0, (0, 1)),
        (2, 250.0, (0, 2)),
        (4, 250.5, (0, 1)),
    ]
    assert trace.name == "trace" and len(read_trace(path, limit=2).entries) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"timestamp": 0, "input_length": 5\n', " line 1: not JSON (* at column *): one JSON object per line"),
        ("[1, 2]\n", " line 1: a JSON list, not an object: one JSON object per line"),
        (
            json.dumps({"timestamp": 0, "input_length": 5}) + "\n",
            " line 1: no output_length, hash_ids: every line needs timestamp, input_length, output_length, hash_ids *",
        ),
        (
            json.dumps(GOOD) + "\n" + json.dumps(dict(GOOD, timestamp=-1)) + "\n",
            " line 2: timestamp -1: give milliseconds since the trace began, at least 0",
        ),
        (
            json.dumps(dict(GOOD, timestamp=90)) + "\n" + json.dumps(dict(GOOD, timestamp=80)) + "\n",
            " line 2: timestamp 80 ms is before line 1's 90 ms: sort the trace by timestamp",
        ),
        (json.dumps(dict(GOOD, output_length=0)) + "\n", " line 1: output_length 0: give a whole number of at least 1"),
        (json.dumps(dict(GOOD, input_length=2.5)) + "\n", " line 1: input_length 2.5: give a whole number *"),
        (json.dumps(dict(GOOD, hash_ids="0,1")) + "\n", " line 1: hash_ids 0,1: give a list of whole numbers, *"),
        ("\n\n", ": no requests in it: one JSON object per line (Mooncake format)"),
    ],
    ids=["bad-json", "not-an-object", "missing-fields", "negative-time", "out-of-order", "no-output", "fraction",
         "ids-not-a-list", "empty"],
)  # fmt: skip
def test_a_bad_line_is_one_error_naming_the_file_the_line_and_the_fix(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(LLMSetupError) as raised:
        read_trace(path)
    assert "\n" not in str(raised.value)
    assert fnmatch.fnmatch(str(raised.value), f"{path}{message}"), str(raised.value)


def test_a_missing_or_bad_trace_stops_the_preflight_naming_the_option(tmp_path):
    missing = Settings.from_values({"trace": str(tmp_path / "gone.jsonl")}, {"trace": "--llm-trace"})
    with pytest.raises(LLMSetupError, match=r"^--llm-trace .*gone\.jsonl: no such file: give a Mooncake JSONL trace$"):
        check_before_torch(missing)
    bad = Settings.from_values({"trace": _lines(tmp_path, raw="{oops\n")}, {"trace": "ASCEND_LLM_TRACE"})
    with pytest.raises(LLMSetupError, match=r"^ASCEND_LLM_TRACE .*trace\.jsonl line 1: not JSON"):
        check_before_torch(bad)


def test_trace_options_the_run_will_not_use_are_warnings(tmp_path):
    path = _lines(tmp_path, GOOD)
    local = Settings.from_values({"trace": path}, {"trace": "--llm-trace"})
    assert unused_options(local) == [
        "--llm-trace has no effect with --llm-engine transformers: it is for a server engine (the trace replay)"
    ]
    served = Settings.from_values(
        {"engine": "openai", "endpoint": "http://h:1", "trace_speed": "2"}, {"trace_speed": "--llm-trace-speed"}
    )
    assert unused_options(served) == ["--llm-trace-speed has no effect without --llm-trace FILE"]


def test_shared_hash_ids_are_identical_token_prefixes_and_other_ids_other_blocks(tmp_path):
    path = _lines(
        tmp_path,
        dict(GOOD, input_length=1300, hash_ids=[7, 8, 9]),
        dict(GOOD, input_length=1100, hash_ids=[7, 8, 10]),
        dict(GOOD, input_length=700, hash_ids=[11, 8]),
        dict(GOOD, input_length=1500, hash_ids=[7]),  # fewer ids than its length needs
    )
    first, second, third, fourth = (r.prompt for r in trace_workload(read_trace(path), VOCABULARY, 4096).requests)
    assert [len(p) for p in (first, second, third, fourth)] == [1300, 1100, 700, 1500]
    assert first[:1024] == second[:1024] and first[1024:1100] != second[1024:1100]
    assert third[:512] != first[:512] and third[512:700] == first[512:700]  # block 8, after another prefix
    assert fourth[:512] == first[:512] and fourth[512:1024] not in (first[512:1024], second[512:1024])
    assert set(first + second + third + fourth) <= set(VOCABULARY)
    again = BlockMaker(VOCABULARY)
    assert again.of(7) == first[:512] and again.of(7) != again.of(70)  # seeded by the id: the same every run


def test_the_sharing_counts_shared_blocks_and_what_an_earlier_request_already_sent():
    entries = [TraceEntry(n, 0.0, 12, 1, ids) for n, ids in enumerate([(1, 2, 3), (1, 2, 4), (5, 2)], 1)]
    sharing = block_sharing(entries, [3 * 4, 3 * 4, 2 * 4], 4)
    assert sharing.distinct_blocks == 5
    assert sharing.shared_share == pytest.approx((8 + 8 + 4) / 32)  # blocks 1 and 2 in two or more requests
    assert sharing.reusable_share == pytest.approx(8 / 32)  # only the second request's leading 1, 2


def test_offsets_run_from_the_first_request_in_seconds_divided_by_the_speed(tmp_path):
    path = _lines(tmp_path, dict(GOOD, timestamp=1000), dict(GOOD, timestamp=1000), dict(GOOD, timestamp=3500))
    trace = read_trace(path)
    assert trace.offsets() == (0.0, 0.0, 2.5) and trace.offsets(2.0) == (0.0, 0.0, 1.25)
    assert trace_workload(trace, VOCABULARY, 4096, speed=4.0).offsets == (0.0, 0.0, 0.625)


def test_a_request_longer_than_the_context_is_cut_keeping_its_prefix_and_counted(tmp_path):
    assert fit_lengths(1000, 100, 2048) == (1000, 100)
    assert fit_lengths(5000, 100, 2048) == (1948, 100)
    assert fit_lengths(100, 5000, 2048) == (100, 1948)
    assert fit_lengths(5000, 5000, 2048) == (1024, 1024)
    path = _lines(tmp_path, dict(GOOD, input_length=3000, hash_ids=[0, 1, 2, 3, 4, 5]), GOOD)
    work = trace_workload(read_trace(path), VOCABULARY, 2048)
    assert work.cut == 1 and len(work.requests[0].prompt) == 2040 - 4
    assert work.requests[0].prompt[:512] == work.requests[1].prompt[:512]


def test_the_shipped_example_is_the_generator_s_seeded_output():
    example = Path(__file__).parents[1] / "examples" / "mooncake-trace-example.jsonl"
    lines = [json.loads(line) for line in example.read_text().splitlines()]
    assert lines == synthetic_trace(requests=40, span_ms=4000) and len(read_trace(example).entries) == 40


SUITE = ("--pyargs", "pytest_ascend_llm.suite", "-k", "trace", "-p", "no:cacheprovider", "-p", "no:randomly")


@pytest.fixture(scope="module")
def server():
    with start_fake_server("--ttft", "0.01", "--itl", "0.002", "--max-model-len", "2048") as running:
        yield running


def test_the_trace_case_replays_every_request_on_time_with_cached_shared_prefixes(pytester, server):
    trace = write_trace(pytester.path / "mooncake-small.jsonl", synthetic_trace(requests=20, span_ms=400))
    storage = pytester.path / "runs"
    result = pytester.runpytest(
        *SUITE, "--llm-engine", "openai", "--llm-endpoint", server.url, "--llm-trace", str(trace),
        "--llm-trace-speed", "4", "--llm-client-workers", "1", "--llm-results", "r.jsonl",
        f"--benchmark-storage=file://{storage}", "--benchmark-save=trace",
    )  # fmt: skip
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"], warnings=1)
    entries = read_trace(trace).entries
    context = 2048 - 8
    cut = [fit_lengths(e.input_length, e.output_length, context) for e in entries]
    result.stdout.fnmatch_lines(["*TraceCut: * of 20 requests of mooncake-small cut to fit 2048 tokens*"])
    records = [json.loads(line) for line in (pytester.path / "r.jsonl").read_text().splitlines()]
    [record] = [r for r in records if r.get("case", "").endswith("test_serving_trace[mooncake-small]")]
    detail = record["requests"]
    assert [r["status"] for r in detail] == ["completed"] * 20
    assert [(r["input_len"], r["output_len"]) for r in detail] == cut
    offsets = read_trace(trace).offsets(4.0)
    assert [r["due_s"] for r in detail] == pytest.approx(offsets, abs=1e-6)  # sent as scheduled: due at its offset
    [saved] = storage.rglob("*.json")
    [case] = json.loads(saved.read_text())["benchmarks"]
    figures = case["extra_info"]["llm"]
    assert case["name"].endswith("test_serving_trace[mooncake-small]")
    assert figures["completed"] == 20 and figures["failed"] == 0 and figures["timed_out"] == 0
    assert figures["trace"] == "mooncake-small" and figures["trace_speed"] == 4.0 and figures["trace_requests"] == 20
    assert figures["trace_cut"] == sum(c != (e.input_length, e.output_length) for c, e in zip(cut, entries)) > 0
    assert figures["cached_prompt_tokens"] > 0 and 0 < figures["cached_fraction"] <= 1
    assert figures["cache_emptied_first"] is False  # a plain endpoint: no flush endpoint known
    assert figures["reusable_prompt_share"] > 0 and figures["shared_block_share"] >= figures["reusable_prompt_share"]
    assert figures["load"].startswith("trace mooncake-small: 20 requests over 0.0")


def test_without_a_trace_the_case_skips_saying_what_to_pass(pytester, server):
    result = pytester.runpytest(*SUITE, "--llm-engine", "openai", "--llm-endpoint", server.url, "-rs")
    result.assert_outcomes(skipped=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["*no trace to replay: pass --llm-trace FILE (a Mooncake JSONL trace)*"])


def test_a_missing_trace_file_is_one_line_at_the_start(pytester):
    result = pytester.runpytest(*SUITE, "--llm-trace", "nowhere.jsonl")
    result.stderr.fnmatch_lines(["ERROR: --llm-trace nowhere.jsonl: no such file: give a Mooncake JSONL trace"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
