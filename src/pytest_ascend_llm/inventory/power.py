"""Board power sampled in the background while a case runs, for average watts and joules per token;
on an NPU also AICore and HBM-bandwidth utilisation from `npu-smi info -t usages`, where the driver
offers it (older drivers do not: the sampler then keeps power only).

The vendor tool is run every ``interval`` seconds (npu-smi's and nvidia-smi's power readings update
about once a second, so sampling faster adds cost, not information). A tool that fails stops the
sampler and leaves the reason; the case itself is never affected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pytest_ascend_llm.inventory.reading import read_inventory, read_npu_usages
from pytest_ascend_llm.inventory.records import Inventory, InventoryUnavailable


class PowerSampler:
    """``with PowerSampler("npu", 0) as power: ...``; then ``power.samples`` [(seconds, watts)], ``mean_watts``."""

    def __init__(
        self,
        kind: str,
        card_index: int,
        interval: float = 0.5,
        read: Callable[[str], Inventory] = read_inventory,
    ) -> None:
        self.kind, self.card_index, self.interval, self.read = kind, card_index, interval, read
        self.samples: list[tuple[float, float]] = []
        self.usages: list[tuple[float, float | None, float | None]] = []  # (seconds, AICore %, HBM bandwidth %)
        self.usages_problem: str | None = None
        self.problem: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def _watts(self) -> float | None:
        cards = [c for c in self.read(self.kind).cards if c.index == self.card_index and c.power_w is not None]
        return sum(card.power_w for card in cards) if cards else None  # a card's chips add up

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                watts = self._watts()
            except InventoryUnavailable as error:
                self.problem = str(error)
                return
            if watts is None:
                self.problem = f"{self.kind} card {self.card_index} reports no power reading"
                return
            self.samples.append((time.monotonic() - self._start, watts))
            if self.kind == "npu" and self.usages_problem is None:
                self._sample_usages()
            self._stop.wait(self.interval)

    def _sample_usages(self) -> None:
        try:
            chips = read_npu_usages(self.card_index)
        except InventoryUnavailable as error:
            self.usages_problem = str(error)
            return
        if chips:
            self.usages.append((time.monotonic() - self._start, chips[0].aicore_pct, chips[0].hbm_bandwidth_pct))

    def __enter__(self) -> PowerSampler:
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="ascend-llm-power", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    @property
    def mean_watts(self) -> float | None:
        return sum(w for _, w in self.samples) / len(self.samples) if self.samples else None


def joules_per_token(mean_watts: float | None, seconds: float, tokens: int) -> float | None:
    """Average power × the time the tokens took / the tokens: energy per output token."""
    if mean_watts is None or tokens <= 0 or seconds <= 0:
        return None
    return mean_watts * seconds / tokens
