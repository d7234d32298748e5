"""How the stacks read a variable's text as a number, so that every check reads it the way the stack does.

Why its own module: the allocator-option parser (``alloc_conf``) and the checks of several topics need the same
readers, and none of them needs the others.
"""

from __future__ import annotations

import math
import re


def strtol(value: str) -> int:
    """C ``strtol(value, nullptr, 10)``, which torch_npu uses to read integer switches: junk reads as 0, "2x" as 2."""
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else 0


def int_or_none(value: str) -> int | None:
    """The integer a whole (optionally signed) decimal spells, surrounding blanks allowed; None for anything else."""
    return int(value) if re.fullmatch(r"[+-]?\d+", value.strip()) else None


def float_or_none(value: str) -> float | None:
    """A finite float; None for text that is not a number, and for inf and nan."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
