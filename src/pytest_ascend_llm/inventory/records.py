"""The shared device model: cards, the processes on them, and the one exception every reading failure becomes.

Both `npu-smi` and `nvidia-smi` are reduced to the same `Card`/`DeviceProcess` records so that a report
header, a "is this card already busy?" check and the JSON results file need no vendor-specific code. The
records live apart from the parsers that build them and from the code that runs the tools, so that every
other module can depend on them without depending on a subprocess or a vendor's text layout.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any


class InventoryUnavailable(Exception):
    """The device tool could not be run or its output not understood; the message is one line naming why."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class Card:
    """One chip as the tool lists it; None wherever the tool prints NA, '-' or nothing.

    `index` is the tool's card id (npu-smi "NPU", nvidia-smi "index"); `chip` tells the chips of one NPU
    card apart (Atlas A3 and 300I Duo cards list two). Memory is the device memory a model is loaded
    into: HBM where the card has it, otherwise the DDR that 310P/310B cards compute from (`memory_kind`).
    """

    kind: str
    index: int
    chip: int | None
    name: str
    health: str | None
    power_w: float | None
    temperature_c: float | None
    utilization_pct: float | None
    memory_used_mb: int | None
    memory_total_mb: int | None
    bus_id: str | None
    memory_kind: str | None = None
    power_limit_w: float | None = None
    uuid: str | None = None


@dataclass(frozen=True)
class DeviceProcess:
    """A process holding device memory; `chip` is None when the tool names only the card."""

    card_index: int
    pid: int
    name: str | None
    memory_mb: int | None
    chip: int | None = None

    def runs_on(self, card: Card) -> bool:
        return self.card_index == card.index and (self.chip is None or card.chip is None or self.chip == card.chip)


@dataclass(frozen=True)
class Inventory:
    """What one run of a device tool said, with its raw text kept so a report can show the evidence."""

    tool: str
    cards: tuple[Card, ...]
    processes: tuple[DeviceProcess, ...] = ()
    tool_version: str | None = None
    raw_text: str = ""

    def processes_on(self, card: Card) -> tuple[DeviceProcess, ...]:
        return tuple(process for process in self.processes if process.runs_on(card))

    def busy_cards(self) -> tuple[Card, ...]:
        """Cards some process already holds memory on: a benchmark there measures a shared device."""
        return tuple(card for card in self.cards if self.processes_on(card))

    def label(self, card: Card) -> str:
        """'card 3', or 'card 3 chip 1' when the card lists more than one chip."""
        shared = sum(1 for other in self.cards if other.index == card.index) > 1
        return f"card {card.index} chip {card.chip}" if shared and card.chip is not None else f"card {card.index}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, the summary line and which cards are busy."""
        return {
            "tool": self.tool,
            "tool_version": self.tool_version,
            "summary": self.summary_line(),
            "cards": [asdict(card) for card in self.cards],
            "processes": [asdict(process) for process in self.processes],
            "busy_cards": [self.label(card) for card in self.busy_cards()],
            "raw_text": self.raw_text,
        }

    def summary_line(self) -> str:
        """One line for a test-report header: models, health, processes and the fullest card."""
        prefix = f"{self.tool} {self.tool_version}" if self.tool_version else self.tool
        if not self.cards:
            return f"{prefix}: no cards listed"
        details = [part for part in (self._health_part(), self._process_part(), self._memory_part()) if part]
        return f"{prefix}: {self._models_part()} ({', '.join(details)})"

    def _models_part(self) -> str:
        indices_by_name: dict[str, set[int]] = {}
        for card in self.cards:
            indices_by_name.setdefault(card.name, set()).add(card.index)
        models = " + ".join(f"{len(indices)}x {name}" for name, indices in indices_by_name.items())
        card_count = len({card.index for card in self.cards})
        return f"{models} in {len(self.cards)} chips" if len(self.cards) > card_count else models

    def _health_part(self) -> str:
        counts = Counter(card.health for card in self.cards if card.health is not None)
        if not counts:
            return ""
        if len(counts) == 1:
            return f"health {next(iter(counts))}"
        unhealthy = [self.label(card) for card in self.cards if card.health not in (None, "OK")]
        shown = ", ".join(unhealthy[:4]) + (", ..." if len(unhealthy) > 4 else "")
        tally = ", ".join(f"{count} {health}" for health, count in counts.most_common())
        return f"health {tally}; not OK: {shown}"

    def _process_part(self) -> str:
        pids = {process.pid for process in self.processes}
        if not pids:
            return "0 processes"
        busy = len(self.busy_cards())
        noun = "process" if len(pids) == 1 else "processes"
        return f"{len(pids)} {noun} on {busy} {'chip' if busy == 1 else 'chips'}"

    def _memory_part(self) -> str:
        known = [card for card in self.cards if card.memory_used_mb is not None and card.memory_total_mb]
        if not known:
            return ""
        fullest = max(known, key=lambda card: (card.memory_used_mb or 0) / (card.memory_total_mb or 1))
        used, total = (fullest.memory_used_mb or 0) / 1024, (fullest.memory_total_mb or 0) / 1024
        return f"most used: {fullest.memory_kind or 'memory'} {used:.1f}/{total:.1f} GB on {self.label(fullest)}"
