"""Is the card under test idle? Careful benchmark guides discard runs where another process held the
card: here such a run's performance cases skip (or fail, by option) before they measure anything,
with the offending process and its memory named. Compatibility checks still run.

Idle means: no other process in the card's process table, memory in use near the runtime's own
footprint, and compute utilisation near zero. A process of this session (this pid or its children,
for example a server the session launched) is not "other".
"""

from __future__ import annotations

import os

from pytest_ascend_llm.devices.visible import listed_devices
from pytest_ascend_llm.inventory.records import Card, Inventory

IDLE_UTILIZATION_PCT = 5.0  # AICore / SM utilisation above this while we are not running means someone is
RUNTIME_FOOTPRINT_MB = 4096  # an idle 910B shows about 3.3 GB of HBM used by the runtime itself


def physical_index(kind: str, logical: int | None, environ: dict[str, str] | None = None) -> int:
    """The tool's card id for torch's device index: ASCEND_RT_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES
    renumber the cards a process sees, the tools do not."""
    visible = listed_devices(kind, os.environ if environ is None else environ)
    index = logical or 0
    if index < len(visible) and visible[index].isdigit():
        return int(visible[index])
    return index


def own_pids() -> set[int]:
    """This process and its descendants (servers, collective workers this session started)."""
    import psutil

    me = psutil.Process()
    return {me.pid, *(child.pid for child in me.children(recursive=True))}


def busy_reason(inventory: Inventory, card_index: int, ours: set[int], own_memory_mb: int = 0) -> str | None:
    """Why the card is not idle, in one line, or None when it is."""
    cards = [card for card in inventory.cards if card.index == card_index]
    if not cards:
        return f"{inventory.tool} lists no card {card_index}"
    reasons = []
    for card in cards:
        others = [p for p in inventory.processes_on(card) if p.pid not in ours]
        reasons += [
            f"process {p.pid} ({p.name or 'unnamed'}) holds {p.memory_mb if p.memory_mb is not None else '?'} MB "
            f"on {inventory.label(card)}"
            for p in others
        ]
        reasons += _load_reasons(inventory, card, own_memory_mb)
    return "; ".join(reasons) or None


def _load_reasons(inventory: Inventory, card: Card, own_memory_mb: int) -> list[str]:
    found = []
    if card.utilization_pct is not None and card.utilization_pct > IDLE_UTILIZATION_PCT:
        found.append(f"{inventory.label(card)} is {card.utilization_pct:g}% busy")
    if card.memory_used_mb is not None and card.memory_used_mb - own_memory_mb > RUNTIME_FOOTPRINT_MB:
        found.append(
            f"{inventory.label(card)} has {card.memory_used_mb - own_memory_mb} MB in use that is not this "
            f"session's (idle footprint ≤ {RUNTIME_FOOTPRINT_MB} MB)"
        )
    return found


def unhealthy(inventory: Inventory, card_index: int | None = None) -> list[str]:
    """'card 3: Alarm' for every listed chip (of one card, if given) whose health is not OK."""
    return [
        f"{inventory.label(card)} ({card.name}): {card.health}"
        for card in inventory.cards
        if card.health not in (None, "OK") and (card_index is None or card.index == card_index)
    ]
