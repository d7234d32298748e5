"""Compact terminal tables: tail latencies per case, and gate failures (pytest-benchmark's table has
no percentiles)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_ascend_llm.benchmarking.gate import Verdict

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
    ("peak_memory_bytes", "peak MiB", 1 / 2**20),
    ("noise", "host noise", None),
)


UNRESOLVED = "(max)"
LEGEND = (
    f"n: timed rounds (serving cases: completed requests), req: requests; {UNRESOLVED}: too few samples for that "
    "percentile to be more than the "
    "maximum (P95 needs 21, P99 101): raise --llm-rounds"
)


def _has(metrics: Mapping[str, object], key: str, scale: float | None) -> bool:
    value = metrics.get(key)
    return bool(value) if scale is None else isinstance(value, int | float)


def _cell(metrics: Mapping[str, object], key: str, scale: float | None) -> str:
    value = metrics.get(key)
    if scale is None:  # notes
        return "; ".join(value) if isinstance(value, list | tuple) else str(value or "")
    if key in (metrics.get("unresolved") or ()):
        return UNRESOLVED
    if isinstance(value, int) and scale == 1:
        return str(value)
    if not isinstance(value, int | float) or value != value:  # missing or NaN
        return "-"
    scaled = value * scale
    return f"{scaled:.3f}" if abs(scaled) < 10 else f"{scaled:.1f}"


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
    return [*lines[1:], LEGEND] if lines else []


def _change(verdict: Verdict, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value - 1:+.1%}" if verdict.rule.relative else f"{value * 1e3:+.3f} ms"


def verdict_table(verdicts: Sequence[Verdict]) -> list[str]:
    """Every gated case: the statistic before and now with sample counts, the change and its 99 % interval,
    the verdict, and for inconclusive or not compared cases what would settle them."""
    rows = []
    for v in verdicts:
        interval = f"[{_change(v, v.low)}, {_change(v, v.high)}]" if v.low is not None else "-"
        before = "-" if v.baseline is None else f"{v.baseline * 1e3:.3f} (n={v.counts[0]})"
        now = "-" if v.current is None else f"{v.current * 1e3:.3f} (n={v.counts[1]})"
        rows.append([v.case, str(v.rule), before, now, _change(v, v.change), interval, v.verdict, v.note])
    return _render(["case", "rule", "before ms", "now ms", "change", "99% interval", "verdict", ""], rows)
