"""What changed in the stack between a saved run and this one, and what stayed the same.

Why: when a case got slower or its outputs drifted, the first question is what else differs between the two runs.
Listing what stayed the same matters as much: "same: torch 2.5.1, CANN 8.0.RC3" rules causes out. Both runs come as
``EnvironmentInfo.to_dict()`` dicts; the saved run's may predate newer fields, and a field missing from both runs is
left out, one missing from one run is shown as ``-``.

Fields, in this order: torch, torch_npu, CANN, driver, firmware (from the cards' ``firmware`` in ``inventory``, where
the inventory carries one), transformers, the engine, the installed sglang and vllm, the version the served server
reported (``server``), dtype, graph mode, engine flags, torch threads, the recorded environment variables (``env`` and
``thread_settings``: every name either run recorded, in the doctor's table order, the others after by name), the
weights hash and the tokenizer hash.

A difference that does not matter is not a change: a dict in another key order, the same engine flags in another
order, ``torch.bfloat16`` against ``bfloat16``, ``8.0.RC3`` against ``8.0.rc3``, an empty value against a missing one.
Values are shown as the runs recorded them; environment values were redacted when they were recorded, and nothing
here adds any.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pytest_ascend_llm.doctor.variables import VARIABLES

MISSING = "-"
Stack = Mapping[str, Any]


def _plain(value: object) -> object:
    """Whitespace-insensitive text, numbers as numbers (4 == 4.0), dicts in any key order."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str)
    return value


def _version(value: object) -> object:
    return str(value).strip().lower()


def _dtype(value: object) -> object:
    return str(value).strip().lower().removeprefix("torch.")


def _flag_groups(value: object) -> object:
    """Command-line flags as a multiset of (flag, its values): ``--tp 2 --eager`` equals ``--eager --tp 2``."""
    if isinstance(value, Mapping):
        return _plain(value)
    if isinstance(value, list | tuple):
        tokens = [str(token) for token in value]
    else:
        try:
            tokens = shlex.split(str(value))
        except ValueError:  # an unbalanced quote
            tokens = str(value).split()
    groups: list[list[str]] = []
    for token in tokens:
        if token.startswith("-") or not groups:
            groups.append([])
        groups[-1] += token.split("=", 1) if token.startswith("--") else [token]
    return sorted(groups)


def _text(value: object) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{key}={value[key]}" for key in sorted(value))
    if isinstance(value, list | tuple):
        return " ".join(str(item) for item in value)
    return str(value).strip()


@dataclass(frozen=True)
class Field:
    """One compared field: how to read it from a run, what it means (canonical form) and how to show it."""

    label: str
    read: Callable[[Stack], object]
    canonical: Callable[[object], object] = _plain
    shown: Callable[[object], str] = _text


def _key(name: str) -> Callable[[Stack], object]:
    return lambda stack: stack.get(name)


def _firmware(stack: Stack) -> object:
    """The cards' distinct firmware versions where the inventory records them (npu-smi's card list does not yet)."""
    inventory = stack.get("inventory")
    if not isinstance(inventory, Mapping):
        return None
    cards = [card for card in inventory.get("cards") or () if isinstance(card, Mapping)]
    found = sorted({str(card["firmware"]) for card in cards if card.get("firmware")})
    return "/".join(found) or inventory.get("firmware")


def _server_version(stack: Stack) -> object:
    """The version the served server reported: vLLM's /version, SGLang's /get_server_info."""
    server = stack.get("server") or {}
    for path in ("version", "get_server_info"):
        answer = server.get(path) if isinstance(server, Mapping) else None
        version = answer.get("version") if isinstance(answer, Mapping) else answer
        if version:
            return version
    return None


HEAD = (
    Field("device", _key("device_name")),
    Field("torch", _key("torch"), _version),
    Field("torch_npu", _key("torch_npu"), _version),
    Field("CANN", _key("cann"), _version),
    Field("driver", _key("driver"), _version),
    Field("firmware", _firmware, _version),
    Field("transformers", _key("transformers"), _version),
    Field("engine", _key("engine")),
    Field("sglang", _key("sglang"), _version),
    Field("vllm", _key("vllm"), _version),
    Field("server version", _server_version, _version),
    Field("dtype", _key("dtype"), _dtype),
    Field("graph mode", _key("graph_mode")),
    Field("engine flags", _key("engine_flags"), _flag_groups),
    Field("torch threads", _key("torch_threads")),
)
TAIL = (
    Field("weights hash", _key("model_hash"), _version),
    Field("tokenizer hash", _key("tokenizer_hash"), _version),
)


def _variables(stack: Stack) -> dict[str, object]:
    recorded: dict[str, object] = {}
    for source in ("thread_settings", "env", "host_settings"):
        values = stack.get(source)
        if isinstance(values, Mapping):
            recorded |= values
    return recorded


def _variable_fields(before: Stack, now: Stack) -> list[Field]:
    """One field per variable either run recorded: the doctor's documented ones in its order, then the rest by name."""
    names = set(_variables(before)) | set(_variables(now))
    order = {variable.name: index for index, variable in enumerate(VARIABLES)}
    ordered = sorted(names, key=lambda name: (order.get(name, len(order)), name))
    return [Field(name, lambda stack, name=name: _variables(stack).get(name)) for name in ordered]


def _present(value: object) -> bool:
    return value is not None and value != "" and value != {} and value != [] and not str(value).isspace()


@dataclass(frozen=True)
class StackChanges:
    """The fields that differ, (label, before, now), and those that do not, (label, value), in field order."""

    changed: list[tuple[str, str, str]]
    same: list[tuple[str, str]]

    def line(self) -> str:
        """'changed: CANN 8.0.RC3 → 8.1.RC1, dtype float32 → bfloat16; same: torch 2.5.1, …'."""
        changed = ", ".join(f"{label} {before} → {now}" for label, before, now in self.changed) or "nothing"
        same = ", ".join(f"{label} {value}" for label, value in self.same)
        return f"changed: {changed}; same: {same}" if same else f"changed: {changed}"

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        return {
            "changed": [{"field": label, "before": before, "now": now} for label, before, now in self.changed],
            "same": [{"field": label, "value": value} for label, value in self.same],
        }


def stack_changes(before: Stack, now: Stack) -> StackChanges:
    """Compare a saved run's stack (``before``) with this run's (``now``), both ``EnvironmentInfo.to_dict()``."""
    changed: list[tuple[str, str, str]] = []
    same: list[tuple[str, str]] = []
    for field in (*HEAD, *_variable_fields(before, now), *TAIL):
        old, new = field.read(before), field.read(now)
        old, new = (value if _present(value) else None for value in (old, new))
        if old is None and new is None:
            continue
        if old is not None and new is not None and field.canonical(old) == field.canonical(new):
            same.append((field.label, field.shown(new)))
        else:
            shown = [MISSING if value is None else field.shown(value) for value in (old, new)]
            changed.append((field.label, shown[0], shown[1]))
    return StackChanges(changed, same)
