"""nccl-tests' bandwidth definitions, so our numbers line up with ``all_reduce_perf`` / ``all_gather_perf``.

Source: NVIDIA/nccl-tests doc/PERFORMANCE.md. ``algbw = S / t``; ``busbw = algbw × factor`` with factor
``2(n−1)/n`` for all-reduce and ``(n−1)/n`` for all-gather and reduce-scatter, n the number of ranks.
Convention for S (the same as nccl-tests): for all-reduce, the bytes of the buffer each rank reduces;
for all-gather and reduce-scatter, the bytes of the *whole* gathered array (each rank contributes S/n).
busbw is a per-direction figure: compare it with a link's per-direction peak, not its bidirectional
headline. Bandwidths are in GB/s (1e9 bytes/s) as nccl-tests prints them. ``t`` here is the median of
the timed iterations (each iteration's time is the slowest rank's), not nccl-tests' mean: robust to a
stray slow iteration on a shared host.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass

OPS = ("all_reduce", "all_gather")
ELEMENT_BYTES = 4  # float32 buffers, as nccl-tests' default type
_FACTORS = {
    "all_reduce": lambda n: 2 * (n - 1) / n,
    "all_gather": lambda n: (n - 1) / n,
    "reduce_scatter": lambda n: (n - 1) / n,
}


def bus_factor(op: str, world_size: int) -> float:
    """nccl-tests' correction from algbw to busbw for ``op`` over ``world_size`` ranks."""
    if op not in _FACTORS:
        raise ValueError(f"unknown collective {op!r}: one of {', '.join(_FACTORS)}")
    if world_size < 1:
        raise ValueError(f"world size must be at least 1, got {world_size}")
    return _FACTORS[op](world_size)


def message_bytes(op: str, requested: int, world_size: int) -> int:
    """The S actually moved for a requested size: whole float32 elements, and for all-gather a whole
    number of elements per rank (S = shard × n), so the formulas apply to the bytes really sent."""
    per_rank = world_size if op in ("all_gather", "reduce_scatter") else 1
    unit = ELEMENT_BYTES * per_rank
    return max(1, requested // unit) * unit


def algbw_gbs(size_bytes: int, seconds: float) -> float:
    """Algorithm bandwidth S / t in GB/s."""
    return size_bytes / seconds / 1e9


def busbw_gbs(op: str, size_bytes: int, seconds: float, world_size: int) -> float:
    """Bus bandwidth algbw × factor(op, n) in GB/s."""
    return algbw_gbs(size_bytes, seconds) * bus_factor(op, world_size)


@dataclass(frozen=True)
class CollectiveResult:
    """One collective at one message size: every timed iteration and the bandwidths of the median."""

    op: str
    world_size: int
    message_bytes: int
    seconds: tuple[float, ...]
    median_s: float
    algbw_gbs: float
    busbw_gbs: float
    backend: str
    device_kind: str
    api: str = ""  # the torch.distributed call that ran it (all_gather_into_tensor or the list form)

    @classmethod
    def from_times(
        cls,
        op: str,
        world_size: int,
        size: int,
        seconds: Iterable[float],
        backend: str,
        device_kind: str,
        api: str = "",
    ) -> CollectiveResult:
        """Derive median, algbw and busbw from the per-iteration times (busbw = algbw × factor exactly)."""
        times = tuple(float(s) for s in seconds)
        if not times or min(times) <= 0:
            raise ValueError(f"{op} at {size} bytes: need positive iteration times, got {times}")
        median = statistics.median(times)
        alg = algbw_gbs(size, median)
        return cls(
            op, world_size, size, times, median, alg, alg * bus_factor(op, world_size), backend, device_kind, api
        )

    def describe(self) -> str:
        """One line, nccl-tests' columns: op, size, ranks, median time, algbw, busbw."""
        return (
            f"{self.op} {size_label(self.message_bytes)} x{self.world_size} {self.device_kind}/{self.backend}: "
            f"{self.median_s * 1e6:.1f} us, algbw {self.algbw_gbs:.2f} GB/s, busbw {self.busbw_gbs:.2f} GB/s"
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["seconds"] = list(self.seconds)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CollectiveResult:
        return cls(**{**data, "seconds": tuple(data["seconds"])})


def size_label(size: int) -> str:
    """'64 MiB', '1 GiB', '512 B': the binary units nccl-tests' size column reads in."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} B"
