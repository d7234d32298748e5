"""One device interface over npu, cuda and cpu, so every check is written once.

Names load on first use (PEP 562): ``settings`` parses device strings through ``devices.detect``
while pytest loads the plugin, and that must not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_ascend_llm.lazy import lazy_attributes

if TYPE_CHECKING:
    from pytest_ascend_llm.devices.base import Device, MemorySnapshot, Timing
    from pytest_ascend_llm.devices.detect import DeviceSpec, npu_unavailable_reason, open_device, parse_device

_HOMES = {
    "Device": "base",
    "MemorySnapshot": "base",
    "Timing": "base",
    "DeviceSpec": "detect",
    "npu_unavailable_reason": "detect",
    "open_device": "detect",
    "parse_device": "detect",
}
__all__ = [
    "Device",
    "DeviceSpec",
    "MemorySnapshot",
    "Timing",
    "npu_unavailable_reason",
    "open_device",
    "parse_device",
]

__getattr__ = lazy_attributes(__name__, _HOMES)
