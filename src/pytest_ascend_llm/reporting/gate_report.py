"""The report's gate section: per case and rule the statistic before and now, the raw change and the
change at equal host speed (slower = positive, as the terminal prints them), the interval and the verdict.
Records saved before ``raw_change`` and ``host_speed`` existed are read too: the raw change is then
computed from before and now, and ``change`` counts as host-adjusted when the note says so."""

from __future__ import annotations

from typing import Any

from pytest_ascend_llm.benchmarking.gate import raw_change
from pytest_ascend_llm.benchmarking.table import change_text
from pytest_ascend_llm.reporting.cells import ms, table

Record = dict[str, Any]


def _relative(record: Record) -> bool:
    return str(record.get("rule", "")).endswith("%")


def _change(record: Record, value: object) -> str:
    return change_text(value, _relative(record))


def _raw(record: Record) -> float | None:
    if "raw_change" in record:
        return record["raw_change"]
    return raw_change(record.get("before"), record.get("now"), _relative(record))


def _adjusted(record: Record) -> bool:
    if "host_speed" in record:
        return record["host_speed"] is not None
    return "equal host speed" in str(record.get("note", ""))  # the note of those records ended so


def gate_section(gates: list[Record]) -> list[str]:
    verdicts = [v for gate in gates for v in gate.get("verdicts", [])]
    if not verdicts:
        return []
    adjusted = any(_adjusted(v) for v in verdicts)
    rows = []
    for v in verdicts:
        row = [v["case"].split("::")[-1], v["rule"], ms(v.get("before")), ms(v.get("now")), _change(v, _raw(v))]
        if adjusted:
            row.append(_change(v, v.get("change")) if _adjusted(v) else "-")
        interval = f"[{_change(v, v.get('low'))}, {_change(v, v.get('high'))}]" if v.get("low") is not None else "-"
        verdict = f"**{v['verdict']}**" if v["verdict"] == "regressed" else v["verdict"]
        rows.append([*row, interval, verdict, v.get("note", "")])
    regressed = sum(v["verdict"] == "regressed" for v in verdicts)
    host = ", and at equal host speed (each round scaled by the host probe; what the verdict judged)"
    head = (
        f"{regressed} regressed of {len(verdicts)} compared. Changes are now against before, + is slower: the raw "
        f"change as measured{host * adjusted}. The 99 % interval is of the change the verdict judged."
    )
    header = ["case", "rule", "before ms", "now ms", "raw change", *(["at equal host speed"] * adjusted),
              "99% interval", "verdict", "note"]  # fmt: skip
    return ["## Against the compared run", "", head, "", *table(header, rows)]
