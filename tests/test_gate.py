"""The regression gate's statistics on injected, deterministic samples: verdicts, intervals, sample counts,
and every way a case can fail to be compared. No timing is measured here."""

import math

import numpy as np
import pytest

from pytest_ascend_llm.benchmarking.gate import (
    IMPROVED,
    INCONCLUSIVE,
    NOT_COMPARED,
    REGRESSED,
    UNCHANGED,
    apply_gate,
    judge,
    parse_rule,
)
from pytest_ascend_llm.benchmarking.table import verdict_table
from pytest_ascend_llm.metrics.stats import is_resolved, min_samples


def _rounds(n: int, seed: int, scale: float = 1.0, spread: float = 0.05) -> list[float]:
    """Round times like a real case: around 10 ms, log-normal jitter, a fixed seed."""
    rng = np.random.default_rng(seed)
    return list(0.010 * scale * rng.lognormal(0.0, spread, n))


def _case(rounds: list[float], **samples: list[float]) -> dict:
    return {"samples": {"round_seconds": rounds, **samples}}


def test_percentiles_need_enough_samples_to_be_more_than_the_maximum():
    assert [min_samples(q) for q in (50, 90, 95, 99)] == [3, 11, 21, 101]
    assert not is_resolved(99, 20) and is_resolved(99, 101) and is_resolved(95, 21) and not is_resolved(95, 20)


def test_the_same_build_is_unchanged():
    verdict = judge("c", parse_rule("p50:10%"), _case(_rounds(30, 1)), _case(_rounds(30, 2)))
    assert verdict.verdict == UNCHANGED, verdict
    assert verdict.low < 1 < verdict.high and verdict.counts == (30, 30)


def test_a_30_percent_slower_build_is_regressed_with_its_interval():
    verdict = judge("c", parse_rule("p95:10%"), _case(_rounds(40, 1)), _case(_rounds(40, 2, scale=1.3)))
    assert verdict.verdict == REGRESSED and verdict.fails
    assert 1.1 < verdict.low <= verdict.change <= verdict.high
    assert verdict.change == pytest.approx(1.3, rel=0.08)


def test_a_ten_times_slower_build_is_regressed_even_on_five_rounds():
    verdict = judge("c", parse_rule("p50:10%"), _case(_rounds(5, 1)), _case(_rounds(5, 2, scale=10)))
    assert verdict.verdict == REGRESSED


def test_a_faster_build_is_improved_and_does_not_fail():
    verdict = judge("c", parse_rule("p50:10%"), _case(_rounds(30, 1)), _case(_rounds(30, 2, scale=0.7)))
    assert verdict.verdict == IMPROVED and not verdict.fails


def test_noise_wider_than_the_threshold_is_inconclusive_and_says_how_many_rounds_would_decide():
    before, now = _case(_rounds(8, 1, spread=0.3)), _case(_rounds(8, 2, scale=1.12, spread=0.3))
    verdict = judge("c", parse_rule("p50:10%"), before, now)
    assert verdict.verdict == INCONCLUSIVE and not verdict.fails
    assert "rounds per run would decide it (--llm-rounds" in verdict.note
    needed = int(verdict.note.split("--llm-rounds ")[1].rstrip(")"))
    assert needed > 8


def test_a_percentile_on_too_few_samples_is_not_compared_and_names_the_option():
    verdict = judge("c", parse_rule("p99:10%"), _case(_rounds(20, 1)), _case(_rounds(20, 2, scale=3)))
    assert verdict.verdict == NOT_COMPARED and not verdict.fails
    assert "rests on 20 samples, and needs 101" in verdict.note and "--llm-rounds to 101" in verdict.note


def test_an_absolute_rule_compares_seconds():
    rule = parse_rule("p50:0.002")
    assert judge("c", rule, _case(_rounds(30, 1)), _case(_rounds(30, 2, scale=1.5))).verdict == REGRESSED
    assert judge("c", rule, _case(_rounds(30, 1)), _case(_rounds(30, 2, scale=1.05))).verdict == UNCHANGED


