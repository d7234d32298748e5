"""The report's soak section: per soak case its verdicts (the lines the terminal printed) and a table of
its windows, from the saved metrics alone; the plot of memory and P95 per window is ``plots.soak_windows``."""

from __future__ import annotations

from typing import Any

from pytest_ascend_llm.metrics.stats import is_resolved
from pytest_ascend_llm.reporting.cells import UNRESOLVED, ms, table
from pytest_ascend_llm.soak.lines import soak_lines

Record = dict[str, Any]


def _ms(value: object, q: float | None = None, count: int = 0) -> str:
    """A window's figure in ms; a percentile its window's completed requests cannot resolve is (max)."""
    if q is not None and isinstance(value, int | float) and not is_resolved(q, count):
        return UNRESOLVED
    return ms(value)


def _mib(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"


def window_table(soak: Record) -> list[str]:
    windows = soak.get("windows") or []
    sources = list(dict.fromkeys(name for w in windows for name in (w.get("mib") or {})))
    header = ["window", "ends s", "requests", "errors", "n", "TTFT P95 ms", "E2E P50 ms", "E2E P95 ms",
              *(f"{name} MiB" for name in sources)]  # fmt: skip
    rows = [
        [w["index"], f"{w['end']:.1f}", w["requests"], w["errors"], w["n"], _ms(w.get("ttft_p95"), 95, w["n"]),
         _ms(w.get("e2e_p50"), 50, w["n"]), _ms(w.get("e2e_p95"), 95, w["n"]),
         *(_mib((w.get("mib") or {}).get(s)) for s in sources)]
        for w in windows
    ]  # fmt: skip
    return table(header, rows)


def soak_section(tests: list[Record]) -> list[str]:
    """Each soak's verdict lines, then its windows (the first is warm-up: left out of the slopes)."""
    soaks = [t for t in tests if (t.get("metrics") or {}).get("soak")]
    if not soaks:
        return []
    lines = ["## Soak", "", "Slopes are Theil–Sen fits after the first window, with 95 % intervals; drift is the "
             "last window's E2E P95 over the first's, with a seeded bootstrap interval.", ""]  # fmt: skip
    for test in soaks:
        soak = test["metrics"]["soak"]
        name = str(test["nodeid"]).split("::")[-1]
        lines += [f"### {name}", "", *(f"- {line.strip()}" for line in soak_lines(name, soak)), ""]
        lines += window_table(soak)
    return lines
