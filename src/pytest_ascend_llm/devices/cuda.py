"""NVIDIA GPUs through torch.cuda."""

from __future__ import annotations

from types import ModuleType

from pytest_ascend_llm.devices.accelerator import TorchAcceleratorDevice
from pytest_ascend_llm.torch_backend import torch


class CudaDevice(TorchAcceleratorDevice):
    kind = "cuda"

    @property
    def module(self) -> ModuleType:
        return torch.cuda
