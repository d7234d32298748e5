"""Runs whose length is known: the estimate (on injected durations), the bounds a case respects, and the
gate's verdict on a case a bound cut short, in plain Python and in real pytest runs on the built-in model."""

from __future__ import annotations

import json

import pytest

from pytest_ascend_llm.benchmarking.adaptive import RoundPolicy, tracked_percentile
from pytest_ascend_llm.benchmarking.bounds import Bound, case_bound, run_bound, stopped_by
from pytest_ascend_llm.benchmarking.gate import INCONCLUSIVE, NOT_COMPARED, judge, parse_rule
from pytest_ascend_llm.benchmarking.run_length import RunLength, saved_case_seconds
from pytest_ascend_llm.plugin.timers import Rounds

SUITE = ("--pyargs", "pytest_ascend_llm.suite", "--llm-device", "cpu", "-p", "no:cacheprovider")
TWO_CASES = ("-k", "prefill and ctx128 or end_to_end and short_qa")


def test_the_estimate_scales_the_compared_run_by_the_cases_both_have():
    length = RunLength.from_compared(
        ["a", "b", "c", "new"],
        {"a": {"case_wall_s": 10.0}, "b": {"case_wall_s": 20.0}, "c": {"samples": {"round_seconds": [1.0, 2.0]}}},
    )
    assert length.expected == {"a": 10.0, "b": 20.0, "c": 3.0}
    assert "for 3 of them (1 not in it" in length.opening()
    length.finish("a", 30.0)  # this run is 3x slower than the compared one
    seconds, basis = length.remaining()
    assert seconds == pytest.approx((20.0 + 3.0) * 3 + 30.0)
    assert (
        basis == "2 from the compared run, scaled ×3.00 by the cases both runs have; 1 at this run's mean 30 s per case"
    )
    line = length.progress("mod::a", 30.0, 21)
    assert (
        line.startswith("[1/4] a: 21 round(s) in 30.0 s; elapsed ")
        and "remaining ~99 s (2 from the compared run" in line
    )


def test_without_a_compared_run_the_first_warmup_and_the_rounds_needed_give_the_estimate():
    length = RunLength(["a", "b", "c"])
    assert length.opening() is None and length.remaining() is None
    line = length.from_first_warmup([2.0, 4.0], rounds_needed=21, warmup=2)
    assert "first case's warm-up round took 3 s" in line and "at least 21 timed round(s)" in line
    assert "~3.5 min if every case were like the first" in line  # 3 s x (21 + 2) x 3 cases
    length.finish("a", 6.0)
    length.drop("b")  # skipped: it leaves the estimate
    assert length.remaining() == (6.0, "1 at this run's mean 6 s per case")
    assert length.from_first_warmup([1.0], 21, 1) is None, "only the first case says it"


def test_a_load_run_without_its_wall_time_gives_no_duration():
    assert saved_case_seconds({"load": "concurrency 4", "samples": {"round_seconds": [1.0] * 8}}) is None


def test_a_bound_stops_rounds_after_one_and_says_what_it_cut_short():
    policy = RoundPolicy(min_rounds=5, max_rounds=60, budget_seconds=100.0, percentile=95)
    spent = Bound(deadline=0.0, option="--llm-case-seconds 2")
    rounds = Rounds(warmup=1, policy=policy, fixed=0, bound=spent)
    assert rounds.wants_more([]) and not rounds.wants_more([1.0]), "one timed round, then the bound holds"
    assert rounds.cut_short([1.0]) and not Rounds(1, policy, 0).cut_short([1.0])
    assert not Rounds(1, None, 3, bound=spent).cut_short([1.0, 1.0, 1.0]), "a fixed count that was met"
    stopped = stopped_by(spent, 7, 95)
    assert stopped["line"] == "stopped by --llm-case-seconds 2 after 7 round(s); P95 needs 21"
    assert stopped_by(spent, 30, 95)["line"].endswith("before its P95 was pinned down")


def test_the_case_bound_is_the_earlier_of_the_case_and_the_run():
    run = run_bound(1.0, started=100.0)
    assert run == Bound(160.0, "--llm-max-minutes 1")
    assert case_bound(5.0, run, now=150.0) == Bound(155.0, "--llm-case-seconds 5")
    assert case_bound(30.0, run, now=150.0) == run
    assert case_bound(None, None, now=1.0) is None


def test_rules_on_per_token_samples_need_no_round_time_tail():
    assert tracked_percentile([], saved=False, compared=True, ruled=True) == 50, "tpot/itl rules resolve in a round"
    assert tracked_percentile([], saved=True, compared=True, ruled=True) == 95, "a saved run serves later gates"
    assert tracked_percentile([], saved=False, compared=True, ruled=False) == 95
    assert tracked_percentile([99.0], saved=False, compared=True, ruled=True) == 99


