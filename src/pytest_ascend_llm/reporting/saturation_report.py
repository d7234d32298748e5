"""The report's saturation section: per search the lines the terminal printed and a table of its points
in the order measured, from the saved metrics alone; the plot against load is ``saturation_plot``."""

from __future__ import annotations

from typing import Any

from pytest_ascend_llm.metrics.stats import is_resolved
from pytest_ascend_llm.reporting.cells import UNRESOLVED, ms, number, table
from pytest_ascend_llm.serving.saturation_lines import axis_of, saturation_lines

Record = dict[str, Any]
P95 = 95


def _p95(point: Record, key: str, count: str) -> str:
    """A point's P95 in ms; (max) where its sample count cannot resolve it."""
    value = point.get(key)
    if isinstance(value, int | float) and not is_resolved(P95, int(point.get(count) or 0)):
        return UNRESOLVED
    return ms(value)


def point_table(data: Record) -> list[str]:
    axis = axis_of(data)
    header = ["load", "verdict", "requests", "n", "TTFT P95 ms", "TPOT P95 ms", "E2E P95 ms", "goodput req/s",
              "output tok/s", "s", "why"]  # fmt: skip
    rows = [
        [axis.unit(p["load"]), "held" if p["held"] else "**failed**", p.get("requests", "-"), p.get("n", "-"),
         _p95(p, "ttft_p95", "ttft_n"), _p95(p, "tpot_p95", "tpot_n"), _p95(p, "p95", "n"),
         number(p.get("goodput_requests_per_s")), number(p.get("output_tokens_per_s")), f"{p.get('seconds', 0):.1f}",
         p["why"]]
        for p in data["points"]
    ]  # fmt: skip
    return table(header, rows)


def saturation_section(tests: list[Record]) -> list[str]:
    """Each search's knee, first failure, planner line and cost, then its points."""
    searches = [t for t in tests if (t.get("metrics") or {}).get("saturation")]
    if not searches:
        return []
    lines = ["## Saturation", "", "A point holds when every request completed and each P95 the SLO limits is "
             f"resolved ({UNRESOLVED}: too few requests) and within its limit. The search doubles the load until a "
             "point fails, then bisects; the knee is the highest point that held.", ""]  # fmt: skip
    for test in searches:
        data = test["metrics"]["saturation"]
        name = str(test["nodeid"]).split("::")[-1]
        lines += [f"### {name}", "", *(f"- {line.strip()}" for line in saturation_lines(name, data)), ""]
        lines += point_table(data)
    return lines
