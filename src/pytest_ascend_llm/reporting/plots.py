"""PNG plots where a picture reads better than a table (matplotlib, headless). Each function takes the
run's test records and returns the file it wrote, or None when the run has nothing to draw for it; the
``*_figure(s)`` functions behind them build the figures, so a test can read what a plot draws. A percentile
its sample count cannot resolve is drawn hollow and labelled unresolved, never as measured (``plot_points``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_ascend_llm.metrics.stats import is_resolved, min_samples
from pytest_ascend_llm.reporting.plot_points import draw, legend_below, metric_points, resolved, window_points
from pytest_ascend_llm.reporting.saturation_plot import saturation_figures

Record = dict[str, Any]
WHISKER = 95  # whiskers at P5-P95 where the case's samples resolve them, else at the minimum and maximum
MS = 1e3
MIB = 1 / 2**20


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def case_name(record: Record) -> str:
    return str(record["nodeid"]).split("::")[-1]


def group_of(record: Record) -> tuple[str, str]:
    """('test_perf_prefill', 'ctx128') from a node id's last part."""
    match = re.match(r"(?P<group>[^\[]+)(?:\[(?P<params>.*)\])?$", case_name(record))
    return match["group"], match["params"] or ""


def _save(figure, folder: Path, name: str) -> str:
    if figure.get_layout_engine() is None:  # constrained layouts place their outside legends themselves
        figure.tight_layout()
    figure.savefig(folder / name, dpi=110)
    _pyplot().close(figure)
    return name


def latency_distributions(records: list[Record], folder: Path) -> list[str]:
    """One box plot per performance test function: every case's round (or request) latencies."""
    return [_save(figure, folder, name) for name, figure in latency_figures(records).items()]


def latency_figures(records: list[Record]) -> dict:
    """File name → box-plot figure per test function; whiskers at P5–P95 only for cases whose samples
    resolve those percentiles (21), else at the minimum and maximum, as each case's label says."""
    from matplotlib import cbook

    groups: dict[str, list[tuple[str, list[float]]]] = defaultdict(list)
    serving: set[str] = set()
    for record in records:
        metrics = record.get("metrics") or {}
        samples = (metrics.get("samples") or {}).get("round_seconds")
        if samples:
            group, params = group_of(record)
            groups[group].append((params or "all rounds", [value * MS for value in samples]))
            if "load" in metrics:
                serving.add(group)
    figures = {}
    plt = _pyplot()
    for group, cases in groups.items():
        figure, axes = plt.subplots(figsize=(8, 0.5 * len(cases) + 1.8))
        stats, labels = [], []
        for label, values in cases:
            tails = is_resolved(WHISKER, len(values))
            stats.append(cbook.boxplot_stats(values, whis=(100 - WHISKER, WHISKER) if tails else (0, 100))[0])
            labels.append(f"{label} (n={len(values)}{'' if tails else ', whiskers min–max'})")
        axes.bxp(stats, orientation="horizontal", showfliers=True)
        axes.set_yticks(range(1, len(cases) + 1), labels)
        what = "E2E latency per request" if group in serving else "latency per round"
        whiskers = f"whiskers: P5–P95, or min–max below {min_samples(WHISKER)} samples"
        axes.set_xlabel(f"{what}, ms\n(box: P25–P75, {whiskers})")
        axes.set_title(f"{group}: latency distribution")
        axes.grid(axis="x", alpha=0.3)
        figures[f"latency-{group}.png"] = figure
    return figures


def batch_scaling(records: list[Record], folder: Path) -> str | None:
    figure = batch_scaling_figure(records)
    return _save(figure, folder, "batch-scaling.png") if figure else None


def batch_scaling_figure(records: list[Record]):
    """Throughput (left axis) and TPOT P95 (right axis) against batch size; the legend below the axes."""
    points = sorted(
        ((int(m["batch_size"]), m)
         for r in records
         if group_of(r)[0] == "test_perf_batch_scaling" and (m := r.get("metrics")) and m.get("batch_size")),
        key=lambda point: point[0],
    )  # fmt: skip
    if len(points) < 2:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.6), layout="constrained")
    batches = [batch for batch, _ in points]
    axes.plot(batches, [m["tokens_per_s"] for _, m in points], "o-", color="tab:blue", label="throughput")
    axes.set_xscale("log", base=2)
    axes.set_xticks(batches, [str(b) for b in batches])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("batch size (sequences)")
    axes.set_ylabel("output tokens/s", color="tab:blue")
    tpot = metric_points("TPOT P95", points, "tpot_p95", MS)
    if tpot.measured or tpot.unresolved:
        twin = axes.twinx()
        draw(twin, tpot, "s--", "P95", color="tab:red")
        twin.set_ylabel("TPOT P95, ms", color="tab:red")
        twin.set_ylim(bottom=0)
    axes.set_title("Batch scaling: throughput and per-token latency")
    axes.grid(alpha=0.3)
    legend_below(figure, figure.axes)
    return figure