def test_the_gate_calls_a_case_cut_short_inconclusive_with_the_rounds_that_decide_it():
    rule = parse_rule("p95:10%")
    before = {"samples": {"round_seconds": [1.0 + i / 100 for i in range(30)]}}
    now = {
        "samples": {"round_seconds": [1.0, 1.1, 1.2]},
        "stopped_by": stopped_by(Bound(0, "--llm-max-minutes 5"), 3, 95),
    }
    verdict = judge("case", rule, before, now)
    assert verdict.verdict == INCONCLUSIVE and not verdict.fails
    assert verdict.note == (
        "this run stopped by --llm-max-minutes 5 after 3 round(s); P95 needs 21: 21 rounds per run would decide p95 "
        "(--llm-rounds 21, or a larger bound)"
    )
    unbounded = judge("case", rule, before, {"samples": now["samples"]})
    assert unbounded.verdict == NOT_COMPARED, "too few rounds without a bound is the run's setting, not a cut"


def test_a_case_bound_keeps_what_was_measured_and_the_gate_says_inconclusive(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # the gate's notes on one line below each row
    storage = f"--benchmark-storage=file://{pytester.path / 'runs'}"
    saved = pytester.runpytest(*SUITE, *TWO_CASES, storage, "--benchmark-save=base")
    saved.assert_outcomes(passed=2, deselected=saved.parseoutcomes()["deselected"])
    saved.stdout.fnmatch_lines(
        [
            "run length: 2 timed case(s), no compared run to estimate from; the first case's warm-up round took *",
            "[[]1/2] test_perf_generation_end_to_end[[]short_qa]: * round(s) in * s; elapsed *, remaining ~* (1 at *",
            "[[]2/2] test_perf_prefill[[]ctx128]: * round(s) in * s; elapsed *, remaining none",
        ]
    )
    bounded = pytester.runpytest(
        *SUITE, *TWO_CASES, storage, "--benchmark-compare=0001", "--llm-compare-fail", "p95:10%",
        "--llm-case-seconds", "0", "--benchmark-save=bounded",
    )  # fmt: skip
    bounded.assert_outcomes(passed=2, deselected=bounded.parseoutcomes()["deselected"])
    bounded.stdout.fnmatch_lines(
        [
            "run length: 2 timed case(s); the compared run's durations give ~* s",
            "[[]1/2] test_perf_generation_end_to_end[[]short_qa]: 1 round(s) in * s; stopped by --llm-case-seconds 0 "
            "after 1 round(s); P95 needs 21; elapsed *",
            "test_perf_prefill[[]ctx128]",
            "  p95:10% * inconclusive",
            "      *this run stopped by --llm-case-seconds 0 after 1 round(s); P95 needs 21: 21 rounds per run would "
            "decide p95*",
        ]
    )
    [run] = [json.loads(path.read_text()) for path in (pytester.path / "runs").rglob("*bounded.json")]
    for bench in run["benchmarks"]:
        metrics = bench["extra_info"]["llm"]
        assert metrics["rounds"] == 1 == metrics["stopped_by"]["rounds"] and metrics["case_wall_s"] > 0
        assert "p95" in metrics["unresolved"] and metrics["samples"]["round_seconds"]


def test_cases_past_the_run_bound_skip_and_the_gate_says_inconclusive(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # the gate's notes on one line below each row
    storage = f"--benchmark-storage=file://{pytester.path / 'runs'}"
    base = pytester.runpytest(*SUITE, *TWO_CASES, storage, "--benchmark-save=base", "--llm-rounds", "3")
    base.assert_outcomes(passed=2, deselected=base.parseoutcomes()["deselected"])
    spent = pytester.runpytest(
        *SUITE, *TWO_CASES, storage, "--benchmark-compare=0001", "--llm-compare-fail", "p50:10%",
        "--llm-max-minutes", "0", "-rs",
    )  # fmt: skip
    spent.assert_outcomes(skipped=2, deselected=spent.parseoutcomes()["deselected"])
    spent.stdout.fnmatch_lines(
        [
            "*--llm-max-minutes 0 was spent before this case started: not run*",
            "test_perf_prefill[[]ctx128]",
            "  p50:10% * inconclusive",
            "      --llm-max-minutes 0 was spent before this case started: not run; a run without the bound would "
            "decide it*",
        ]
    )
    assert spent.ret == 0, "inconclusive is reported, not failed, and not passed silently either"
