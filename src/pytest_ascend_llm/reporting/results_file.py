"""The results file: one JSON line per finished test, flushed and fsynced the moment it is written, so
a crash, an out-of-memory kill or a SIGKILL in the middle of a long device run keeps everything
measured so far, and the report can be rebuilt from this file alone.

Lines are records with a ``kind``: ``session`` (the environment and stack of a run, once per process
that ran tests), ``test`` (one finished test: outcome, duration, device, worker, what it measured),
``gate`` (the regression gate's verdicts) and ``end``. Every record carries the run's ``run`` id, so
runs appended to one file stay apart.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEFAULT_NAME = "ascend-llm-results.jsonl"


def plain(value: Any) -> Any:
    """JSON-safe: NaN/inf become None (JSON has no NaN), unknown objects their str."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class ResultsFile:
    """Appends records to ``path``; opened on the first record, so a run that measures nothing writes nothing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle = None

    def append(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(plain(record), separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every whole record; a last line cut short by a kill mid-write is skipped, not an error."""
    with Path(path).open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue


def last_run(path: str | Path, run: str | None = None) -> list[dict[str, Any]]:
    """The records of one run: ``run`` by id, else the last run written to the file."""
    records = list(read_records(path))
    if not records:
        return []
    wanted = run or records[-1].get("run")
    return [record for record in records if record.get("run") == wanted]