def test_missing_cases_and_samples_are_named_not_compared():
    rule = parse_rule("tpot_p50:10%")
    current = {"only_now": _case(_rounds(10, 1), tpot=_rounds(10, 3)), "single_token": _case(_rounds(10, 1), tpot=[])}
    baseline = {"only_before": _case(_rounds(10, 2)), "single_token": _case(_rounds(10, 2), tpot=[])}
    verdicts = {v.case: v for v in apply_gate(current, baseline, [rule])}
    assert {v.verdict for v in verdicts.values()} == {NOT_COMPARED}
    assert verdicts["only_now"].note == "the case is not in the compared run"
    assert verdicts["only_before"].note == "the case did not run in this session"
    assert "no tpot samples" in verdicts["single_token"].note


def test_a_saved_run_without_samples_is_not_compared():
    verdict = judge("c", parse_rule("p50:10%"), {"p50": 0.01}, _case(_rounds(10, 1)))
    assert verdict.verdict == NOT_COMPARED and "the compared run has no round_seconds samples" in verdict.note


def test_verdicts_are_reproducible():
    rule = parse_rule("p95:10%")
    runs = _case(_rounds(25, 1)), _case(_rounds(25, 2, scale=1.15))
    assert judge("c", rule, *runs) == judge("c", rule, *runs)


def test_the_verdict_table_shows_counts_interval_and_verdict():
    verdicts = apply_gate(
        {"case_a": _case(_rounds(30, 2, scale=1.3))}, {"case_a": _case(_rounds(30, 1))}, [parse_rule("p50:10%")]
    )
    legend, header, _, case, row, *notes = verdict_table(verdicts)
    assert legend.startswith("change: now against before, + is slower") and "raw change" in header
    assert case == "case_a" and row.split()[-1] == "regressed" and float(row.split()[-2].rstrip("%")) > 20
    assert "n=30 before, n=30 now; 99% interval [+" in notes[0]
    assert not math.isnan(verdicts[0].change)


def test_wall_time_that_grew_without_cpu_time_is_the_hosts_not_the_builds():
    """On a CPU device, preemption by another process adds wall time but not the process's CPU time."""
    rule = parse_rule("p50:10%")
    cpu = _rounds(30, 5)
    before = {"samples": {"round_seconds": _rounds(30, 1), "round_cpu_seconds": cpu}}
    preempted = {"samples": {"round_seconds": _rounds(30, 2, scale=1.6), "round_cpu_seconds": _rounds(30, 6)}}
    verdict = judge("c", rule, before, preempted)
    assert verdict.verdict == INCONCLUSIVE and "another process took the cores" in verdict.note
    slower_build = {"samples": {"round_seconds": _rounds(30, 2, scale=1.6), "round_cpu_seconds": _rounds(30, 6, 1.6)}}
    assert judge("c", rule, before, slower_build).verdict == REGRESSED


def test_a_contended_run_cannot_fail_a_per_request_metric():
    rule = parse_rule("ttft_p50:10%")
    before = {"samples": {"ttft": _rounds(30, 1)}}
    now = {"samples": {"ttft": _rounds(30, 2, scale=1.6)}, "noise": ["contended (CPU 40% of wall)"]}
    verdict = judge("c", rule, before, now)
    assert verdict.verdict == INCONCLUSIVE and "contended (CPU 40% of wall)" in verdict.note
    assert judge("c", rule, before, {"samples": now["samples"]}).verdict == REGRESSED


def test_cpu_share_names_a_preempted_case():
    from pytest_ascend_llm.benchmarking.noise import cpu_share, noise_notes

    share = cpu_share([0.10, 0.10, 0.10], [0.04, 0.05, 0.03], threads=1)
    assert share == pytest.approx(0.4)
    assert noise_notes([0.1, 0.1, 0.1], [None], share) == ["contended (CPU 40% of wall)"]
    assert cpu_share([0.10, 0.10], [0.10, 0.098], threads=1) > 0.95


