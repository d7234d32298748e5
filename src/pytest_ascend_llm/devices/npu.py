"""Ascend NPUs through torch.npu (torch_npu's allocator is not reached by torch.accelerator)."""

from __future__ import annotations

from types import ModuleType

from pytest_ascend_llm.devices.accelerator import TorchAcceleratorDevice
from pytest_ascend_llm.torch_backend import torch


class NpuDevice(TorchAcceleratorDevice):
    kind = "npu"

    @property
    def module(self) -> ModuleType:
        return torch.npu  # type: ignore[attr-defined]  # added by torch_npu


def visible_npu_count() -> int:
    """NPUs torch_npu can see; 0 when torch_npu did not load."""
    npu = getattr(torch, "npu", None)
    if npu is None:
        return 0
    try:
        return int(npu.device_count()) if npu.is_available() else 0
    except RuntimeError:
        return 0
