"""How the plots draw a percentile: measured where its sample count resolves it, and otherwise as a hollow
marker labelled unresolved, never as a measured point (the rule the tables follow with ``(max)``).

With linear interpolation the q-th percentile of fewer than ``min_samples(q)`` samples is in effect the
maximum (``metrics/stats.py``); a line through such points would draw the tail of a handful of rounds as
if it were a P95. The points are computed apart from the drawing, so a test can read what was drawn.
Legends with many or long labels go below the axes (``legend_below``), where they cover no line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_ascend_llm.metrics.stats import is_resolved

UNRESOLVED_LABEL = "unresolved (too few samples: not a measured {what})"
Record = dict[str, Any]


@dataclass(frozen=True)
class PercentilePoints:
    """One plotted series split by whether each point's percentile is resolved."""

    label: str
    measured: list[tuple[float, float]]
    unresolved: list[tuple[float, float]]


def resolved(metrics: Record, key: str) -> bool:
    """False where the saved metrics list ``key`` (``tpot_p95``) as too thin to be more than the maximum."""
    return key not in (metrics.get("unresolved") or ())


def split_points(label: str, points: Sequence[tuple[float, float | None, bool]]) -> PercentilePoints:
    """(x, value, resolved) triples, values already in the plot's unit; missing or NaN values are left out."""
    kept = [(x, y, ok) for x, y, ok in points if isinstance(y, int | float) and y == y]
    return PercentilePoints(label, [(x, y) for x, y, ok in kept if ok], [(x, y) for x, y, ok in kept if not ok])


def metric_points(label: str, rows: Sequence[tuple[float, Record]], key: str, scale: float) -> PercentilePoints:
    """The saved metric ``key`` of each (x, metrics) row, scaled, split by the metrics' own ``unresolved``."""
    return split_points(label, [(x, _scaled(m.get(key), scale), resolved(m, key)) for x, m in rows])


def window_points(label: str, windows: Sequence[Record], key: str, q: float, scale: float) -> PercentilePoints:
    """A soak window's percentile at its end: resolved when the window's completed requests resolve it."""
    return split_points(label, [(w["end"], _scaled(w.get(key), scale), is_resolved(q, w.get("n", 0))) for w in windows])


def _scaled(value: object, scale: float) -> float | None:
    return value * scale if isinstance(value, int | float) else None


def draw(axes, points: PercentilePoints, style: str, what: str, **line) -> None:
    """The measured points joined as ``style`` ('o-'); the unresolved ones as hollow markers of the same
    colour and shape, not joined, labelled so the legend says they are not measured."""
    marker = style.rstrip("-:. ") or "o"
    label = points.label if points.measured else "_nolegend_"
    drawn = axes.plot(*_columns(points.measured), style, label=label, **line)
    colour = drawn[0].get_color()
    if points.unresolved:
        axes.plot(
            *_columns(points.unresolved), marker, linestyle="none", markerfacecolor="none", color=colour,
            label=f"{points.label}: " + UNRESOLVED_LABEL.format(what=what),
        )  # fmt: skip


def _columns(pairs: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    return [x for x, _ in pairs], [y for _, y in pairs]


def legend_below(figure, axes_list, fontsize: float = 8) -> None:
    """One legend for every axes, outside them below, so it never covers a line or gets cut off."""
    handles, labels = [], []
    for axes in axes_list:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            handles.append(handle)
            labels.append(label)
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=fontsize, frameon=False)
