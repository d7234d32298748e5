"""Sample device and host memory in the background while work runs.

Peaks come from the device allocator's own counters (reset on entry), which catch spikes between
samples; the samples only draw the timeline and the fragmentation (reserved − allocated).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psutil

from pytest_ascend_llm.devices.base import Device


@dataclass(frozen=True)
class MemorySample:
    seconds: float
    allocated: int
    reserved: int
    host_rss: int


@dataclass
class MemoryReport:
    """What a block of work held: allocator peak, sampled timeline, host RSS and fragmentation."""

    device: str
    start_allocated: int
    peak_allocated: int
    timeline: list[MemorySample] = field(default_factory=list)

    @property
    def peak_reserved(self) -> int:
        return max((s.reserved for s in self.timeline), default=0)

    @property
    def peak_host_rss(self) -> int:
        return max((s.host_rss for s in self.timeline), default=0)

    @property
    def peak_fragmentation(self) -> int:
        """Largest reserved − allocated seen: memory the caching allocator holds but no tensor uses."""
        return max((s.reserved - s.allocated for s in self.timeline), default=0)

    def summary(self) -> dict[str, int | str]:
        return {
            "device": self.device,
            "start_allocated_bytes": self.start_allocated,
            "peak_allocated_bytes": self.peak_allocated,
            "peak_reserved_bytes": self.peak_reserved,
            "peak_fragmentation_bytes": self.peak_fragmentation,
            "peak_host_rss_bytes": self.peak_host_rss,
            "samples": len(self.timeline),
        }


class MemoryMonitor:
    """``with MemoryMonitor(device) as monitor: ...`` then ``monitor.report``."""

    def __init__(self, device: Device, interval: float = 0.05) -> None:
        self.device = device
        self.interval = interval
        self.report: MemoryReport | None = None
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def _sample(self) -> MemorySample:
        return MemorySample(
            seconds=time.perf_counter() - self._start,
            allocated=self.device.memory_allocated(),
            reserved=self.device.memory_reserved(),
            host_rss=self._process.memory_info().rss,
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.report.timeline.append(self._sample())

    def __enter__(self) -> MemoryMonitor:
        self.device.synchronize()
        self.device.reset_peak_memory()
        self._start = time.perf_counter()
        first = self._sample()
        self.report = MemoryReport(str(self.device), first.allocated, first.allocated, [first])
        self._thread = threading.Thread(target=self._run, name="llm-memory-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.device.synchronize()
        self.report.timeline.append(self._sample())
        # On CPU the kernel updates its RSS high-water mark lazily, so the samples can see more.
        sampled = max(sample.allocated for sample in self.report.timeline)
        self.report.peak_allocated = max(self.device.max_memory_allocated(), sampled)
