"""How long a soak runs and how it is cut: the seconds, the windows, the load, from the settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

MIN_WINDOW_S = 2.0  # the default window: a tenth of the soak, never shorter than this
WINDOWS_BY_DEFAULT = 10
SAMPLES_PER_WINDOW = 4  # memory readings per window: more points for the trend than windows alone


@dataclass(frozen=True)
class SoakPlan:
    """``seconds`` of load in ``windows`` equal windows; ``rate`` None: a closed loop of ``concurrency``
    streams, else Poisson arrivals at ``rate`` req/s with at most ``concurrency`` in flight."""

    seconds: float
    windows: int
    concurrency: int
    rate: float | None = None
    seed: int = 0

    @classmethod
    def from_settings(cls, settings) -> SoakPlan:
        seconds = float(settings.soak_seconds)
        window = settings.soak_window or max(MIN_WINDOW_S, seconds / WINDOWS_BY_DEFAULT)
        return cls(seconds, max(1, math.floor(seconds / window + 1e-9)), settings.soak_concurrency, settings.soak_rate)

    def within(self, seconds_left: float) -> SoakPlan:
        """The plan cut to a bound's seconds left (``--llm-max-minutes``, ``--llm-case-seconds``), its windows
        kept as long as asked, at least one."""
        if seconds_left >= self.seconds:
            return self
        seconds = max(self.window_s, seconds_left)
        return replace(self, seconds=seconds, windows=max(1, math.floor(seconds / self.window_s + 1e-9)))

    @property
    def window_s(self) -> float:
        """The windows tile the soak exactly: the asked window, stretched by less than one window's share."""
        return self.seconds / self.windows

    @property
    def sample_every(self) -> float:
        return self.window_s / SAMPLES_PER_WINDOW

    def describe(self) -> str:
        streams = f"{self.concurrency} stream{'s' if self.concurrency != 1 else ''}"
        load = (
            f"Poisson {self.rate:g} req/s, at most {self.concurrency} in flight"
            if self.rate
            else (f"{streams} in a closed loop")
        )
        windows = f"{self.windows} window{'s' if self.windows != 1 else ''}"
        return f"{self.seconds:g} s of {load}, {windows} of {self.window_s:.3g} s"
