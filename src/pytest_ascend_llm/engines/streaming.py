"""A transformers streamer that timestamps every generation step after the device has finished it."""

from __future__ import annotations

from pytest_ascend_llm.devices.base import Device


class StepTimestamps:
    """Collects (time, tokens per sequence) for each step ``generate`` pushes; the prompt push is skipped.

    Implements transformers' streamer protocol (``put``/``end``) without importing it, so it also
    works with server engines that push chunks themselves.
    """

    def __init__(self, device: Device, batch_size: int) -> None:
        self.device = device
        self.batch_size = batch_size
        self.t0 = device.now()
        self.steps: list[tuple[float, int]] = []
        self._prompt_seen = False

    def put(self, value) -> None:
        now = self.device.now()
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        per_sequence = max(1, value.numel() // self.batch_size)
        self.steps.append((now - self.t0, per_sequence))

    def end(self) -> None:
        """Nothing to flush: timestamps are taken in ``put``."""
