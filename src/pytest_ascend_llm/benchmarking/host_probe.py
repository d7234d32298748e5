"""A host-speed control for CPU devices: one fixed reference workload, timed before every round.

On a shared virtual machine the same build's rounds drift by ±12 % over minutes as the physical host's
other tenants come and go, and the process's CPU time drifts with them (the core itself is slower,
not taken away), so no statistic of the rounds alone can tell that drift from a regression. A fixed
workload timed beside each round drifts the same way: measured here, the generation case's block
medians moved from 46 to 59 ms while their ratio to the probe stayed within ±2 %. The gate therefore
compares two runs' rounds at equal host speed (``host_adjusted``) when both carry probe samples.

The probe is dispatch-bound small-matrix work, like a small model's decode step; it runs untimed
(outside the round), costs about a millisecond, and only on CPU devices, where the host is the device.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

PROBE_STEPS = 100
WINDOW = 5  # rounds per rolling median: one probe hit by a scheduler tick moves no round


class HostProbe:
    """``probe()`` → seconds one fixed workload took now; its tensors are made once, with a fixed seed."""

    def __init__(self, steps: int = PROBE_STEPS) -> None:
        from pytest_ascend_llm.torch_backend import torch

        generator = torch.Generator().manual_seed(0)
        self._torch = torch
        self._steps = steps
        self._input = torch.randn(8, 256, generator=generator)
        self._weight = torch.randn(256, 256, generator=generator) / 16

    def __call__(self) -> float:
        torch = self._torch
        with torch.inference_mode():
            start = time.perf_counter()
            value = self._input
            for _ in range(self._steps):
                value = torch.tanh(value @ self._weight)
            return time.perf_counter() - start


def smoothed(probes: Sequence[float], window: int = WINDOW) -> list[float]:
    """Each probe replaced by the median of the ``window`` probes centred on it."""
    half = window // 2
    return [statistics.median(probes[max(0, i - half) : i + half + 1]) for i in range(len(probes))]


def host_speed_ratio(before: Sequence[float], now: Sequence[float]) -> float:
    """How much slower the host ran now than before (median probe time now / before)."""
    return statistics.median(now) / statistics.median(before)


def host_adjusted(rounds: Sequence[float], probes: Sequence[float], reference: float) -> list[float]:
    """Each round's time as it would have been at the ``reference`` probe time (seconds)."""
    return [seconds * reference / probe for seconds, probe in zip(rounds, smoothed(probes), strict=True)]
