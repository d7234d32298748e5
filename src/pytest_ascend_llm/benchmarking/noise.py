"""Host noise, recorded and flagged beside the numbers it affects (as pyperf warns of unstable runs).

A shared host makes timings lie in two ways: other processes compete for the cores (the load average
exceeds the usable cores), or the rounds themselves scatter. Both are noted per case; neither changes
a number.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

UNSTABLE_SPREAD = 0.10  # pyperf: a standard deviation above 10 % of the mean is an unstable benchmark
CONTENDED_SHARE = 0.85  # a CPU-bound round computing less than this share of its wall time was preempted
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TORCH_NUM_THREADS")


def load_average() -> float | None:
    """The 1-minute load average (runnable processes, this one included), or None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask; containers and taskset narrow it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_settings() -> dict[str, str]:
    """The thread-count variables that change how CPU kernels run, as set for this process."""
    return {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}


def cpu_share(round_seconds: Sequence[float], cpu_seconds: Sequence[float], threads: int) -> float | None:
    """The median fraction of wall time the process computed, per thread it runs on: near 1 for a
    CPU-bound round that had its cores, well below when another process took them."""
    shares = [cpu / wall / max(1, threads) for wall, cpu in zip(round_seconds, cpu_seconds) if wall > 0]
    return statistics.median(shares) if shares else None


def noise_notes(
    round_seconds: Sequence[float], loads: Sequence[float | None], contention: float | None = None
) -> list[str]:
    """'busy host (load 3.1 on 2 cores)', 'contended (CPU 62% of wall)' and/or 'unstable (stdev 23% of
    mean)' for one case, else []. ``contention`` is the CPU share of a CPU-device case (None elsewhere)."""
    notes = []
    if contention is not None and contention < CONTENDED_SHARE:
        notes.append(f"contended (CPU {contention:.0%} of wall)")
    seen = [load for load in loads if load is not None]
    cores = usable_cores()
    if seen and max(seen) > cores:
        notes.append(f"busy host (load {max(seen):.1f} on {cores} cores)")
    if len(round_seconds) >= 2:
        mean = statistics.fmean(round_seconds)
        spread = statistics.stdev(round_seconds) / mean if mean > 0 else 0.0
        if spread > UNSTABLE_SPREAD:
            notes.append(f"unstable (stdev {spread:.0%} of mean)")
    return notes
