"""The saturation plot: goodput, TTFT P95 and TPOT P95 against load for each search, the SLO's limits
dashed, the bracket between the knee and the first failure shaded. A P95 its point's requests cannot
resolve is drawn hollow and labelled unresolved, never as measured (``plot_points``)."""

from __future__ import annotations

import re
from typing import Any

from pytest_ascend_llm.metrics.stats import is_resolved
from pytest_ascend_llm.reporting.plot_points import draw, legend_below, split_points

Record = dict[str, Any]
MS = 1e3
P95 = 95
PANELS = (("TTFT P95, ms", "ttft_p95", "ttft_n", "ttft"), ("TPOT P95, ms", "tpot_p95", "tpot_n", "tpot"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def case_name(record: Record) -> str:
    return str(record["nodeid"]).split("::")[-1]


def saturation_figures(records: list[Record]) -> dict:
    """File name → figure per search with at least two points (``plots.saturation_curves`` saves them)."""
    figures = {}
    for record in records:
        data = (record.get("metrics") or {}).get("saturation")
        points = sorted((data or {}).get("points") or [], key=lambda p: p["load"])
        if len(points) < 2:
            continue
        plt = _pyplot()
        figure, panels = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
        loads = [p["load"] for p in points]
        goodput = panels[0]
        goodput.plot(loads, [p.get("goodput_requests_per_s") for p in points], "o-", color="tab:green", label="goodput")
        goodput.set_ylabel("goodput, req/s (requests within the SLO)")
        limits = data.get("slo_limits") or {}
        for axes, (label, key, count, limit) in zip(panels[1:], PANELS):
            series = [(p["load"], _ms(p.get(key)), is_resolved(P95, int(p.get(count) or 0))) for p in points]
            draw(axes, split_points(label.split(",")[0], series), "s-", "P95", color="tab:red")
            if limits.get(limit):
                axes.axhline(limits[limit] * MS, linestyle="--", color="0.4", label=f"SLO {limit.upper()} limit")
            axes.set_ylabel(label)
        for index, axes in enumerate(panels):
            _load_axis(axes, data, loads, "knee: held → failed" if index == 0 else "_nolegend_")
        figure.suptitle(f"{case_name(record)}: {_title(data)}")
        legend_below(figure, list(panels))
        figures[f"saturation-{re.sub(r'[^A-Za-z0-9_.-]+', '_', case_name(record))}.png"] = figure
    return figures


def _ms(value: object) -> float | None:
    return value * MS if isinstance(value, int | float) else None


def _load_axis(axes, data: Record, loads: list[float], span_label: str) -> None:
    """Log-scaled load, the knee's bracket shaded, zero at the bottom."""
    whole = data["axis"] == "concurrency"
    axes.set_xscale("log", base=2)
    ticks = _spaced(loads)
    axes.set_xticks(ticks, [f"{x:g}" if whole else f"{x:.3g}" for x in ticks], fontsize=7)
    axes.minorticks_off()
    axes.set_xlabel("concurrent streams" if whole else "request rate, req/s (Poisson)")
    if data.get("knee") is not None and data.get("failed") is not None:
        axes.axvspan(data["knee"], data["failed"], color="tab:orange", alpha=0.2, label=span_label)
    axes.margins(y=0.15)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)


def _spaced(loads: list[float], apart: float = 2**0.25) -> list[float]:
    """Tick positions at least ``apart`` times the one before, so the bisection's close points do not overlap."""
    ticks: list[float] = []
    for load in loads:
        if not ticks or load >= ticks[-1] * apart:
            ticks.append(load)
    return ticks


def _title(data: Record) -> str:
    knee, failed = data.get("knee"), data.get("failed")
    if knee is None:
        return "the SLO fails at the lightest load"
    return f"holds up to {knee:.3g}" + (f", fails at {failed:.3g}" if failed is not None else ", up to the bound")
