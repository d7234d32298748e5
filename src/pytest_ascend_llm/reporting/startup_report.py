"""The report's start-up section: per graph mode, what the start cost and the first request against the
warm ones, from the start-up cases' saved metrics (one start per run: figures, no verdict)."""

from __future__ import annotations

from typing import Any

from pytest_ascend_llm.benchmarking.startup_lines import BASIS, is_startup
from pytest_ascend_llm.reporting.cells import number, table

Record = dict[str, Any]
# column, metric, scale (None: a ratio)
COLUMNS = (
    ("load s", "load_s", 1.0),
    ("load GB/s", "load_gbps", 1.0),
    ("compile s", "compile_s", 1.0),
    ("launch → healthy s", "launch_to_healthy_s", 1.0),
    ("healthy → first token s", "healthy_to_first_token_s", 1.0),
    ("first TTFT ms", "first_ttft_s", 1e3),
    ("first E2E ms", "first_e2e_s", 1e3),
    ("warm P50 TTFT ms", "warm_ttft_p50_s", 1e3),
    ("warm P50 E2E ms", "warm_e2e_p50_s", 1e3),
    ("warm n", "warm_n", 1.0),
    ("first/warm TTFT", "first_over_warm_ttft", 1.0),
    ("first/warm E2E", "first_over_warm_e2e", 1.0),
)


def _cell(metrics: Record, key: str, scale: float) -> str:
    value = metrics.get(key)
    return number(value * scale) if isinstance(value, int | float) else "-"


def startup_section(tests: list[Record]) -> list[str]:
    """A table of the start-up cases, with their notes (what was not measured, and why)."""
    starts = [t for t in tests if is_startup(t.get("metrics"))]
    if not starts:
        return []
    header = ["graph mode", *(column for column, _, _ in COLUMNS), "notes"]
    rows = [
        [t["metrics"].get("startup_mode", "?"), *(_cell(t["metrics"], key, scale) for _, key, scale in COLUMNS),
         "; ".join(t["metrics"].get("startup_notes") or ()) or "-"]
        for t in starts
    ]  # fmt: skip
    return ["## Start-up and the first request", "", f"Basis: {BASIS}.", "", *table(header, rows)]
