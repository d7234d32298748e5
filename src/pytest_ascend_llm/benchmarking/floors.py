"""Fixed floors: absolute limits a case must meet on a device, written once in a TOML file.

Why: the regression gate (``gate.py``) compares a run with a saved run, so it can say a deployment got worse, never
that it is good enough. A floor says that, from a baseline the user measured: "on an Atlas 800T A2 this case delivers
at least 1200 output tok/s with a TTFT p95 under 180 ms", checked on every run, with or without a run to compare.

The file is an array of ``[[floor]]`` tables (see ``examples/floors-qwen2.5-14b-atlas-800t-a2.toml``)::

    [[floor]]
    case = "test_perf_generation_end_to_end[*]"
    device = "Ascend910B*"
    min_output_tok_s = 1200.0
    max_ttft_p95_ms = 180.0
    max_tpot_p95_ms = 25.0
    min_accuracy = 0.84

- ``case`` (required): a pattern on the case name. ``*`` stands for any run of characters and ``?`` for one; ``[``
  and ``]`` are literal, so a parameter id is written as it is (``fnmatch`` would read ``[*]`` as a character class).
  A pattern with ``::`` is matched against the whole name (``module::test[params]``), one without against the name
  after the last ``::`` (``test[params]``).
- ``device`` (optional): the same kind of pattern on the device name (``Ascend910B3``, ``NVIDIA H200``), ignoring
  case; absent means any device.
- ``min_output_tok_s``: the case metric ``tokens_per_s`` (engine-counted tokens over timed seconds) must reach it.
- ``max_<family>_<stat>_ms``: a latency statistic must not exceed it, in milliseconds (the metrics are in seconds).
  ``family`` is ``e2e`` (the case's round time: an offline case's timed round, a serving case's request end to end;
  metrics ``p95`` …), ``ttft``, ``tpot``, ``itl`` or ``itl_chunk``; ``stat`` is ``mean``, ``p50``, ``p90``, ``p95``
  or ``p99``. So ``max_ttft_p95_ms`` bounds ``ttft_p95`` and ``max_e2e_p99_ms`` bounds ``p99``.
- ``min_accuracy``: the case metric ``accuracy`` (0 to 1) must reach it.
- Start-up figures (``test_startup[*]``, one start per run, see ``startup.py``): ``max_load_s``, ``min_load_gbps``,
  ``max_compile_s``, ``max_launch_to_healthy_s``, ``max_healthy_to_first_token_s`` (seconds), ``max_first_ttft_ms``,
  ``max_first_e2e_ms`` (milliseconds), ``max_first_over_warm_ttft`` and ``max_first_over_warm_e2e`` (ratios).

Every floor whose patterns match a case applies to it (a general floor and a stricter one for one device both hold).
A floor on a metric the case does not report is ignored for that case: a decode-step case has no TTFT.

A percentile that rests on too few samples to be more than the maximum (listed in the metrics' ``unresolved``, shown
as ``(max)`` in the latency table) is not compared as if it were measured, and neither is a NaN: ``check_floors``
returns it as an unchecked ``FloorBreach`` whose message says how to make it checkable. It is not a pass: the caller
fails the case on every entry, breach or unchecked, because a floor the user wrote must be shown to hold.

Every problem with the file (missing, empty, not TOML, an unknown key, a value of the wrong type) is an
``LLMSetupError`` of one line: ``FILE:LINE: what is wrong: how to fix it``.
"""

from __future__ import annotations

import difflib
import math
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from pytest_ascend_llm.benchmarking.gate import PREFIXES, STATISTICS
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.metrics.stats import min_samples

EXAMPLE = "examples/floors-qwen2.5-14b-atlas-800t-a2.toml"
# The gate's metric prefixes -> the word in a max_<word>_<stat>_ms key and the name in messages.
FAMILIES = {
    "": ("e2e", "e2e"),
    "ttft_": ("ttft", "TTFT"),
    "tpot_": ("tpot", "TPOT"),
    "itl_": ("itl", "ITL"),
    "itl_chunk_": ("itl_chunk", "ITL per chunk"),
}
PATTERN_EXAMPLES = {"case": '"test_perf_generation_end_to_end[*]"', "device": '"Ascend910B*"'}
PATTERN_KEYS = tuple(PATTERN_EXAMPLES)
_HEADER = re.compile(r"^\s*\[\[\s*(?:floor|\"floor\"|'floor')\s*\]\]")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class Measure:
    """What a limit key bounds: the case metric, its name in messages, and which side of the bound passes."""

    metric: str
    label: str
    lower: bool  # True: the metric must reach the bound (min_ keys); False: it must not exceed it (max_ keys)
    example: str  # a bound to show in an error message
    scale: float = 1.0  # from the metric's unit to the file's (seconds to milliseconds)
    unit: str = ""
    most: float = math.inf  # the largest bound that makes sense (accuracy: 1)
    count_key: str | None = None  # the metric counting the samples behind a percentile
    percentile: float | None = None

    def bound_text(self, bound: float) -> str:
        return f"the {'floor' if self.lower else 'ceiling'} {bound:g}{self.unit}"


