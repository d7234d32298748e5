"""One way to print memory sizes: binary units (KiB, MiB, GiB), as torch's allocators and npu-smi count,
so no line of a report mixes GB with GiB; and one way to print measured figures: fixed notation (never
``1.2e+03``), NaN as ``-``, the same in the terminal and in the report."""

from __future__ import annotations

import math

_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def format_bytes(count: float) -> str:
    """'29.54 GiB', '4.26 MiB', '2.00 KiB', '512 B'."""
    for name, size in _UNITS:
        if abs(count) >= size:
            return f"{count / size:.2f} {name}"
    return f"{count:.0f} B"


def fixed(value: float) -> str:
    """A measured figure in fixed notation, never an exponent: '5.151', '112.0', '1,652.0'; NaN is '-'.
    The terminal table and the report print every time with this, so the two never disagree."""
    if value != value:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


def format_ms(seconds: float) -> str:
    """Seconds as milliseconds: '1,204.3' for 1.2043 s, '4.802' for 4.8 ms; NaN is '-'."""
    return fixed(seconds * 1e3)


def plain_number(value: float, digits: int = 4) -> str:
    """``digits`` significant digits without an exponent: '1,332' not '1.332e+03', '0.0566'; NaN is '-'."""
    if value != value:
        return "-"
    if value == 0 or math.isinf(value):
        return f"{value:g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"
