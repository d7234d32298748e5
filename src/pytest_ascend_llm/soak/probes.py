"""Memory readings taken beside the load, each in MiB or None when it cannot be read at that moment.

- ``server RSS``: resident memory summed over the server's process tree (root and every descendant:
  vLLM's engine core and SGLang's scheduler run in children). Shared pages count once per process,
  so the level is an upper bound; its trend is what the soak judges.
- ``card memory``: device memory the server's processes hold, as npu-smi / nvidia-smi list them
  (``inventory``), where the server runs on this host's NPUs or GPUs.
- ``host used``: this host's used memory (total − available). Every process on the host moves it, so
  it is shown for context and not judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MIB = 2**20
SERVER_RSS, CARD_MEMORY, HOST_USED = "server RSS", "card memory", "host used"


def tree_pids(pid: int) -> set[int]:
    """The process and all its descendants now (empty when it has exited)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return {pid, *(child.pid for child in root.children(recursive=True))}
    except psutil.Error:
        return set()


def tree_rss_mib(pid: int) -> float | None:
    """Resident memory of the process tree, MiB; None once the root has exited."""
    import psutil

    total, seen = 0, False
    for member in tree_pids(pid):
        try:
            total += psutil.Process(member).memory_info().rss
            seen = True
        except psutil.Error:
            continue  # a child that exited between the listing and the reading
    return total / MIB if seen else None


def host_used_mib() -> float:
    import psutil

    memory = psutil.virtual_memory()
    return (memory.total - memory.available) / MIB


def card_mib(kind: str, pids: set[int]) -> tuple[float | None, str]:
    """Device memory held by ``pids`` on every card the tool lists, and why not when it cannot say."""
    from pytest_ascend_llm.inventory.reading import read_inventory
    from pytest_ascend_llm.inventory.records import InventoryUnavailable

    try:
        inventory = read_inventory(kind)
    except InventoryUnavailable as error:
        return None, str(error)
    held = [p.memory_mb for p in inventory.processes if p.pid in pids and p.memory_mb is not None]
    if not held:
        return None, f"{inventory.tool} lists no card memory of the server's processes"
    return float(sum(held)), ""


@dataclass(frozen=True)
class Probe:
    """One memory source: its name, whether the soak judges its growth, and how to read it."""

    name: str
    judged: bool
    read: Callable[[], float | None]


@dataclass
class Probes:
    """The sources a soak reads, and the one-line notes on what it cannot read (kept once each)."""

    probes: list[Probe]
    notes: list[str] = field(default_factory=list)

    def read(self) -> dict[str, float | None]:
        readings = {}
        for probe in self.probes:
            try:
                readings[probe.name] = probe.read()
            except Exception as error:  # a probe's failure is a gap in its series, never the soak's end
                self.note(f"{probe.name}: {type(error).__name__}: {error}")
                readings[probe.name] = None
        return readings

    def note(self, line: str) -> None:
        if line not in self.notes:
            self.notes.append(line)

    @property
    def judged(self) -> list[str]:
        return [probe.name for probe in self.probes if probe.judged]


def server_probes(pid: int | None, card_kind: str | None) -> Probes:
    """Host memory always; the server's tree RSS where its process is visible; its card memory where it
    also runs on this host's NPUs or GPUs (``card_kind`` npu or cuda)."""
    probes = Probes([Probe(HOST_USED, False, host_used_mib)])
    if pid is None:
        return probes
    probes.probes.insert(0, Probe(SERVER_RSS, True, lambda: tree_rss_mib(pid)))
    if card_kind in ("npu", "cuda"):

        def card() -> float | None:
            value, why = card_mib(card_kind, tree_pids(pid))
            if why:
                probes.note(f"{CARD_MEMORY}: {why}")
            return value

        probes.probes.insert(1, Probe(CARD_MEMORY, True, card))
    return probes
