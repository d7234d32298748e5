"""A recorded request trace in the Mooncake format (kvcache-ai/Mooncake's FAST'25 traces), read and checked
line by line so a bad trace stops the run at its start, in one line, naming the file, the line and the fix.

Each line is one JSON object: ``timestamp`` (ms since the trace began), ``input_length`` and
``output_length`` (tokens), and ``hash_ids``, one id per ``block``-token prefix block of the prompt (512 in
Mooncake's traces). Two requests whose ``hash_ids`` start alike share that prompt prefix, which is what a
prefix cache can reuse. Plain Python: the preflight reads the trace before torch loads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError

FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")
MOONCAKE_BLOCK = 512


@dataclass(frozen=True)
class TraceEntry:
    """One recorded request: when it arrived, its lengths and its prompt's block ids."""

    line: int
    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...]


@dataclass(frozen=True)
class Trace:
    """The entries of one trace file, in arrival order."""

    path: str
    entries: tuple[TraceEntry, ...]

    @property
    def name(self) -> str:
        return Path(self.path).stem

    def offsets(self, speed: float = 1.0) -> tuple[float, ...]:
        """Send offsets in seconds from the first request; ``speed`` 2 replays twice as fast."""
        if not self.entries:
            return ()
        first = self.entries[0].timestamp_ms
        return tuple((entry.timestamp_ms - first) / 1000 / speed for entry in self.entries)

    def span_s(self, speed: float = 1.0) -> float:
        offsets = self.offsets(speed)
        return offsets[-1] if offsets else 0.0


def _whole(record: dict, name: str, minimum: int, where: str) -> int:
    value = record[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < minimum:
        raise LLMSetupError(f"{where}: {name} {value!r}: give a whole number of at least {minimum}")
    return int(value)


def _hash_ids(record: dict, where: str) -> tuple[int, ...]:
    ids = record["hash_ids"]
    if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise LLMSetupError(f"{where}: hash_ids {str(ids)[:60]}: give a list of whole numbers, one per prompt block")
    return tuple(ids)


def parse_entry(text: str, line: int, where: str) -> TraceEntry:
    """One trace line as an entry; a broken line raises LLMSetupError naming ``where`` and the fix."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise LLMSetupError(
            f"{where}: not JSON ({error.msg} at column {error.colno}): one JSON object per line"
        ) from None
    if not isinstance(record, dict):
        raise LLMSetupError(f"{where}: a JSON {type(record).__name__}, not an object: one JSON object per line")
    missing = [name for name in FIELDS if name not in record]
    if missing:
        raise LLMSetupError(f"{where}: no {', '.join(missing)}: every line needs {', '.join(FIELDS)} (Mooncake format)")
    stamp = record["timestamp"]
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp) or stamp < 0:
        raise LLMSetupError(f"{where}: timestamp {stamp!r}: give milliseconds since the trace began, at least 0")
    return TraceEntry(
        line,
        float(stamp),
        _whole(record, "input_length", 1, where),
        _whole(record, "output_length", 1, where),
        _hash_ids(record, where),
    )


def read_trace(path: str | Path, limit: int | None = None) -> Trace:
    """The first ``limit`` requests of a trace (all without a limit), checked: JSON objects with the four
    fields, timestamps in arrival order (equal ones are requests that arrived together)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LLMSetupError(f"{path}: no such file: give a Mooncake JSONL trace") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LLMSetupError(f"{path}: cannot read it ({error}): give a readable UTF-8 JSONL file") from None
    entries: list[TraceEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if limit is not None and len(entries) >= limit:
            break
        if not line.strip():
            continue
        entry = parse_entry(line, number, f"{path} line {number}")
        if entries and entry.timestamp_ms < entries[-1].timestamp_ms:
            raise LLMSetupError(
                f"{path} line {number}: timestamp {entry.timestamp_ms:g} ms is before line "
                f"{entries[-1].line}'s {entries[-1].timestamp_ms:g} ms: sort the trace by timestamp"
            )
        entries.append(entry)
    if not entries:
        raise LLMSetupError(f"{path}: no requests in it: one JSON object per line (Mooncake format)")
    return Trace(str(path), tuple(entries))
