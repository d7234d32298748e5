"""The report's Markdown tables and cells, printed as the terminal prints them: times in fixed ms
(``1,204.3``, never ``1.2e+03``), NaN as ``-``, a percentile too thin to be more than the maximum as (max)."""

from __future__ import annotations

from pytest_ascend_llm.units import format_ms, plain_number

UNRESOLVED = "(max)"


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A GitHub-flavoured Markdown table (Python-Markdown's tables extension reads the same), then a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def ms(value: object) -> str:
    """Seconds as ms ('-' when missing or NaN)."""
    return format_ms(value) if isinstance(value, int | float) else "-"


def metric_ms(metrics: dict, key: str) -> str:
    """A saved metric in ms, or (max) when the metrics list it as unresolved."""
    if not isinstance(metrics.get(key), int | float):
        return "-"
    return UNRESOLVED if key in (metrics.get("unresolved") or ()) else ms(metrics[key])


def number(value: object, digits: int = 4) -> str:
    """Significant digits without an exponent ('1,332', '0.0566'); '-' when missing or NaN."""
    return plain_number(value, digits) if isinstance(value, int | float) else "-"
