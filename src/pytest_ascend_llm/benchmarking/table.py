"""Compact terminal tables: tail latencies per case, and gate failures (pytest-benchmark's table has
no percentiles)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from pytest_ascend_llm.benchmarking.gate import Verdict
from pytest_ascend_llm.units import fixed, format_ms

COLUMNS = (
    ("n", "n", 1),
    ("p50", "p50 ms", 1e3),
    ("p95", "p95 ms", 1e3),
    ("p99", "p99 ms", 1e3),
    ("tokens_per_s", "tok/s", 1),
    ("ttft_n", "req", 1),
    ("ttft_p95", "TTFT p95 ms", 1e3),
    ("tpot_p95", "TPOT p95 ms", 1e3),
    ("itl_p99", "ITL p99 ms", 1e3),
    ("mbu", "MBU", 1),
    ("speedup_vs_batch1", "×bs1", 1),
    ("accept_length", "accept len", 1),
    ("acceptance_rate", "accept rate", 1),
    ("speedup", "speed-up", 1),
    ("power_w_mean", "W", 1),
    ("energy_j_per_token", "J/tok", 1),
    ("requests_per_s", "req/s", 1),
    ("goodput_requests_per_s", "goodput req/s", 1),
    ("achieved_concurrency", "concurrency", 1),
    ("failed", "failed", 1),
    ("client_bound", "client", None),
    ("peak_memory_bytes", "peak MiB", 1 / 2**20),
    ("noise", "host noise", None),
)


UNRESOLVED = "(max)"
CLIENT_BOUND = "client-bound"
LEGEND = (
    f"n: timed rounds (serving cases: completed requests), req: requests; {UNRESOLVED}: too few samples for that "
    "percentile to be more than the "
    "maximum (P95 needs 21, P99 101): raise "
)
ROUNDS_KNOB, SERVING_KNOB = "--llm-rounds", "--llm-serving-requests N"


def legend(cases: Mapping[str, Mapping[str, object]]) -> str:
    """The footnote naming the knob that adds samples to the cases shown: a serving case's samples are
    requests (its metrics carry a ``load``), so raising the rounds would not help it."""
    serving = [("load" in metrics) for metrics in cases.values()]
    if all(serving):
        return LEGEND + SERVING_KNOB
    return LEGEND + ROUNDS_KNOB + (f" (serving cases: {SERVING_KNOB})" if any(serving) else "")


GATE_LEGEND = "change: now against before, + is slower"
HOST_LEGEND = "; at equal host speed: each round scaled by the host probe (CPU), the change the verdict judges"


def _has(metrics: Mapping[str, object], key: str, scale: float | None) -> bool:
    value = metrics.get(key)
    return bool(value) if scale is None else isinstance(value, int | float)


def _cell(metrics: Mapping[str, object], key: str, scale: float | None) -> str:
    value = metrics.get(key)
    if key == "client_bound":  # the reason is long: it is said below the table
        return CLIENT_BOUND if value else ""
    if scale is None:  # notes
        return "; ".join(value) if isinstance(value, list | tuple) else str(value or "")
    if key in (metrics.get("unresolved") or ()):
        return UNRESOLVED
    if isinstance(value, int) and scale == 1:
        return str(value)
    if not isinstance(value, int | float):
        return "-"
    return fixed(value * scale)  # NaN prints '-', as in the report


def _render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def latency_table(cases: Mapping[str, Mapping[str, object]]) -> list[str]:
    """One block per test function, one row per parameter set, and in each block only the columns its
    cases have: a decode step has no TTFT, a prefill no MBU, so no line is wider than it needs."""
    groups: dict[str, dict[str, Mapping[str, object]]] = {}
    for name, metrics in cases.items():
        function, _, params = name.partition("[")
        groups.setdefault(function.removeprefix("test_perf_"), {})[params.rstrip("]") or "-"] = metrics
    lines: list[str] = []
    for function, rows in groups.items():
        used = [c for c in COLUMNS if any(_has(m, c[0], c[2]) for m in rows.values())]
        cells = [[params, *(_cell(m, key, scale) for key, _, scale in used)] for params, m in rows.items()]
        lines += ["", *_render([function, *(title for _, title, _ in used)], cells)]
    bound = [f"{CLIENT_BOUND} {name}: {m['client_bound']}" for name, m in cases.items() if m.get("client_bound")]
    return [*lines[1:], legend(cases), *bound] if lines else []


def change_text(value: object, relative: bool) -> str:
    """A change with slower = positive: '+101.4%' (a ratio, relative rules) or '+1.204 ms' (seconds); '-'
    when missing or NaN. The terminal's gate table and the report's gate section both print with this."""
    if not isinstance(value, int | float) or value != value:
        return "-"
    if relative:
        return f"{value - 1:+.1%}"
    return f"{'-' if value < 0 else '+'}{format_ms(abs(value))} ms"


def _change(verdict: Verdict, value: float | None) -> str:
    return change_text(value, verdict.rule.relative)


def _notes(v: Verdict) -> str:
    """What the row leaves out: the sample counts, the interval the verdict rests on, and the gate's note."""
    parts = [f"n={v.counts[0]} before, n={v.counts[1]} now"] if any(v.counts) else []
    if v.low is not None:
        where = " at equal host speed" if v.host_adjusted else ""
        parts.append(f"99% interval{where} [{_change(v, v.low)}, {_change(v, v.high)}]")
    return "; ".join([*parts, v.note] if v.note else parts)


def verdict_table(verdicts: Sequence[Verdict], width: int = 80) -> list[str]:
    """Every gated case: a line naming it, then per rule the statistic before and now, the raw change and
    (CPU devices, both runs probed) the change at equal host speed the verdict judged, and the verdict;
    the counts, the 99 % interval and what would settle an open case wrapped below, within ``width``."""
    adjusted = any(v.host_adjusted for v in verdicts)
    header = ["case / rule", "before ms", "now ms", "raw change", *(["at equal host speed"] * adjusted), "verdict"]
    blocks: dict[str, list[tuple[list[str], str]]] = {}
    for v in verdicts:
        cells = ["  " + str(v.rule), "-" if v.baseline is None else format_ms(v.baseline),
                 "-" if v.current is None else format_ms(v.current), _change(v, v.raw_change)]  # fmt: skip
        if adjusted:
            cells.append(_change(v, v.change) if v.host_adjusted else "-")
        blocks.setdefault(v.case.split("::")[-1], []).append(([*cells, v.verdict], _notes(v)))
    table = _render(header, [cells for block in blocks.values() for cells, _ in block])
    lines, rows = [*_wrapped(GATE_LEGEND + HOST_LEGEND * adjusted, width), *table[:2]], iter(table[2:])
    for case, block in blocks.items():
        lines += _wrapped(case, width)
        for _, notes in block:
            lines.append(next(rows).rstrip())
            lines += textwrap.wrap(
                notes, max(width, 40), initial_indent=" " * 6, subsequent_indent=" " * 6, break_on_hyphens=False
            )  # options such as --llm-rounds stay whole
    return lines


def _wrapped(line: str, width: int) -> list[str]:
    """A line longer than ``width`` (the legend, a long case name) broken at spaces, continuations indented."""
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, subsequent_indent="    ", break_on_hyphens=False) or [line]