def _drifting_host(n: int, seed: int, host: float, build: float = 1.0) -> dict:
    """A run on a host ``host`` times slower than usual, drifting ±5 % within the run, of a build
    ``build`` times slower: the rounds and the host probe move with the host, only rounds with the build."""
    rng = np.random.default_rng(seed)
    speed = host * (1 + 0.05 * np.sin(np.linspace(0, 3, n)))
    probes = 0.002 * speed * rng.lognormal(0.0, 0.02, n)
    rounds = 0.050 * build * speed * rng.lognormal(0.0, 0.03, n)
    return {"samples": {"round_seconds": list(rounds), "host_probe_seconds": list(probes)}}


def test_a_slower_host_is_not_a_slower_build_when_both_runs_carry_the_host_probe():
    """Measured on this VM: the same build's rounds drift ±12 % with the host, the probe with them."""
    rule = parse_rule("p95:10%")
    before = _drifting_host(60, 1, host=1.0)
    slower_host = _drifting_host(60, 2, host=1.25)
    verdict = judge("c", rule, before, slower_host)
    assert verdict.verdict == UNCHANGED and "the host ran 1.2" in verdict.note and "x slower" in verdict.note
    assert verdict.host_speed == pytest.approx(1.25, rel=0.05) and verdict.raw_change == pytest.approx(1.25, rel=0.1)
    without_probe = {"samples": {"round_seconds": slower_host["samples"]["round_seconds"]}}
    assert judge("c", rule, before, without_probe).verdict == REGRESSED  # what the raw times alone say
    assert judge("c", rule, before, _drifting_host(60, 3, host=1.0, build=1.3)).verdict == REGRESSED
    assert judge("c", rule, before, _drifting_host(60, 4, host=1.25, build=1.3)).verdict == REGRESSED
    assert judge("c", rule, before, _drifting_host(60, 5, host=0.8, build=1.3)).verdict == REGRESSED


def test_host_adjusted_rounds_follow_the_rolling_median_of_the_probe():
    from pytest_ascend_llm.benchmarking.host_probe import host_adjusted, smoothed

    probes = [1.0, 1.0, 9.0, 1.0, 1.0, 2.0, 2.0, 2.0]  # one probe hit by a scheduler tick moves nothing
    assert smoothed(probes) == [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert host_adjusted([10.0] * 4 + [20.0] * 4, probes, reference=1.0) == [10.0] * 8


def test_a_contended_run_cannot_pass_a_case_either():
    """Both cores busy once made a 10x slower model look unchanged: the baseline's rounds were
    preempted as much as the slower model's work. Unchanged or improved from a contended run is
    inconclusive, as a regression from one is."""
    rule = parse_rule("p50:200%")
    contended = {"samples": {"round_seconds": _rounds(30, 1, scale=10)}, "noise": ["contended (CPU 31% of wall)"]}
    slower = {"samples": {"round_seconds": _rounds(30, 2, scale=10)}}
    verdict = judge("c", rule, contended, slower)
    assert verdict.verdict == INCONCLUSIVE and "contended (CPU 31% of wall)" in verdict.note
    assert judge("c", rule, {"samples": contended["samples"]}, slower).verdict == UNCHANGED


def test_a_client_bound_run_is_inconclusive_never_a_server_regression():
    """A 30 % slower run whose load generator was the bottleneck: the gate says so instead of blaming
    the server, and names which run it was."""
    now = _case(_rounds(40, 2, scale=1.3)) | {"client_bound": "the client's event loop ran 9.7 ms late at P99"}
    verdict = judge("c", parse_rule("p95:10%"), _case(_rounds(40, 1)), now)
    assert verdict.verdict == INCONCLUSIVE
    assert "this run was client-bound (the client's event loop ran 9.7 ms late at P99)" in verdict.note
    assert (
        judge("c", parse_rule("p95:10%"), _case(_rounds(40, 1)), _case(_rounds(40, 2, scale=1.3))).verdict == REGRESSED
    )
