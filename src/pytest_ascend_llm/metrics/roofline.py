"""Decode roofline and model bandwidth utilization (MBU), as defined in shared METRICS.md.

A batch-B decode step reads every weight once and each sequence's KV cache: t ≥ bytes / bandwidth.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.torch_backend import torch


@dataclass(frozen=True)
class DecodeRoofline:
    """Bytes one decode step reads, the fastest step the bandwidth allows, and the measured MBU."""

    bytes_per_step: int
    min_bytes_per_step: int
    bandwidth_bytes_per_s: float
    step_seconds: float

    @property
    def min_step_seconds(self) -> float:
        return self.bytes_per_step / self.bandwidth_bytes_per_s

    @property
    def mbu(self) -> float:
        return self.bytes_per_step / self.step_seconds / self.bandwidth_bytes_per_s

    @property
    def exceeds_roofline(self) -> bool:
        """True when the step was faster than even the bytes it must read allow: a timing bug."""
        return self.min_bytes_per_step / self.bandwidth_bytes_per_s > self.step_seconds

    def to_dict(self) -> dict[str, float]:
        return asdict(self) | {"min_step_seconds": self.min_step_seconds, "mbu": self.mbu}


def decode_roofline(
    weight_bytes: int,
    embedding_bytes: int,
    kv_bytes_per_token: int,
    context_lengths: Sequence[int],
    bandwidth_bytes_per_s: float,
    step_seconds: float,
) -> DecodeRoofline:
    """MBU counts all weights (the convention); the bug check leaves out the input embedding table,
    of which a step reads only a few rows, so it can never fire on an honest measurement."""
    kv = kv_bytes_per_token * sum(context_lengths)
    return DecodeRoofline(
        bytes_per_step=weight_bytes + kv,
        min_bytes_per_step=weight_bytes - embedding_bytes + kv,
        bandwidth_bytes_per_s=bandwidth_bytes_per_s,
        step_seconds=step_seconds,
    )


def measure_copy_bandwidth(device: Device, megabytes: int = 512, repeats: int = 5) -> float:
    """Achieved bytes/s of a large device-to-device copy (each byte read once and written once)."""
    count = megabytes * 2**20
    source = torch.empty(count, dtype=torch.uint8, device=device.torch_device)
    target = torch.empty_like(source)
    target.copy_(source)  # warm-up: first touch and allocator
    device.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = device.now()
        target.copy_(source)
        best = min(best, device.now() - start)
    del source, target
    device.empty_cache()
    return 2 * count / max(best, time.get_clock_info("perf_counter").resolution)