def _latency(prefix: str, statistic: str) -> tuple[str, Measure]:
    word, label = FAMILIES[prefix]
    percentile = float(statistic[1:]) if statistic.startswith("p") else None
    metric, shown = f"{prefix}{statistic}", f"{label} {statistic}"
    measure = Measure(metric, shown, False, "180.0", 1e3, " ms", count_key=f"{prefix}n", percentile=percentile)
    return f"max_{word}_{statistic}_ms", measure


# The start-up case's single-shot figures (benchmarking/startup.py): key -> metric, label, unit, scale.
STARTUP_MEASURES: dict[str, Measure] = {
    "max_load_s": Measure("load_s", "weights load", False, "60.0", unit=" s"),
    "min_load_gbps": Measure("load_gbps", "weights load rate", True, "1.0", unit=" GB/s"),
    "max_compile_s": Measure("compile_s", "compile time", False, "300.0", unit=" s"),
    "max_launch_to_healthy_s": Measure("launch_to_healthy_s", "launch to healthy", False, "120.0", unit=" s"),
    "max_healthy_to_first_token_s": Measure(
        "healthy_to_first_token_s", "healthy to first token", False, "5.0", unit=" s"
    ),
    "max_first_ttft_ms": Measure("first_ttft_s", "first request TTFT", False, "2000.0", 1e3, " ms"),
    "max_first_e2e_ms": Measure("first_e2e_s", "first request E2E", False, "5000.0", 1e3, " ms"),
    "max_first_over_warm_ttft": Measure("first_over_warm_ttft", "first/warm TTFT", False, "3.0", unit="×"),
    "max_first_over_warm_e2e": Measure("first_over_warm_e2e", "first/warm E2E", False, "2.0", unit="×"),
}
MEASURES: dict[str, Measure] = {
    "min_output_tok_s": Measure("tokens_per_s", "output tok/s", lower=True, example="1200.0"),
    **dict(_latency(prefix, statistic) for prefix in PREFIXES for statistic in STATISTICS),
    "min_accuracy": Measure("accuracy", "accuracy", lower=True, example="0.84", most=1.0),
    **STARTUP_MEASURES,
}


