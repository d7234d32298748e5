"""What a reader of the report sees, from one real run of the shipped suite on the built-in model (CPU):
the HTML as a browser gets it (parsed, not string-matched), what the plots draw (read from their figures),
times in fixed units with NaN as '-', and a contended run said in words at the top."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from pytest_ascend_llm.benchmarking.table import latency_table
from pytest_ascend_llm.cli import main
from pytest_ascend_llm.reporting import plots
from pytest_ascend_llm.reporting.build import performance_section, render_html
from pytest_ascend_llm.reporting.gate_report import gate_section
from pytest_ascend_llm.reporting.results_file import read_records

# Five rounds: TPOT samples are 5 x batch, so TPOT P95 (21 samples) is unresolved at bs1, bs2 and bs4 only.
RUN = ("--pyargs", "pytest_ascend_llm.suite", "--llm-device", "cpu", "-p", "no:cacheprovider", "-p", "no:randomly",
       "-k", "batch_scaling or prefix256 or prefix4096 or inference_greedy", "--llm-rounds", "5")  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real session with --llm-report, shared by the tests here (the built-in model, ~30 s on 2 cores)."""
    folder = tmp_path_factory.mktemp("run")
    command = [sys.executable, "-m", "pytest", *RUN, "--llm-report", "out", "--llm-results", "results.jsonl"]
    completed = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return folder


def _tests(folder) -> list[dict]:
    return [record for record in read_records(folder / "results.jsonl") if record["kind"] == "test"]


