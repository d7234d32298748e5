"""One device interface over npu, cuda and cpu, so every check is written once."""

from pytest_ascend_llm.devices.base import Device, MemorySnapshot, Timing
from pytest_ascend_llm.devices.detect import DeviceSpec, npu_unavailable_reason, open_device, parse_device

__all__ = [
    "Device",
    "DeviceSpec",
    "MemorySnapshot",
    "Timing",
    "npu_unavailable_reason",
    "open_device",
    "parse_device",
]
