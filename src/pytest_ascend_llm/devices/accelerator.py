"""Shared implementation for torch accelerators whose module mirrors torch.cuda (torch.cuda, torch.npu)."""

from __future__ import annotations

from types import ModuleType

from pytest_ascend_llm.devices.base import Device


class TorchAcceleratorDevice(Device):
    """A device driven through a torch.cuda-shaped module; the subclass says which module."""

    def __init__(self, index: int | None = 0) -> None:
        super().__init__(0 if index is None else index)

    @property
    def module(self) -> ModuleType:
        raise NotImplementedError

    def name(self) -> str:
        return str(self.module.get_device_name(self.index))

    def count(self) -> int:
        return int(self.module.device_count())

    def synchronize(self) -> None:
        self.module.synchronize(self.index)

    def total_memory(self) -> int:
        return int(self.module.get_device_properties(self.index).total_memory)

    def free_memory(self) -> int:
        free, _total = self.module.mem_get_info(self.index)
        return int(free)

    def memory_allocated(self) -> int:
        return int(self.module.memory_allocated(self.index))

    def memory_reserved(self) -> int:
        return int(self.module.memory_reserved(self.index))

    def max_memory_allocated(self) -> int:
        return int(self.module.max_memory_allocated(self.index))

    def reset_peak_memory(self) -> None:
        self.module.reset_peak_memory_stats(self.index)

    def empty_cache(self) -> None:
        self.module.empty_cache()
