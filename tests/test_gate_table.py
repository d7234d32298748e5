"""The gate's table as a reader meets it: the raw change and the change at equal host speed in their own
labelled columns, slower = positive in both, every line within the terminal's width. Injected samples for
the arithmetic, one real compare run on the built-in model for the width pytest's terminal uses."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_ascend_llm.benchmarking.gate import REGRESSED, UNCHANGED, judge, parse_rule
from pytest_ascend_llm.benchmarking.table import verdict_table
from pytest_ascend_llm.plugin.results import verdict_record
from pytest_ascend_llm.reporting.gate_report import gate_section
from pytest_ascend_llm.reporting.results_file import read_records

CASE = "pytest_ascend_llm.suite.test_performance::test_perf_generation_end_to_end[short_qa]"


def _run(seed: int, host: float, build: float = 1.0, n: int = 40) -> dict:
    """Rounds of about 1.2 s on a host ``host`` times slower than usual, of a build ``build`` times slower;
    the host probe moves with the host only."""
    rng = np.random.default_rng(seed)
    speed = host * (1 + 0.03 * np.sin(np.linspace(0, 3, n)))
    probes = 0.002 * speed * rng.lognormal(0.0, 0.02, n)
    rounds = 1.2 * build * speed * rng.lognormal(0.0, 0.03, n)
    return {"samples": {"round_seconds": list(rounds), "host_probe_seconds": list(probes)}}


def _cells(lines: list[str]) -> dict[str, str]:
    """The header's columns → the first row's cells (columns are separated by two or more spaces)."""
    header = next(line for line in lines if line.startswith("case / rule"))
    row = next(line for line in lines if line.startswith("  p"))
    return dict(zip(*([c.strip() for c in line.split("  ") if c.strip()] for line in (header, row))))


def test_a_host_twice_as_slow_shows_plus_100_percent_raw_and_about_nothing_at_equal_host_speed():
    verdict = judge(CASE, parse_rule("p50:10%"), _run(1, host=1.0), _run(2, host=2.0))
    assert verdict.verdict == UNCHANGED and verdict.host_speed == pytest.approx(2.0, rel=0.05)
    assert verdict.raw_change == pytest.approx(verdict.current / verdict.baseline) and verdict.raw_change > 1.8
    lines = verdict_table([verdict], width=80)
    assert max(len(line) for line in lines) <= 80, lines
    cells = _cells(lines)
    assert cells["raw change"] == f"{verdict.current / verdict.baseline - 1:+.1%}" and cells["raw change"][0] == "+"
    assert cells["at equal host speed"] == f"{verdict.change - 1:+.1%}" and abs(verdict.change - 1) < 0.05
    assert cells["before ms"] == f"{verdict.baseline * 1e3:,.1f}" and "," in cells["before ms"], "fixed ms, no e+"
    assert cells["verdict"] == "unchanged" and lines[-1].startswith("      "), "the notes wrap below, indented"
    notes = " ".join(line.strip() for line in lines if line.startswith("      "))
    assert "n=40 before, n=40 now" in notes and "99% interval at equal host speed [" in notes
    assert "the host ran 2.0" in notes and "x slower than for the compared run" in notes


def test_signs_say_slower_in_both_columns_whichever_way_the_host_moved():
    rule = parse_rule("p50:10%")
    slower_both = judge(CASE, rule, _run(1, host=1.0), _run(3, host=1.5, build=1.3))
    assert slower_both.verdict == REGRESSED and slower_both.raw_change > 1 and slower_both.change > 1.2
    faster_host = judge(CASE, rule, _run(1, host=1.0), _run(4, host=0.5, build=1.3))
    cells = _cells(verdict_table([faster_host]))
    assert cells["raw change"].startswith("-"), "measured faster: the host sped up more than the build slowed"
    assert cells["at equal host speed"].startswith("+") and cells["verdict"] == "regressed"


def test_the_saved_record_and_the_report_keep_both_changes_and_read_old_records():
    verdict = judge(CASE, parse_rule("p50:10%"), _run(1, host=1.0), _run(2, host=2.0))
    record = verdict_record(verdict)
    assert record["change"] == verdict.change and record["raw_change"] == verdict.raw_change
    assert record["host_speed"] == verdict.host_speed
    old = {k: v for k, v in record.items() if k not in ("raw_change", "host_speed")}  # saved before the split,
    old["note"] = "host probe 2.00x the compared run's, raw change 2.01x; judged at equal host speed"  # said so
    for saved in (record, old):
        table = [line for line in gate_section([{"verdicts": [saved]}]) if line.startswith("| ")]
        header, row = table[0].split(" | "), table[1].split(" | ")
        assert header[4:6] == ["raw change", "at equal host speed"]
        assert row[4:6] == [f"{verdict.raw_change - 1:+.1%}", f"{verdict.change - 1:+.1%}"]


def test_a_real_compare_run_keeps_every_gate_line_within_the_terminal_width(pytester, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    storage = f"--benchmark-storage=file://{pytester.path}/runs"
    suite = ("--pyargs", "pytest_ascend_llm.suite.test_performance", "-k", "prefill and ctx128", "--llm-device",
             "cpu", "--llm-rounds", "5", "-p", "no:cacheprovider", storage)  # fmt: skip
    saved = pytester.runpytest(*suite, "--benchmark-save=base")
    saved.assert_outcomes(passed=1, deselected=saved.parseoutcomes()["deselected"])
    compared = pytester.runpytest(
        *suite, "--benchmark-compare=0001", "--llm-compare-fail", "p50:900%", "--llm-results", "results.jsonl"
    )
    assert compared.ret == 0, compared.stdout.str()
    lines = compared.outlines
    start = next(i for i, line in enumerate(lines) if "tail-latency gate against the compared run" in line)
    end = next(i for i in range(start + 1, len(lines)) if not lines[i] or lines[i].startswith(("===", "ascend-llm:")))
    block = lines[start:end]
    assert max(len(line) for line in block) <= 80, "\n".join(line for line in block if len(line) > 80)
    assert "test_perf_prefill[ctx128]" in block
    [gate] = [r for r in read_records(pytester.path / "results.jsonl") if r["kind"] == "gate"]
    [verdict] = gate["verdicts"]
    cells = _cells(block)
    raw = f"{verdict['now'] / verdict['before'] - 1:+.1%}"
    assert cells["raw change"] == raw == f"{verdict['raw_change'] - 1:+.1%}", "slower = positive, as measured"
    assert verdict["host_speed"] and cells["at equal host speed"] == f"{verdict['change'] - 1:+.1%}", "CPU: probed"
