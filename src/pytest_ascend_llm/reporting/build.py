"""The report a team reads after a device run, built from the results file's records alone (so it can
be rebuilt after a crash): ``report.md`` (renders on a Git forge and in a CI job summary), the same as
``report.html``, and PNG plots beside them.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_ascend_llm.metrics.stats import PERCENTILES
from pytest_ascend_llm.reporting.cells import UNRESOLVED
from pytest_ascend_llm.reporting.cells import metric_ms as _ms
from pytest_ascend_llm.reporting.cells import number as _number
from pytest_ascend_llm.reporting.cells import table as _table
from pytest_ascend_llm.reporting.gate_report import gate_section
from pytest_ascend_llm.reporting.noise_report import busy_start, noise_lines
from pytest_ascend_llm.reporting.outputs_report import changes_section, outputs_section
from pytest_ascend_llm.reporting.plots import all_plots, group_of
from pytest_ascend_llm.reporting.saturation_report import saturation_section
from pytest_ascend_llm.reporting.soak_report import soak_section
from pytest_ascend_llm.reporting.startup_report import startup_section

Record = dict[str, Any]
STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:0.5em 0 1em}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
    "th{background:#f0f0f0;text-align:left}tbody tr:nth-child(even){background:#fafafa}"
    "code{background:#f3f3f3;padding:0 3px}img{max-width:100%}"
)


def environment_section(sessions: list[Record]) -> list[str]:
    if not sessions:
        return ["No session record: the run ended before its first test finished.", ""]
    env = sessions[0]["environment"]
    rows = [
        ["device", f"{env.get('device_kind')} {env.get('device_name') or ''} x{env.get('device_count') or 1}"],
        ["model", f"{env.get('model_id')} ({env.get('dtype')}, engine {env.get('engine')})"],
        ["stack", ", ".join(f"{k} {env.get(k) or '-'}" for k in ("torch", "torch_npu", "cann", "driver"))],
        ["libraries", ", ".join(f"{k} {env.get(k) or '-'}" for k in ("transformers", "sglang", "vllm"))],
        [
            "host",
            f"{env.get('cpu_model')}, torch threads {env.get('torch_threads')} of {env.get('usable_cores')}, "
            f"1-min load {env.get('load_average_1m')} at the start{' (busy)' if busy_start(sessions) else ''}",
        ],  # fmt: skip
        ["python / OS", f"{env.get('python')} / {env.get('os')}"],
    ]
    inventory = env.get("inventory") or {}
    if inventory:
        rows.append(["cards", inventory.get("summary") or f"unavailable ({inventory.get('unavailable')})"])
    if env.get("server"):
        server = env["server"]
        rows.append(["server", f"{server.get('engine')} at {server.get('endpoint')}, models {server.get('models')}"])
    if len(sessions) > 1:
        rows.append(["workers", ", ".join(f"{s.get('worker')}" for s in sessions)])
    return ["## Environment", "", *_table(["what", "value"], rows)]


def _is_case(test: Record) -> bool:
    return bool(test.get("metrics")) or bool(test.get("benchmark"))


def skipped_lines(tests: list[Record]) -> list[str]:
    """Skips folded by reason, as pytest's -rs does."""
    reasons: dict[str, int] = defaultdict(int)
    for test in tests:
        if test["outcome"] == "skipped":
            reasons[test.get("message") or "no reason given"] += 1
    return [f"- {count} skipped: {reason}" for reason, count in reasons.items()] + ([""] if reasons else [])


def compatibility_section(tests: list[Record]) -> list[str]:
    checks = [t for t in tests if not _is_case(t)]
    if not checks:
        return []
    rows = [
        [group_of(t)[0] + (f"[{group_of(t)[1]}]" if group_of(t)[1] else ""), _verdict(t), t.get("device") or "-",
         f"{t.get('duration', 0):.2f}", t.get("message") or ""]
        for t in checks if t["outcome"] != "skipped"
    ]  # fmt: skip
    passed = sum(t["outcome"] == "passed" for t in checks)
    head = f"{passed} of {len(checks)} passed."
    table = _table(["check", "result", "device", "s", "reason"], rows) if rows else []  # all skipped: no empty grid
    return ["## Compatibility checks", "", head, "", *table, *skipped_lines(checks)]


def _verdict(test: Record) -> str:
    return {"passed": "passed", "skipped": "skipped", "failed": "**FAILED**"}.get(test["outcome"], test["outcome"])