@lru_cache(maxsize=256)
def _pattern(text: str, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` and ``?`` as wildcards, everything else literal (brackets included)."""
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in text)
    return re.compile(rf"\A{body}\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


@dataclass(frozen=True)
class Floor:
    """One ``[[floor]]`` table: its patterns, its limits (key and bound as written) and where it stands in the file."""

    case: str
    device: str | None
    limits: tuple[tuple[str, float], ...]
    file: str
    line: int  # of its [[floor]] header

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def matches(self, case_name: str, device_name: str | None) -> bool:
        name = case_name if "::" in self.case else case_name.rpartition("::")[2]
        if not _pattern(self.case).match(name):
            return False
        return self.device is None or (device_name is not None and bool(_pattern(self.device, True).match(device_name)))


@dataclass(frozen=True)
class Floors:
    """The floors of one file, in file order."""

    file: str
    floors: tuple[Floor, ...]

    def __iter__(self) -> Iterator[Floor]:
        return iter(self.floors)

    def __len__(self) -> int:
        return len(self.floors)


@dataclass(frozen=True)
class FloorBreach:
    """A floor a case did not meet (``checked``), or one it could not be checked against (``checked`` False)."""

    metric: str
    measured: float | None  # in the file's unit (ms, tok/s); None where the value was not a number
    bound: float
    where: str
    message: str
    checked: bool = True

    def __str__(self) -> str:
        return self.message


def _fail(where: str, message: str) -> LLMSetupError:
    return LLMSetupError(f"{where}: {message}")


def _read_text(path: Path, shown: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(shown, "no such floors file: pass the path of an existing TOML file, e.g. " + EXAMPLE) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(shown, f"cannot be read ({error}): pass a UTF-8 TOML file of [[floor]] tables") from None
    if not text.strip():
        raise _fail(f"{shown}:1", f"the file is empty: add [[floor]] tables, e.g. as in {EXAMPLE}")
    return text


def _parse(text: str, shown: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        position = _TOML_POSITION.search(str(error))
        line = int(position[1]) if position else getattr(error, "lineno", 1)
        problem = _TOML_POSITION.sub("", str(error)).strip()
        raise _fail(f"{shown}:{line}", f"not valid TOML ({problem}): fix the syntax, e.g. as in {EXAMPLE}") from None


def _key_line(lines: list[str], start: int, key: str) -> int:
    """The line of ``key = …`` in the table whose header is on line ``start``; the header's line if not found."""
    assignment = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    for number in range(start + 1, len(lines) + 1):
        text = lines[number - 1]
        if text.lstrip().startswith("["):  # the next table
            break
        if assignment.match(text):
            return number
    return start


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, [*PATTERN_KEYS, *MEASURES], n=1)
    return f"did you mean {close[0]}? " if close else ""


def _number(where: str, key: str, value: object) -> float:
    measure = MEASURES[key]
    valid = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or not 0 < value <= measure.most:  # type: ignore[operator]
        most = "" if math.isinf(measure.most) else f" and at most {measure.most:g}"
        raise _fail(where, f"{key} = {value!r}: write a number above 0{most}, e.g. {key} = {measure.example}")
    return float(value)  # type: ignore[arg-type]


def _floor(table: object, shown: str, lines: list[str], line: int) -> Floor:
    where = f"{shown}:{line}"
    if not isinstance(table, dict):
        raise _fail(where, "each floor must be a [[floor]] table: write [[floor]] then its keys on the lines below")
    for key in table:
        if key not in PATTERN_KEYS and key not in MEASURES:
            raise _fail(
                f"{shown}:{_key_line(lines, line, key)}",
                f"unknown key {key!r} in [[floor]]: {_suggestion(key)}write case, device, min_output_tok_s, "
                "min_accuracy, max_<e2e|ttft|tpot|itl|itl_chunk>_<mean|p50|p90|p95|p99>_ms or a start-up limit "
                f"({', '.join(STARTUP_MEASURES)})",
            )
    if "case" not in table:
        raise _fail(where, f"[[floor]] has no case: add case = {PATTERN_EXAMPLES['case']} (a pattern on the case name)")
    for key in PATTERN_KEYS:
        value = table.get(key)
        if key in table and (not isinstance(value, str) or not value.strip()):
            at = f"{shown}:{_key_line(lines, line, key)}"
            raise _fail(at, f"{key} = {value!r}: write a pattern in quotes, e.g. {key} = {PATTERN_EXAMPLES[key]}")
    limits = tuple(
        (key, _number(f"{shown}:{_key_line(lines, line, key)}", key, value))
        for key, value in table.items()
        if key in MEASURES
    )
    if not limits:
        raise _fail(where, "[[floor]] sets no limit: add min_output_tok_s, max_ttft_p95_ms, min_accuracy or the like")
    return Floor(table["case"], table.get("device"), limits, shown, line)


def load_floors(path: str | Path) -> Floors:
    """The floors of a TOML file; LLMSetupError (one line: file, line, fix) on anything wrong with it."""
    shown = str(path)
    text = _read_text(Path(path), shown)
    document = _parse(text, shown)
    lines = text.splitlines()
    headers = [number for number, line in enumerate(lines, 1) if _HEADER.match(line)]
    for key in document:
        if key != "floor":
            at = f"{shown}:{_key_line(lines, 0, key) or 1}"
            raise _fail(at, f"unknown top-level key {key!r}: put every limit inside a [[floor]] table")
    tables = document.get("floor")
    if tables is None:
        raise _fail(f"{shown}:1", f"no [[floor]] table: add one, e.g. as in {EXAMPLE}")
    if not isinstance(tables, list):
        at = f"{shown}:{next((n for n, t in enumerate(lines, 1) if t.strip().startswith('[floor')), 1)}"
        raise _fail(at, "write [[floor]] with two brackets: each floor is one entry of an array of tables")
    fallback = headers[-1] if headers else _key_line(lines, 0, "floor") or 1  # floor = [{...}] has no header
    floors = [
        _floor(table, shown, lines, headers[i] if i < len(headers) else fallback) for i, table in enumerate(tables)
    ]
    return Floors(shown, tuple(floors))


def _shown(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def _judge(floor: Floor, key: str, bound: float, metrics: Mapping[str, object]) -> FloorBreach | None:
    measure = MEASURES[key]
    value = metrics.get(measure.metric)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # the case does not report this metric
    limit = measure.bound_text(bound)
    if measure.metric in (metrics.get("unresolved") or ()) and measure.percentile is not None:
        count, need = metrics.get(measure.count_key or ""), min_samples(measure.percentile)
        message = (
            f"{measure.label} cannot be checked against {limit} ({floor.where}): it rests on {count} samples and "
            f"needs {need} to be more than the maximum; raise --llm-rounds (serving cases: --llm-serving-requests) "
            f"to {need}, or floor a lower percentile"
        )
        return FloorBreach(measure.metric, None, bound, floor.where, message, checked=False)
    if math.isnan(value):
        message = f"{measure.label} cannot be checked against {limit} ({floor.where}): the case measured no number"
        return FloorBreach(measure.metric, None, bound, floor.where, message, checked=False)
    measured = value * measure.scale
    if measured < bound if measure.lower else measured > bound:
        side = "below" if measure.lower else "above"
        message = f"{measure.label} {_shown(measured)}{measure.unit} is {side} {limit} ({floor.where})"
        return FloorBreach(measure.metric, measured, bound, floor.where, message)
    return None


def check_floors(
    floors: Floors, case_name: str, device_name: str | None, metrics: Mapping[str, object]
) -> list[FloorBreach]:
    """Every breach and every unchecked floor of the floors matching this case and device, in file order; an empty
    list means every matching floor holds. ``metrics`` is the case's flat metrics (``CaseResult.metrics()``)."""
    breaches = []
    for floor in floors:
        if floor.matches(case_name, device_name):
            breaches += [b for key, bound in floor.limits if (b := _judge(floor, key, bound, metrics)) is not None]
    return breaches
