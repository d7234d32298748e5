"""Is the host busy right now? A benchmark on a host whose cores are taken measures the sharing.

Two readings, either of which blocks: the 1-minute load average above the usable cores (``/proc/loadavg``,
under an injectable root for tests), and, on the real host, other processes using more than half a core
over a short sample (psutil), named with their share. The load average lags by a minute and counts
waiting I/O; the sample sees what is running now.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_ascend_llm.benchmarking.noise import usable_cores

OTHERS_LIMIT_CORES = 0.5  # other processes' CPU, in cores, above which the host counts as busy
SAMPLE_SECONDS = 0.5


@dataclass(frozen=True)
class HostLoad:
    load_1m: float | None
    usable_cores: int
    others_cores: float | None  # None: not sampled (an injected root is not this host)
    top: tuple[tuple[int, str, float], ...] = ()  # (pid, name, cores) of the busiest other processes

    def busy_reason(self) -> str | None:
        """One line naming what makes the host busy, or None."""
        reasons = []
        if self.load_1m is not None and self.load_1m > self.usable_cores:
            reasons.append(f"1-min load average {self.load_1m:.2f} on {self.usable_cores} usable core(s)")
        if self.others_cores is not None and self.others_cores > OTHERS_LIMIT_CORES:
            named = ", ".join(f"pid {pid} ({name}) {cores:.2f}" for pid, name, cores in self.top)
            reasons.append(f"other processes use {self.others_cores:.2f} core(s) now: {named}")
        if not reasons:
            return None
        return "; ".join(reasons) + " (stop them, or benchmark on an idle host)"


def _load_1m(root: Path) -> float | None:
    try:
        return float((root / "proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _others(seconds: float) -> tuple[float, tuple[tuple[int, str, float], ...]]:
    """Other processes' CPU in cores over ``seconds`` (this process left out)."""
    import psutil

    watched = []
    for process in psutil.process_iter(["name"]):
        if process.pid == os.getpid():
            continue
        try:
            process.cpu_percent(None)
            watched.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    time.sleep(seconds)
    shares = []
    for process in watched:
        try:
            shares.append((process.pid, process.info.get("name") or "?", process.cpu_percent(None) / 100))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    shares.sort(key=lambda share: share[2], reverse=True)
    return sum(cores for *_, cores in shares), tuple(share for share in shares[:3] if share[2] >= 0.05)


def read_host_load(root: Path = Path("/"), sample_seconds: float = SAMPLE_SECONDS) -> HostLoad:
    """The load average under ``root``; the other processes' share only when ``root`` is this host's."""
    root = Path(root)
    sampled = _others(sample_seconds) if root == Path("/") and sample_seconds > 0 else None
    others, top = sampled if sampled is not None else (None, ())
    return HostLoad(_load_1m(root), usable_cores(), others, top)