class Page(HTMLParser):
    """The page as a browser builds it: each table's header and body cells, list items, paragraphs' text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[dict[str, list[list[str]]]] = []
        self.items: list[str] = []
        self.paragraphs: list[str] = []
        self.texts: list[str] = []
        self._open: list[str] = []
        self._row: list[tuple[str, str]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self._open.append(tag)
        if tag == "table":
            self.tables.append({"th": [], "td": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td"):
            self._row.append((tag, ""))  # an empty cell gets no data, but it is a cell
        elif tag in ("li", "p"):
            (self.items if tag == "li" else self.paragraphs).append("")

    def handle_endtag(self, tag):
        if tag == "tr":  # a header row is all <th>, a body row has <td> cells
            kind = "th" if all(cell_tag == "th" for cell_tag, _ in self._row) else "td"
            self.tables[-1][kind].append([text for _, text in self._row])
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data):
        self.texts.append(data)
        where = self._open[-1] if self._open else ""
        if where in ("th", "td"):
            self._row[-1] = (where, self._row[-1][1] + data.strip())
        elif "li" in self._open:
            self.items[-1] += data
        elif "p" in self._open:
            self.paragraphs[-1] += data


def test_the_html_report_has_real_tables_and_lists_and_no_markdown_residue(run):
    page = Page((run / "out" / "report.html").read_text())
    assert len(page.tables) >= 4, "environment, compatibility checks, two performance groups"
    for table in page.tables:
        [header] = table["th"]
        assert header and table["td"] and all(len(row) == len(header) for row in table["td"]), table
    assert not [text for text in page.texts if "---|" in text or "|---" in text], "a separator row shown as text"
    environment = page.tables[0]
    assert environment["th"] == [["what", "value"]] and environment["td"][0][0] == "device"
    assert any(item.strip().startswith("2 skipped: ") for item in page.items), page.items
    assert not [p for p in page.paragraphs if p.lstrip().startswith(("- ", "| ", "#"))], "Markdown as paragraphs"
    assert "|---|" in (run / "out" / "report.md").read_text(), "the Markdown file keeps its tables for a forge"


def test_html_in_a_message_is_shown_as_text():
    page = Page(render_html("| check | reason |\n|---|---|\n| a | E   assert <module> & 1 |\n"))
    assert page.tables[0]["td"] == [["a", "E   assert <module> & 1"]]


def _lines_by_label(axes) -> dict[str, object]:
    return {line.get_label(): line for line in axes.get_lines()}


def test_the_batch_scaling_plot_never_draws_an_unresolved_tpot_p95_as_measured(run):
    tests = _tests(run)
    scaling = {r["metrics"]["batch_size"]: r["metrics"] for r in tests if "batch_scaling" in r["nodeid"]}
    unresolved = sorted(b for b, m in scaling.items() if "tpot_p95" in m["unresolved"])
    measured = sorted(b for b, m in scaling.items() if "tpot_p95" not in m["unresolved"])
    assert unresolved == [1, 2, 4] and measured == [8, 16], "5 rounds: 5 x batch TPOT samples, P95 needs 21"
    figure = plots.batch_scaling_figure(tests)
    lines = _lines_by_label(figure.axes[1])  # the TPOT axis
    assert list(lines["TPOT P95"].get_xdata()) == measured
    hollow = next(line for label, line in lines.items() if "unresolved" in label)
    assert list(hollow.get_xdata()) == unresolved and hollow.get_markerfacecolor() == "none"
    assert hollow.get_linestyle() == "None", "unresolved points are not joined into the measured line"
    assert list(hollow.get_ydata()) == pytest.approx([scaling[b]["tpot_p95"] * 1e3 for b in unresolved])
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert any("unresolved" in text for text in legend) and "TPOT P95" in legend


def test_box_plot_whiskers_are_the_minimum_and_maximum_where_p95_is_unresolved(run):
    tests = [r for r in _tests(run) if "batch_scaling" in r["nodeid"]]
    figure = plots.latency_figures(tests)["latency-test_perf_batch_scaling.png"]
    axes = figure.axes[0]
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert all(label.endswith("(n=5, whiskers min–max)") for label in labels), labels
    for position, record in enumerate(tests, start=1):
        rounds = [value * 1e3 for value in record["metrics"]["samples"]["round_seconds"]]
        ends = [x for line in axes.get_lines() for x in _vertical_at(line, position)]  # caps and median
        assert min(ends) == pytest.approx(min(rounds)) and max(ends) == pytest.approx(max(rounds))


def _vertical_at(line, position: int) -> list[float]:
    xs, ys = list(line.get_xdata()), list(line.get_ydata())
    vertical = len(xs) == 2 and xs[0] == xs[1] and ys[0] != ys[1]
    return [xs[0]] if vertical and abs(sum(ys) / 2 - position) < 0.5 else []


def test_serving_and_soak_plots_mark_percentiles_their_counts_cannot_resolve():
    def serving(streams: int, unresolved: list[str]) -> dict:
        metrics = {"load": f"concurrency {streams}", "output_tokens_per_s": 10.0 * streams, "ttft_p95": 0.01 * streams}
        return {"nodeid": "m::test_serving_concurrency[w-chat]", "metrics": metrics | {"unresolved": unresolved}}

    records = [serving(1, ["ttft_p95"]), serving(2, []), serving(4, [])]
    right = plots.concurrency_figure(records).axes[1]
    lines = _lines_by_label(right)
    assert list(lines["chat"].get_xdata()) == [2, 4]
    assert list(lines["chat: unresolved (too few samples: not a measured P95)"].get_xdata()) == [1]
    windows = [{"index": i, "end": 2.0 * i, "n": n, "e2e_p95": 0.05, "mib": {}} for i, n in ((1, 30), (2, 5), (3, 25))]
    soak = {"nodeid": "m::test_soak", "metrics": {"soak": {"windows": windows, "samples": [], "outcome": "passed"}}}
    [figure] = plots.soak_figures([soak]).values()
    lines = _lines_by_label(figure.axes[1])
    assert list(lines["E2E P95"].get_xdata()) == [2.0, 6.0]
    assert [label for label in lines if "unresolved" in label] and list(
        next(line for label, line in lines.items() if "unresolved" in label).get_xdata()
    ) == [4.0]


def test_the_memory_timeline_legend_sits_below_the_axes_inside_the_picture(run):
    figure = plots.memory_figure(_tests(run))
    figure.canvas.draw()
    [legend] = figure.legends
    box, axes = legend.get_window_extent(), figure.axes[0].get_window_extent()
    picture = figure.bbox
    assert box.y1 <= axes.y0, "the legend covers no line"
    assert picture.x0 <= box.x0 and box.x1 <= picture.x1 and picture.y0 <= box.y0, "and is not cut off"


def test_times_print_in_fixed_ms_and_nan_as_a_dash_in_the_terminal_and_the_report(run):
    slow = {"n": 5, "p50": 1.2043, "p95": 12.5, "p99": 0.0048, "tpot_p95": math.nan, "unresolved": ["p99"]}
    [header, _, row, _legend] = latency_table({"test_perf_slow": slow})
    assert header.split()[-3:] == ["TPOT", "p95", "ms"] and "e+" not in row
    assert row.split()[2:] == ["1,204.3", "12,500.0", "(max)", "-"], "p50, p95, p99 (unresolved), TPOT P95 (NaN)"
    section = performance_section([{"nodeid": "m::test_perf_slow", "outcome": "passed", "metrics": slow}])
    [table] = [line for line in section if line.startswith("| test_perf_slow")]
    assert table.split(" | ")[2:5] == ["1,204.3", "12,500.0", "(max)"] and table.split(" | ")[8] == "-"
    gate = gate_section([{"verdicts": [{"case": "m::c", "rule": "p50:10%", "verdict": "regressed", "before": 1.2043,
                                        "now": 2.4251, "change": 2.01, "low": 1.9, "high": 2.1}]}])  # fmt: skip
    assert "| c | p50:10% | 1,204.3 | 2,425.1 | +101.4% |" in "\n".join(gate), gate
    live = (run / "out" / "report.md").read_text()
    assert main(["report", str(run / "results.jsonl"), "--out", str(run / "rebuilt")]) == 0
    rebuilt = (run / "rebuilt" / "report.md").read_text()
    cold = [line for line in live.splitlines() if line.startswith("| cold-prefix256 |")]
    assert cold and cold == [line for line in rebuilt.splitlines() if line.startswith("| cold-prefix256 |")]
    assert cold[0].split(" | ")[8] == "-", "a 1-token answer has no TPOT: '-' live and rebuilt"
    assert "nan" not in live and "e+0" not in live


def test_a_contended_run_says_so_at_the_top_with_how_many_cases_were_flagged(run, tmp_path):
    records = list(read_records(run / "results.jsonl"))
    cases = [r for r in records if r["kind"] == "test" and r.get("metrics")]
    for index, record in enumerate(cases):  # exactly three flagged, whatever the real run's host went through
        noisy_case = ["contended (CPU 41% of wall)", "busy host (load 4.5 on 2 cores)"]
        record["metrics"]["noise"] = noisy_case if index < 3 else []
    for record in records:
        if record["kind"] == "session":
            record["environment"] |= {"load_average_1m": 4.49, "usable_cores": 2}
    noisy = tmp_path / "noisy.jsonl"
    noisy.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert main(["report", str(noisy), "--out", str(tmp_path / "report")]) == 0
    page = Page((tmp_path / "report" / "report.html").read_text())
    flagged = sum(bool(r["metrics"].get("noise")) for r in cases)
    top = page.paragraphs[1]  # after the run's line, before the environment
    assert top.startswith("This run was contended: the 1-minute load was 4.49 on 2 usable cores when it started")
    assert f"{flagged} of {len(cases)} cases were flagged" in top and "3 preempted by another process" in top
    assert "rerun on an idle host" in top
    assert any(row[-2] == "contended (CPU 41% of wall); busy host (load 4.5 on 2 cores)" for t in page.tables
               for row in t["td"]), "each flagged case's notes in its row"  # fmt: skip


def test_a_run_whose_checks_all_skipped_shows_no_empty_table(pytester):
    """On a host without the device, `-m npu` skips every check: the report says so in words, with no
    header-only grid (a table whose every row was a skip)."""
    result = pytester.runpytest("--pyargs", "pytest_ascend_llm.suite", "-m", "npu", "--llm-report", "out",
                                "-k", "compatibility", "-p", "no:cacheprovider")  # fmt: skip
    assert result.parseoutcomes().get("skipped", 0) >= 1 and "passed" not in result.parseoutcomes()
    page = Page((pytester.path / "out" / "report.html").read_text())
    empty = [table for table in page.tables if not any(cell for row in table["td"] for cell in row)]
    assert not empty, f"a table with a header and no rows: {empty}"
    assert any(" skipped: no usable Ascend NPU" in item for item in page.items), page.items
