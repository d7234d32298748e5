"""The device behind a server: the suite measures it through HTTP, so the client clock is the timer.

With ``--llm-engine openai`` (or a launched server) the device under test is the server's: marked
cases run (``-m npu`` against a vllm-ascend or SGLang endpoint from any client machine), and memory
counters are not readable from here, so they read 0 and memory cases skip through the engine.
"""

from __future__ import annotations

import time

from pytest_ascend_llm.devices.base import Device


class RemoteDevice(Device):
    """``served_on``: the device kind the user named for a launched server (npu, cuda, cpu), if any."""

    kind = "server"

    def __init__(self, where: str, served_on: str | None = None) -> None:
        super().__init__(None)
        self.where = where
        self.served_on = served_on

    def __str__(self) -> str:
        return f"server {self.where}" + (f" on {self.served_on}" if self.served_on else "")

    @property
    def is_accelerator(self) -> bool:
        return self.served_on != "cpu"

    def name(self) -> str:
        return f"the server's device ({self.served_on or 'as the server chose'})"

    def count(self) -> int:
        return 1

    def synchronize(self) -> None:
        """Nothing to wait for: a streamed chunk's arrival is the event."""

    def now(self) -> float:
        return time.perf_counter()

    def total_memory(self) -> int:
        return 0

    def free_memory(self) -> int:
        return 0

    def memory_allocated(self) -> int:
        return 0

    def memory_reserved(self) -> int:
        return 0

    def max_memory_allocated(self) -> int:
        return 0

    def reset_peak_memory(self) -> None:
        """Nothing to reset: the memory is the server's."""

    def empty_cache(self) -> None:
        """Nothing to free here."""
