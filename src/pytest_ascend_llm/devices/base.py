"""The device interface: synchronization, memory counters and a timer correct on async devices."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from pytest_ascend_llm.torch_backend import torch


@dataclass(frozen=True)
class MemorySnapshot:
    """Device memory counters in bytes at one instant (CPU: host RSS stands in for allocated)."""

    allocated: int
    reserved: int
    peak_allocated: int
    total: int
    free: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Timing:
    """Elapsed seconds of a timed block; filled in when the block exits."""

    seconds: float = float("nan")


class Device(ABC):
    """A torch device plus the operations a benchmark needs; subclasses wrap one backend."""

    kind: str  # "npu", "cuda" or "cpu"

    def __init__(self, index: int | None = None) -> None:
        self.index = index

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.kind if self.index is None else f"{self.kind}:{self.index}")

    def __str__(self) -> str:
        return str(self.torch_device)

    @property
    def is_accelerator(self) -> bool:
        return self.kind != "cpu"

    @abstractmethod
    def name(self) -> str:
        """Human-readable device model, e.g. 'Ascend910B2' or the CPU model."""

    @abstractmethod
    def count(self) -> int:
        """How many devices of this kind are visible."""

    @abstractmethod
    def synchronize(self) -> None:
        """Wait until all queued work on the device has finished."""

    @abstractmethod
    def total_memory(self) -> int: ...

    @abstractmethod
    def free_memory(self) -> int: ...

    @abstractmethod
    def memory_allocated(self) -> int: ...

    @abstractmethod
    def memory_reserved(self) -> int: ...

    @abstractmethod
    def max_memory_allocated(self) -> int: ...

    @abstractmethod
    def reset_peak_memory(self) -> None: ...

    @abstractmethod
    def empty_cache(self) -> None: ...

    def memory(self) -> MemorySnapshot:
        return MemorySnapshot(
            allocated=self.memory_allocated(),
            reserved=self.memory_reserved(),
            peak_allocated=self.max_memory_allocated(),
            total=self.total_memory(),
            free=self.free_memory(),
        )

    def now(self) -> float:
        """A timestamp taken after every queued device operation has finished."""
        self.synchronize()
        return time.perf_counter()

    @contextmanager
    def timer(self) -> Iterator[Timing]:
        """Time a block including the device work it queued (synchronizes at both ends)."""
        timing = Timing()
        start = self.now()
        try:
            yield timing
        finally:
            timing.seconds = self.now() - start
