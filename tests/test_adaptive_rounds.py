"""Adaptive rounds and host-noise notes, on injected samples, plus one real pytest-benchmark run."""

import json

import pytest

from pytest_ascend_llm.benchmarking.adaptive import RoundPolicy, percentile_interval, round_policy
from pytest_ascend_llm.benchmarking.noise import noise_notes, usable_cores
from pytest_ascend_llm.benchmarking.rounds import run_rounds
from pytest_ascend_llm.devices.cpu import CpuDevice

PREFILL_CTX128_ON_CPU = (
    "--pyargs",
    "pytest_ascend_llm.suite.test_performance",
    "-k",
    "prefill and ctx128",
    "--llm-device",
    "cpu",
    "-p",
    "no:cacheprovider",
)


def test_the_percentile_interval_uses_binomial_ranks_of_the_ordered_samples():
    samples = [float(value) for value in range(1, 101)]  # 1..100
    low, high = percentile_interval(samples, 50)
    # n = 100, p = 0.5: ranks floor(50 - 1.96 * 5) = 40 and ceil(50 + 9.8) = 60 (0-based) -> 41 and 61.
    assert (low, high) == (41.0, 61.0)
    assert percentile_interval(samples[:10], 99) is None  # the upper rank would pass the largest sample


def test_rounds_stop_once_the_median_is_pinned_down():
    policy = RoundPolicy(min_rounds=5, max_rounds=60, budget_seconds=100.0, target=0.05)
    assert not policy.done([0.010] * 7, elapsed=0.07), "7 samples cannot bound a median by order statistics"
    steady = [0.010] * 8
    assert policy.done(steady, elapsed=0.08)
    scattered = [0.010, 0.030, 0.005, 0.020, 0.012]
    assert not policy.done(scattered, elapsed=0.08), "a median this uncertain needs more rounds"
    assert policy.done(scattered, elapsed=100.0), "the time budget ends it"
    assert policy.done(scattered * 12, elapsed=1.0), "max_rounds ends it"


def test_a_tracked_p95_needs_21_rounds_whatever_the_budget():
    policy = RoundPolicy(min_rounds=5, max_rounds=60, budget_seconds=0.0, percentile=95)
    assert policy.floor == 21
    assert not policy.done([0.01] * 20, elapsed=10.0) and policy.done([0.01] * 21, elapsed=10.0)


def test_run_rounds_follows_the_policy_from_python():
    policy = RoundPolicy(min_rounds=5, max_rounds=60, budget_seconds=0.0, percentile=95)
    case = run_rounds("empty", lambda: [], lambda _: 0, CpuDevice(), policy=policy)
    assert len(case.round_seconds) == 21


def test_the_header_promises_only_what_the_policy_does_for_a_slow_case():
    policy = round_policy(None, None, accelerator=False)
    assert policy.describe().endswith(
        "at most 60 (a case whose 5 rounds take longer than 1.5 s takes longer: --llm-case-seconds bounds it)"
    )
    assert policy.done([2.0] * 4, elapsed=8.0) is False, "the minimum is timed even past the budget"
    bounded = round_policy(None, 2.0, accelerator=False).describe(bounded=True)
    assert bounded.startswith("adaptive rounds: at least 5 unless a bound stops the case first, then more until")


def test_noise_notes_flag_a_busy_host_and_scattered_rounds():
    steady = [0.010, 0.0101, 0.0099, 0.0100]
    assert noise_notes(steady, [0.1, 0.2]) == []
    busy = noise_notes(steady, [usable_cores() + 1.5, None])
    assert busy and busy[0].startswith("busy host (load")
    assert noise_notes([0.01, 0.03], [None]) == ["unstable (stdev 71% of mean)"]


def test_a_saved_run_gets_enough_adaptive_rounds_for_a_later_p95_gate(pytester):
    storage = pytester.path / "runs"
    result = pytester.runpytest(
        *PREFILL_CTX128_ON_CPU,
        f"--benchmark-storage=file://{storage}",
        "--benchmark-save=base",
    )
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(
        ["ascend-llm benchmark: adaptive rounds: at least 21, then more until * at most 60 (a case whose 21 rounds*"]
    )
    [saved] = storage.rglob("*.json")
    [bench] = json.loads(saved.read_text())["benchmarks"]
    rounds = bench["stats"]["rounds"]
    assert 21 <= rounds == bench["extra_info"]["llm"]["n"] <= 60
    assert "p95" not in bench["extra_info"]["llm"]["unresolved"] and "stopped_by" not in bench["extra_info"]["llm"]
    samples = bench["extra_info"]["llm"]["samples"]
    assert (
        len(samples["round_seconds"])
        == len(samples["host_probe_seconds"])
        == len(samples["round_cpu_seconds"])
        == rounds
    )


@pytest.mark.parametrize("rounds", ["3"])
def test_fixed_rounds_are_honoured_and_thin_percentiles_are_shown_as_such(pytester, rounds):
    result = pytester.runpytest(*PREFILL_CTX128_ON_CPU, "--llm-rounds", rounds)
    result.stdout.fnmatch_lines(["prefill *n*p50 ms*p95 ms*", "ctx128 *3 * (max) *(max)*", "n: timed rounds*"])
