"""The host CPU as a device: memory counters come from the process (psutil, /proc peak RSS)."""

from __future__ import annotations

import platform
import resource
from pathlib import Path

import psutil

from pytest_ascend_llm.benchmarking.noise import usable_cores
from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.torch_backend import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def cpu_model_name() -> str:
    """The CPU model string from /proc/cpuinfo, falling back to platform data."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_cpu_threads() -> int:
    """Half the usable cores, at least 1. With as many threads as cores, one other busy process makes
    every parallel kernel wait for its slowest thread: measured here, a 64-token round went from 0.49 s
    (1 thread) to 2.9 s median, 11.8 s worst (2 threads) on a 2-core host with one busy neighbour."""
    return max(1, usable_cores() // 2)


def apply_cpu_threads(requested: int | None) -> int:
    """Set torch's intra-op thread count (the option, else the default) and return what is in force."""
    torch.set_num_threads(requested or default_cpu_threads())
    return torch.get_num_threads()


def _peak_rss() -> int:
    """Peak resident set size (VmHWM), resettable on Linux via clear_refs."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class CpuDevice(Device):
    kind = "cpu"

    def __init__(self, index: int | None = None) -> None:
        super().__init__(None)
        self._process = psutil.Process()

    def name(self) -> str:
        return cpu_model_name()

    def count(self) -> int:
        return 1

    def synchronize(self) -> None:
        """CPU kernels run synchronously in the calling thread: nothing to wait for."""

    def total_memory(self) -> int:
        return int(psutil.virtual_memory().total)

    def free_memory(self) -> int:
        return int(psutil.virtual_memory().available)

    def memory_allocated(self) -> int:
        return int(self._process.memory_info().rss)

    def memory_reserved(self) -> int:
        return self.memory_allocated()

    def max_memory_allocated(self) -> int:
        return max(_peak_rss(), self.memory_allocated())

    def reset_peak_memory(self) -> None:
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            pass  # not Linux, or not permitted: the peak then covers the whole process life

    def empty_cache(self) -> None:
        """The CPU allocator keeps no cache torch can release."""
