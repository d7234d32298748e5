"""PNG plots where a picture reads better than a table (matplotlib, headless). Each function takes the
run's test records and returns the file it wrote, or None when the run has nothing to draw for it."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

Record = dict[str, Any]
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
    figure.tight_layout()
    figure.savefig(folder / name, dpi=110)
    _pyplot().close(figure)
    return name


def latency_distributions(records: list[Record], folder: Path) -> list[str]:
    """One box plot per performance test function: every case's round (or request) latencies."""
    groups: dict[str, list[tuple[str, list[float]]]] = defaultdict(list)
    serving: set[str] = set()
    for record in records:
        metrics = record.get("metrics") or {}
        samples = (metrics.get("samples") or {}).get("round_seconds")
        if samples:
            group, params = group_of(record)
            groups[group].append((params or group, [value * MS for value in samples]))
            if "load" in metrics:
                serving.add(group)
    written = []
    plt = _pyplot()
    for group, cases in groups.items():
        figure, axes = plt.subplots(figsize=(8, 0.5 * len(cases) + 1.6))
        axes.boxplot([values for _, values in cases], orientation="horizontal", whis=(5, 95), showfliers=True)
        axes.set_yticks(range(1, len(cases) + 1), [f"{label} (n={len(values)})" for label, values in cases])
        what = "E2E latency per request" if group in serving else "latency per round"
        axes.set_xlabel(f"{what}, ms (box: P25–P75, whiskers: P5–P95)")
        axes.set_title(f"{group}: latency distribution")
        axes.grid(axis="x", alpha=0.3)
        written.append(_save(figure, folder, f"latency-{group}.png"))
    return written


def batch_scaling(records: list[Record], folder: Path) -> str | None:
    points = sorted(
        (int(m["batch_size"]), m)
        for r in records
        if group_of(r)[0] == "test_perf_batch_scaling" and (m := r.get("metrics")) and m.get("batch_size")
    )
    if len(points) < 2:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    batches = [batch for batch, _ in points]
    axes.plot(batches, [m["tokens_per_s"] for _, m in points], "o-", color="tab:blue", label="throughput")
    axes.set_xscale("log", base=2)
    axes.set_xticks(batches, [str(b) for b in batches])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("batch size (sequences)")
    axes.set_ylabel("output tokens/s", color="tab:blue")
    tpot = [(b, m.get("tpot_p95")) for b, m in points if m.get("tpot_p95")]
    if tpot:
        twin = axes.twinx()
        twin.plot([b for b, _ in tpot], [v * MS for _, v in tpot], "s--", color="tab:red", label="TPOT P95")
        twin.set_ylabel("TPOT P95, ms", color="tab:red")
    axes.set_title("Batch scaling: throughput and per-token latency")
    axes.grid(alpha=0.3)
    return _save(figure, folder, "batch-scaling.png")


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
            axes.step([first for first, _, _ in buckets] + [buckets[-1][1]],
                      [v * MS for *_, v in buckets] + [buckets[-1][2] * MS], where="post")  # fmt: skip
            axes.set_xlabel("output token position")
            axes.set_ylabel("time per output token, ms (median round)")
            axes.set_ylim(bottom=0)
            axes.set_title(f"{case_name(record)}: TPOT by output position")
            axes.grid(alpha=0.3)
            return _save(figure, folder, "tpot-by-position.png")
    return None


def memory_timeline(records: list[Record], folder: Path, most: int = 6) -> str | None:
    timed = [r for r in records if r.get("memory_timeline") and len(r["memory_timeline"]) >= 2]
    if not timed:
        return None
    timed.sort(key=lambda r: max(point[1] for point in r["memory_timeline"]), reverse=True)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for record in timed[:most]:
        points = record["memory_timeline"]
        axes.plot([p[0] for p in points], [p[1] * MIB for p in points], label=case_name(record)[:50])
    axes.set_xlabel("seconds since the test's call began")
    axes.set_ylabel("device memory allocated, MiB (CPU: process RSS)")
    axes.set_title(f"Memory timeline of the {min(most, len(timed))} tests with the highest peaks")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    return _save(figure, folder, "memory-timeline.png")


