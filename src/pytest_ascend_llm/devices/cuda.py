"""NVIDIA GPUs through torch.cuda."""

from __future__ import annotations

from types import ModuleType

import torch

from pytest_ascend_llm.devices.accelerator import TorchAcceleratorDevice


class CudaDevice(TorchAcceleratorDevice):
    kind = "cuda"

    @property
    def module(self) -> ModuleType:
        return torch.cuda
