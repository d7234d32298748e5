"""The PYTORCH_NPU_ALLOC_CONF syntax and option rules: how torch_npu splits ``key:value,...`` and what each key
accepts.

Why its own module: it is a parser with no opinion about a run; ``rules_allocator`` turns what it finds
into verdicts, and tests parse settings with it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pytest_ascend_llm.doctor.values import float_or_none, int_or_none

_BOOL = ("True", "False")  # exactly these: c10 ConfigTokenizer::toBool and torch_npu's parsers compare strings


def _bool(value: str) -> str | None:
    return None if value in _BOOL else f"expects True or False (case-sensitive), got {value!r}"


def _int_at_least(low: int, strict: bool = False) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        number = int_or_none(value)
        if number is None or number < low or (strict and number == low):
            return f"expects an integer {'>' if strict else '>='} {low}, got {value!r}"
        return None

    return validate


def _int_between(low: int, high: int) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        number = int_or_none(value) if value.isdigit() else None
        return None if number is not None and low <= number <= high else f"expects an integer in [{low}, {high}]"

    return validate


def _fraction(open_interval: bool) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        number = float_or_none(value)
        inside = number is not None and (0 < number < 1 if open_interval else 0 <= number <= 1)
        return None if inside else f"expects a number in {'(0.0, 1.0)' if open_interval else '[0.0, 1.0]'}"

    return validate


def _power_of_two(text: str, zero_ok: bool) -> bool:
    number = int_or_none(text)
    return number is not None and (number > 0 and number & (number - 1) == 0 or (zero_ok and number == 0))


def _roundup(value: str) -> str | None:
    if not value.startswith("["):
        return None if _power_of_two(value, zero_ok=False) else "expects a power of 2 or [size:divisions,...]"
    if not value.endswith("]"):
        return "expects a closing ']'"
    for pair in filter(None, value[1:-1].split(",")):
        size, _, divisions = pair.partition(":")
        if not (size == ">" or _power_of_two(size, zero_ok=False)) or not _power_of_two(divisions, zero_ok=True):
            return f"entry {pair!r} is not <power of 2 or '>'>:<power of 2 or 0>"
    return None


def _page_size(value: str) -> str | None:
    return None if value == "1g" else f"supports only 1g, got {value!r}"


@dataclass(frozen=True)
class AllocKey:
    """A documented PYTORCH_NPU_ALLOC_CONF option, its value rule, and the versions the docs require for it."""

    validate: Callable[[str], str | None]
    requires: str = ""


# Keys and rules from the PYTORCH_NPU_ALLOC_CONF page (memory_management/PYTORCH_NPU_ALLOC_CONF.md) and the parser
# NPUAllocatorConfig.cpp (which also forwards the generic keys to c10's AllocatorConfig.cpp).
ALLOC_KEYS: dict[str, AllocKey] = {
    "max_split_size_mb": AllocKey(_int_at_least(20)),
    "garbage_collection_threshold": AllocKey(_fraction(open_interval=True)),
    "expandable_segments": AllocKey(_bool, "Ascend HDK >= 23.0.0"),
    "base_addr_aligned_kb": AllocKey(_int_between(0, 16)),
    "page_size": AllocKey(_page_size, "Ascend HDK >= 25.0.RC1, CANN >= 8.1.RC1, Atlas A2/A3"),
    "segment_size_mb": AllocKey(_int_between(20, 512)),
    "roundup_power2_divisions": AllocKey(_roundup),
    "multi_stream_lazy_reclaim": AllocKey(_bool, "TorchNPU > 7.3.0"),
    "pinned_use_background_threads": AllocKey(_bool, "TorchNPU >= 26.0.0 with PyTorch >= 2.8"),
    "pin_memory_expandable_segments": AllocKey(_bool, "TorchNPU >= 7.3.0, HDK >= 25.5.0, CANN >= 8.5.0"),
    "pinned_mem_register": AllocKey(_bool, "TorchNPU >= 26.0.0, HDK >= 26.0.RC1, CANN >= 8.5.0"),
    "large_segment_size_mb": AllocKey(_int_at_least(10, strict=True), "TorchNPU >= 26.1.0 with PyTorch >= 2.11"),
    "per_process_memory_fraction": AllocKey(_fraction(open_interval=False), "TorchNPU >= 26.1.0, PyTorch >= 2.10"),
    "throw_on_npumalloc_oom": AllocKey(_bool, "TorchNPU >= 26.2.0 with PyTorch >= 2.13"),
    "pinned_max_round_threshold_mb": AllocKey(_int_at_least(1), "TorchNPU >= 26.2.0 with PyTorch >= 2.13"),
    "pinned_max_cached_size_mb": AllocKey(_int_at_least(1), "TorchNPU >= 26.2.0 with PyTorch >= 2.13"),
    "max_non_split_rounding_mb": AllocKey(_int_at_least(20)),
    "release_lock_on_npumalloc": AllocKey(_bool),
}
# Parsed by NPUAllocatorConfig.cpp (getKeys) but absent from the documentation page.
ALLOC_SOURCE_ONLY_KEYS = frozenset({"pinned_reserve_segment_size_mb"})


@dataclass(frozen=True)
class AllocConf:
    """A parsed allocator setting: ``key:value`` options in order, and the items that are not ``key:value``."""

    options: tuple[tuple[str, str], ...]
    malformed: tuple[str, ...]

    def get(self, key: str) -> str | None:
        return next((value for name, value in self.options if name == key), None)


def parse_alloc_conf(text: str) -> AllocConf:
    """Split ``key:value,key:value`` the way c10's ConfigTokenizer does: whitespace ignored, ``[...]`` kept whole."""
    items, depth, current = [], 0, []
    for char in "".join(text.split()):
        depth += (char == "[") - (char == "]")
        if char == "," and depth <= 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    options, malformed = [], []
    for item in filter(None, items):
        key, colon, value = item.partition(":")
        if colon and key and value:
            options.append((key, value))
        else:
            malformed.append(item)
    return AllocConf(tuple(options), tuple(malformed))