def tpot_by_position(records: list[Record], folder: Path) -> str | None:
    for record in records:
        metrics = record.get("metrics") or {}
        buckets = sorted(
            (int(match[1]), int(match[2]), value)
            for key, value in metrics.items()
            if (match := re.match(r"tpot_tokens_(\d+)_(\d+)$", key)) and value
        )
        if len(buckets) >= 2:
            plt = _pyplot()
            figure, axes = plt.subplots(figsize=(7, 4))
            measured = is_resolved(50, int(metrics.get("n") or 0))  # each bucket is the median over the rounds
            axes.step([first for first, _, _ in buckets] + [buckets[-1][1]],
                      [v * MS for *_, v in buckets] + [buckets[-1][2] * MS], where="post",
                      linestyle="-" if measured else ":",
                      label=None if measured else "unresolved: fewer than 3 rounds, not a measured median")  # fmt: skip
            if not measured:
                axes.legend(fontsize=8)
            axes.set_xlabel("output token position")
            axes.set_ylabel("time per output token, ms (median round)")
            axes.set_ylim(bottom=0)
            axes.set_title(f"{case_name(record)}: TPOT by output position")
            axes.grid(alpha=0.3)
            return _save(figure, folder, "tpot-by-position.png")
    return None


def memory_timeline(records: list[Record], folder: Path, most: int = 6) -> str | None:
    figure = memory_figure(records, most)
    return _save(figure, folder, "memory-timeline.png") if figure else None


def memory_figure(records: list[Record], most: int = 6):
    """The tests with the highest peaks, their names in a legend below the axes (long names, many lines)."""
    timed = [r for r in records if r.get("memory_timeline") and len(r["memory_timeline"]) >= 2]
    if not timed:
        return None
    timed.sort(key=lambda r: max(point[1] for point in r["memory_timeline"]), reverse=True)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5.2), layout="constrained")
    for record in timed[:most]:
        points = record["memory_timeline"]
        axes.plot([p[0] for p in points], [p[1] * MIB for p in points], label=case_name(record)[:60])
    axes.set_xlabel("seconds since the test's call began")
    axes.set_ylabel("device memory allocated, MiB\n(CPU: process RSS)")
    axes.set_title(f"Memory timeline of the {min(most, len(timed))} tests with the highest peaks")
    axes.grid(alpha=0.3)
    legend_below(figure, [axes])
    return figure


def power_timeline(records: list[Record], folder: Path, most: int = 6) -> str | None:
    """Board power over each case (accelerators only), for the cases with the most samples."""
    sampled = [r for r in records if len((r.get("metrics") or {}).get("power_samples") or ()) >= 2]
    if not sampled:
        return None
    sampled.sort(key=lambda r: len(r["metrics"]["power_samples"]), reverse=True)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 5.2), layout="constrained")
    for record in sampled[:most]:
        points = record["metrics"]["power_samples"]
        axes.plot([t for t, _ in points], [w for _, w in points], label=case_name(record)[:60])
    axes.set_xlabel("seconds since the case's rounds began")
    axes.set_ylabel("board power, W")
    axes.set_ylim(bottom=0)
    axes.set_title("Power during the cases (J/token in the tables)")
    axes.grid(alpha=0.3)
    legend_below(figure, [axes])
    return _save(figure, folder, "power-timeline.png")


def concurrency_sweep(records: list[Record], folder: Path) -> str | None:
    figure = concurrency_figure(records)
    return _save(figure, folder, "concurrency-sweep.png") if figure else None


