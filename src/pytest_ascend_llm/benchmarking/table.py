"""Compact terminal tables: tail latencies per case, and gate failures (pytest-benchmark's table has
no percentiles)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_ascend_llm.benchmarking.gate import Regression

COLUMNS = (
    ("p50", "p50 ms", 1e3),
    ("p95", "p95 ms", 1e3),
    ("p99", "p99 ms", 1e3),
    ("tokens_per_s", "tok/s", 1),
    ("ttft_p95", "TTFT p95 ms", 1e3),
    ("tpot_p95", "TPOT p95 ms", 1e3),
    ("itl_p99", "ITL p99 ms", 1e3),
    ("mbu", "MBU", 1),
    ("speedup_vs_batch1", "×bs1", 1),
    ("accept_length", "accept len", 1),
    ("acceptance_rate", "accept rate", 1),
    ("speedup", "speed-up", 1),
    ("peak_memory_bytes", "peak MiB", 1 / 2**20),
)


def _cell(value: object, scale: float) -> str:
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
        used = [c for c in COLUMNS if any(isinstance(m.get(c[0]), int | float) for m in rows.values())]
        cells = [
            [params, *(_cell(metrics.get(key), scale) for key, _, scale in used)] for params, metrics in rows.items()
        ]
        lines += ["", *_render([function, *(title for _, title, _ in used)], cells)]
    return lines[1:]


def regression_table(regressions: Sequence[Regression]) -> list[str]:
    rows = [
        [r.case, str(r.rule), f"{r.baseline * 1e3:.3f}", f"{r.current * 1e3:.3f}", f"{r.change:+.1%}"]
        for r in regressions
    ]
    return _render(["case", "rule", "before ms", "now ms", "change"], rows)
