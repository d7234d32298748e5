"""One way to print memory sizes: binary units (KiB, MiB, GiB), as torch's allocators and npu-smi count,
so no line of a report mixes GB with GiB."""

from __future__ import annotations

_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def format_bytes(count: float) -> str:
    """'29.54 GiB', '4.26 MiB', '2.00 KiB', '512 B'."""
    for name, size in _UNITS:
        if abs(count) >= size:
            return f"{count / size:.2f} {name}"
    return f"{count:.0f} B"