def performance_section(tests: list[Record]) -> list[str]:
    cases = [t for t in tests if t.get("metrics")]
    skipped = [t for t in tests if _is_case(t) and not t.get("metrics")]
    if not cases and not skipped:
        return []
    groups: dict[str, list[Record]] = defaultdict(list)
    for test in cases:
        groups[group_of(test)[0]].append(test)
    legend = (
        "Percentiles carry their sample count (n: rounds, or completed requests for serving cases; req: "
        f"requests). {UNRESOLVED}: too few samples for that percentile to be more than the maximum."
    )
    lines = ["## Performance cases", "", legend, ""]
    for group, members in groups.items():
        serving = any("load" in t["metrics"] for t in members)
        header = ["case", "n", *[f"P{q} ms" for q in PERCENTILES if q != 90], "tok/s", "req", "TTFT P95 ms",
                  "TPOT P95 ms", "MBU", "W", "J/token", "peak MiB", "result"]  # fmt: skip
        if serving:
            header[-1:-1] = ["req/s", "goodput req/s", "failed", "client"]
        if any(t["metrics"].get("noise") for t in members):
            header[-1:-1] = ["host noise"]
        by_device = len({(t.get("worker"), t.get("device")) for t in members}) > 1
        if by_device:
            header.insert(1, "ran on")
        rows = []
        for test in members:
            m = test["metrics"]
            peak = (test.get("properties") or {}).get("memory", {}).get("peak_allocated_bytes")
            row = [group_of(test)[1] or group, m.get("n", "-"), _ms(m, "p50"), _ms(m, "p95"), _ms(m, "p99"),
                   _number(m.get("tokens_per_s")), m.get("ttft_n", "-"), _ms(m, "ttft_p95"), _ms(m, "tpot_p95"),
                   _number(m.get("mbu"), 3), _number(m.get("power_w_mean"), 3), _number(m.get("energy_j_per_token"), 3),
                   _number(peak / 2**20 if peak else None), _verdict(test)]  # fmt: skip
            if serving:
                row[-1:-1] = [_number(m.get("requests_per_s")), _number(m.get("goodput_requests_per_s")),
                              m.get("failed", "-"), client_cell(m)]  # fmt: skip
            if "host noise" in header:
                row[-1:-1] = ["; ".join(m.get("noise") or ()) or "-"]
            if by_device:
                row.insert(1, f"{test.get('device') or '-'} ({test.get('worker')})")
            rows.append(row)
        lines += [f"### {group}", "", *_table(header, rows)]
        bound = [f"- **client-bound** `{group_of(t)[1] or group}`: {t['metrics']['client_bound']}" for t in members
                 if t["metrics"].get("client_bound")]  # fmt: skip
        lines += ["", *bound] if bound else []
    return lines + skipped_lines(skipped)


def client_cell(metrics: Record) -> str:
    """'client-bound', or the load generator's own figures that say it kept up."""
    if metrics.get("client_bound"):
        return "**client-bound**"
    if "client_workers" not in metrics:
        return "-"
    cpu = max(metrics.get("client_cpu_per_worker") or [0.0])
    lag = metrics.get("client_loop_lag_p99_ms")
    return f"{metrics['client_workers']} worker(s), CPU ≤ {cpu:.0%}, loop lag P99 {_number(lag, 3)} ms"


def render_markdown(records: list[Record], plots: dict[str, list[str]]) -> str:
    sessions = [r for r in records if r.get("kind") == "session"]
    tests = [r for r in records if r.get("kind") == "test"]
    gates = [r for r in records if r.get("kind") == "gate"]
    ends = [r for r in records if r.get("kind") == "end"]
    run = records[0].get("run", "?") if records else "?"
    state = (
        f"finished with exit status {ends[-1]['exitstatus']}"
        if ends
        else "**did not finish** (crashed or was killed): everything below was measured before that"
    )
    counts = defaultdict(int)
    for test in tests:
        counts[test["outcome"]] += 1
    lines = ["# ascend-llm report", "",
             f"Run `{run}`, {len(tests)} tests ({', '.join(f'{n} {o}' for o, n in sorted(counts.items()))}); "
             f"{state}. Built {time.strftime('%Y-%m-%d %H:%M:%S')}.", ""]  # fmt: skip
    lines += noise_lines(sessions, tests)
    compares = [r for r in records if r.get("kind") == "compare"]
    lines += environment_section(sessions) + changes_section(compares) + compatibility_section(tests)
    lines += startup_section(tests)
    lines += performance_section(tests) + soak_section(tests) + saturation_section(tests)
    lines += gate_section(gates) + outputs_section(tests)
    if plots:
        lines += ["## Plots", ""]
        for title, names in plots.items():
            lines += [f"### {title}", ""] + [f"![{title}]({name})" for name in names] + [""]
    return "\n".join(lines)


def render_html(markdown: str) -> str:
    """The same content as a page, rendered by Python-Markdown with its tables extension (what a forge
    shows). Raw HTML in the text, such as an error message quoting ``<module>``, is shown as text."""
    import markdown as python_markdown  # here, not at the top: only a report build needs it

    converter = python_markdown.Markdown(extensions=["tables"], output_format="html")
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    body = converter.convert(markdown)
    return f"<!doctype html><meta charset=utf-8><title>ascend-llm report</title><style>{STYLE}</style>\n{body}\n"


def build_report(records: list[Record], folder: str | Path) -> Path:
    """Write report.md, report.html and the plots into ``folder``; append the Markdown to the CI job
    summary when ``$GITHUB_STEP_SUMMARY`` is set. Returns the Markdown file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tests = [r for r in records if r.get("kind") == "test"]
    markdown = render_markdown(records, all_plots(tests, folder))
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    (folder / "report.html").write_text(render_html(markdown), encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        text = "\n".join(line for line in markdown.splitlines() if not line.startswith("!["))  # images are files here
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return folder / "report.md"
