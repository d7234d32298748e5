"""What a rule of the doctor is: a ``Variable`` row whose check turns a value into ``Verdict``s, given a ``Context``.

Why its own module: every topic module (``rules_*``) builds these, ``variables`` assembles them and ``findings``
reads them, so they must sit below all three. Levels: "error" means a value the documentation declares invalid (the
message says what the stack does with it instead: refuse to start, or read it as something else), "warn" a value
that costs performance, hides problems or is silently replaced by a default, "info" context, "ok" a sound value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

Level = Literal["ok", "info", "warn", "error"]


class Verdict(NamedTuple):
    """One conclusion about one variable; ``source`` overrides the variable's own when another page says it."""

    level: Level
    message: str
    source: str | None = None


@dataclass(frozen=True)
class Context:
    """What a check may look at besides the value: the other variables and the device the run targets."""

    environ: Mapping[str, str]
    device_kind: str | None = None


Check = Callable[[str, Context], list[Verdict]]
NPU_ONLY = frozenset({"npu"})
ALL_KINDS = frozenset({"npu", "cuda", "cpu"})


@dataclass(frozen=True)
class Variable:
    """A documented variable: ``applies_to`` lists the device kinds on which anything reads it."""

    name: str
    does: str
    source: str
    check: Check
    applies_to: frozenset[str] = NPU_ONLY


def switch(name: str, value: str, on: Verdict, off: Verdict) -> list[Verdict]:
    """A documented 0/1 switch: ``on`` for 1, ``off`` for 0, else an error naming the two documented values."""
    if value not in ("0", "1"):
        return [Verdict("error", f"{name}={value!r} is not a documented value (0, 1)")]
    return [on if value == "1" else off]
