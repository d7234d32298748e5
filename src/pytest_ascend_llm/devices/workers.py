"""One pytest-xdist worker per device: which device a worker gets, decided before torch is imported.

Ascend's runtime reads ASCEND_RT_VISIBLE_DEVICES and CUDA's CUDA_VISIBLE_DEVICES when torch_npu or
torch initialises a device, so the variable must be set in the worker before anything imports torch.
Devices are counted without importing anything: from a list the user already set, else from the
driver's device files (/dev/davinciN on Ascend, /dev/nvidiaN on NVIDIA).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping

from pytest_ascend_llm.devices.visible import VISIBLE, listed_devices
from pytest_ascend_llm.errors import LLMSetupError

DEVICE_FILES = {"npu": "/dev/davinci[0-9]*", "cuda": "/dev/nvidia[0-9]*"}


def driver_devices(kind: str) -> list[str]:
    """Device indices from the driver's files, in order (empty where the driver is absent)."""
    numbers = (re.search(r"(\d+)$", path) for path in glob.glob(DEVICE_FILES[kind]))
    return [str(n) for n in sorted(int(match[1]) for match in numbers if match)]


def visible_devices(kind: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The devices this run may use: the user's list if set (kept in its order), else the driver's."""
    return listed_devices(kind, environ) or driver_devices(kind)


def accelerator_kind(requested: str | None) -> str | None:
    """'npu' or 'cuda' from --llm-device, else whichever this host's driver shows (Ascend first)."""
    if requested:
        kind = requested.split(":")[0].strip().lower()
        return kind if kind in VISIBLE else None
    for kind in ("npu", "cuda"):
        if visible_devices(kind):
            return kind
    return None


def worker_index(worker_id: str) -> int:
    """'gw3' → 3."""
    match = re.fullmatch(r"gw(\d+)", worker_id)
    if match is None:
        raise ValueError(f"not an xdist worker id: {worker_id!r}")
    return int(match[1])


def check_worker_count(kind: str, workers: int, devices: list[str]) -> None:
    """More workers than devices would put two workers on one device: refuse, naming the fix."""
    if workers > len(devices):
        variable = VISIBLE[kind]
        raise LLMSetupError(
            f"{workers} xdist workers but {len(devices)} {kind} device(s) ({variable}={','.join(devices) or 'none'}): "
            f"one worker per device, so use -n {len(devices) or 1} (or -n auto)"
        )


def device_for_worker(kind: str, worker_id: str, workers: int, devices: list[str]) -> str:
    """The one device (from ``devices``) that worker ``worker_id`` of ``workers`` owns."""
    check_worker_count(kind, workers, devices)
    return devices[worker_index(worker_id)]