def concurrency_figure(records: list[Record]):
    """Throughput and TTFT P95 against concurrent streams, one line per workload."""
    lines: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for record in records:
        metrics = record.get("metrics") or {}
        match = re.match(r"concurrency (\d+)$", str(metrics.get("load", "")))
        if match and group_of(record)[0] == "test_serving_concurrency":
            workload = group_of(record)[1].split("-")[-1]
            lines[workload].append((int(match[1]), metrics))
    if not any(len(points) >= 2 for points in lines.values()):
        return None
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), layout="constrained")
    for workload, points in lines.items():
        points.sort(key=lambda point: point[0])
        streams = [c for c, _ in points]
        left.plot(streams, [m.get("output_tokens_per_s") for _, m in points], "o-", label=workload)
        draw(right, metric_points(workload, points, "ttft_p95", MS), "o-", "P95")
    ticks = sorted({c for points in lines.values() for c, _ in points})
    for axes, label in ((left, "output tokens/s"), (right, "TTFT P95, ms")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(ticks, [str(c) for c in ticks])
        axes.set_ylim(bottom=0)
        axes.set_xlabel("concurrent streams")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    left.set_title("Throughput against concurrency")
    right.set_title("Time to first token (P95) against concurrency")
    return figure


def prefix_cache_speedup(records: list[Record], folder: Path) -> str | None:
    figure = prefix_cache_figure(records)
    return _save(figure, folder, "prefix-cache.png") if figure else None


def prefix_cache_figure(records: list[Record]):
    """TTFT P50 cold and warm by prefix length; the speed-up under each length, where both are resolved."""
    ttft: dict[int, dict[str, dict]] = defaultdict(dict)
    for record in records:
        group, params = group_of(record)
        metrics = record.get("metrics") or {}
        match = re.match(r"(cold|warm)-prefix(\d+)$", params)
        if group == "test_perf_prefix_cache_ttft" and match and metrics.get("ttft_p50"):
            ttft[int(match[2])][match[1]] = metrics
    lengths = sorted(n for n, pair in ttft.items() if {"cold", "warm"} <= set(pair))
    if not lengths:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.4))
    for state, label in (("cold", "cold (no cache)"), ("warm", "warm (prefix cached)")):
        draw(axes, metric_points(label, [(n, ttft[n][state]) for n in lengths], "ttft_p50", MS), "o-", "P50")
    axes.set_xscale("log", base=2)
    axes.set_xticks(lengths, [f"{n}\n{_speedup(ttft[n])}" for n in lengths])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("shared prefix length, tokens (warm speed-up below each)")
    axes.set_ylabel("TTFT P50, ms")
    axes.set_title("Prefix cache: TTFT with and without a cached prefix")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return figure


def _speedup(pair: dict[str, dict]) -> str:
    if not all(resolved(pair[state], "ttft_p50") for state in ("cold", "warm")):
        return "unresolved"
    return f"{pair['cold']['ttft_p50'] / pair['warm']['ttft_p50']:.1f}x faster"


def soak_windows(records: list[Record], folder: Path) -> list[str]:
    """Per soak case: each memory source and the E2E P95 per window, the warm-up window shaded."""
    return [_save(figure, folder, name) for name, figure in soak_figures(records).items()]


def soak_figures(records: list[Record]) -> dict:
    """File name → figure per soak case; a window's P95 is hollow where its requests cannot resolve it."""
    figures = {}
    for record in records:
        soak = (record.get("metrics") or {}).get("soak")
        windows = (soak or {}).get("windows") or []
        if len(windows) < 2:
            continue
        plt = _pyplot()
        figure, (memory, latency) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
        ends = [w["end"] for w in windows]
        samples = soak.get("samples") or []
        for source in dict.fromkeys(name for sample in samples for name in sample["mib"]):
            values = [(sample["time"], sample["mib"].get(source)) for sample in samples]
            base = next((v for t, v in values if v is not None and t >= ends[0]), 0.0)  # levels differ: the change
            shown = [(t, v - base) for t, v in values if v is not None]
            label = source if source in (soak.get("judged") or ()) else f"{source} (not judged)"
            memory.plot([t for t, _ in shown], [v for _, v in shown], ".-", label=label)
        draw(latency, window_points("E2E P95", windows, "e2e_p95", 95, MS), "s-", "P95", color="tab:red")
        for axes in (memory, latency):
            axes.axvspan(0, windows[0]["end"], color="0.9", label="warm-up (not in the slope)")
            axes.grid(alpha=0.3)
        memory.set_ylabel("MiB since the first window's end")
        memory.legend(fontsize=7)
        memory.set_title(f"{case_name(record)}: {soak.get('outcome')}")
        latency.set_ylabel("E2E P95, ms")
        if any(not is_resolved(95, w.get("n", 0)) for w in windows):
            latency.legend(fontsize=7)
        latency.margins(y=0.15)
        latency.set_ylim(bottom=0)
        latency.set_xlabel("seconds since the soak began")
        figures[f"soak-{re.sub(r'[^A-Za-z0-9_.-]+', '_', case_name(record))}.png"] = figure
    return figures


def saturation_curves(records: list[Record], folder: Path) -> list[str]:
    """Per saturation search: goodput, TTFT P95 and TPOT P95 against load (``saturation_plot``)."""
    return [_save(figure, folder, name) for name, figure in saturation_figures(records).items()]


def all_plots(records: list[Record], folder: Path) -> dict[str, list[str]]:
    """Every plot the run has data for, by section."""
    plots = {
        "Latency distributions": latency_distributions(records, folder),
        "Batch scaling": [batch_scaling(records, folder)],
        "TPOT by output position": [tpot_by_position(records, folder)],
        "Memory timeline": [memory_timeline(records, folder)],
        "Power timeline": [power_timeline(records, folder)],
        "Concurrency sweep": [concurrency_sweep(records, folder)],
        "Prefix-cache speed-up": [prefix_cache_speedup(records, folder)],
        "Soak: memory and P95 per window": soak_windows(records, folder),
        "Saturation: goodput and P95 against load": saturation_curves(records, folder),
    }
    return {title: [name for name in names if name] for title, names in plots.items() if any(names)}