def power_timeline(records: list[Record], folder: Path, most: int = 6) -> str | None:
    """Board power over each case (accelerators only), for the cases with the most samples."""
    sampled = [r for r in records if len((r.get("metrics") or {}).get("power_samples") or ()) >= 2]
    if not sampled:
        return None
    sampled.sort(key=lambda r: len(r["metrics"]["power_samples"]), reverse=True)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for record in sampled[:most]:
        points = record["metrics"]["power_samples"]
        axes.plot([t for t, _ in points], [w for _, w in points], label=case_name(record)[:50])
    axes.set_xlabel("seconds since the case's rounds began")
    axes.set_ylabel("board power, W")
    axes.set_ylim(bottom=0)
    axes.set_title("Power during the cases (J/token in the tables)")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    return _save(figure, folder, "power-timeline.png")


def concurrency_sweep(records: list[Record], folder: Path) -> str | None:
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
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for workload, points in lines.items():
        points.sort(key=lambda point: point[0])
        streams = [c for c, _ in points]
        left.plot(streams, [m.get("output_tokens_per_s") for _, m in points], "o-", label=workload)
        right.plot(streams, [(m.get("ttft_p95") or float("nan")) * MS for _, m in points], "o-", label=workload)
    ticks = sorted({c for points in lines.values() for c, _ in points})
    for axes, label in ((left, "output tokens/s"), (right, "TTFT P95, ms")):
        axes.set_xscale("log", base=2)
        axes.set_xticks(ticks, [str(c) for c in ticks])
        axes.set_ylim(bottom=0)
        axes.set_xlabel("concurrent streams")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    left.set_title("Throughput against concurrency")
    right.set_title("Time to first token (P95) against concurrency")
    return _save(figure, folder, "concurrency-sweep.png")


def prefix_cache_speedup(records: list[Record], folder: Path) -> str | None:
    ttft: dict[int, dict[str, float]] = defaultdict(dict)
    for record in records:
        group, params = group_of(record)
        metrics = record.get("metrics") or {}
        match = re.match(r"(cold|warm)-prefix(\d+)$", params)
        if group == "test_perf_prefix_cache_ttft" and match and metrics.get("ttft_p50"):
            ttft[int(match[2])][match[1]] = metrics["ttft_p50"]
    lengths = sorted(n for n, pair in ttft.items() if {"cold", "warm"} <= set(pair))
    if not lengths:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot(lengths, [ttft[n]["cold"] * MS for n in lengths], "o-", label="cold (no cache)")
    axes.plot(lengths, [ttft[n]["warm"] * MS for n in lengths], "o-", label="warm (prefix cached)")
    for n in lengths:
        speedup = f"{ttft[n]['cold'] / ttft[n]['warm']:.1f}x"
        axes.annotate(speedup, (n, ttft[n]["warm"] * MS), textcoords="offset points", xytext=(0, 8), ha="center")
    axes.set_xscale("log", base=2)
    axes.set_xticks(lengths, [str(n) for n in lengths])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("shared prefix length, tokens")
    axes.set_ylabel("TTFT P50, ms")
    axes.set_title("Prefix cache: TTFT with and without a cached prefix (speed-up annotated)")
    axes.legend()
    axes.grid(alpha=0.3)
    return _save(figure, folder, "prefix-cache.png")


def soak_windows(records: list[Record], folder: Path) -> list[str]:
    """Per soak case: each memory source and the E2E P95 per window, the warm-up window shaded."""
    written = []
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
        latency.plot(ends, [(w.get("e2e_p95") or float("nan")) * MS for w in windows], "s-", color="tab:red")
        for axes in (memory, latency):
            axes.axvspan(0, windows[0]["end"], color="0.9", label="warm-up (not in the slope)")
            axes.grid(alpha=0.3)
        memory.set_ylabel("MiB since the first window's end")
        memory.legend(fontsize=7)
        memory.set_title(f"{case_name(record)}: {soak.get('outcome')}")
        latency.set_ylabel("E2E P95, ms")
        latency.margins(y=0.15)
        latency.set_ylim(bottom=0)
        latency.set_xlabel("seconds since the soak began")
        written.append(_save(figure, folder, f"soak-{re.sub(r'[^A-Za-z0-9_.-]+', '_', case_name(record))}.png"))
    return written


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
    }
    return {title: [name for name in names if name] for title, names in plots.items() if any(names)}
