"""Parse the text tables of Huawei's `npu-smi`: `npu-smi info`, and the `-t usages` / `-t power` key lists.

`npu-smi info` has no machine-readable mode and its layout changes with the driver: 20.x has no
Hugepages column, 23.x-25.x print 96-character rows, 26.x widens them and adds "Process id in container",
Atlas A3 cards list two chips with a Phy-ID column, 310P cards list DDR instead of HBM, and Ascend 950
servers spell the first column "NPU ID" and the utilisation "NPU Util(%)". What stays is that each card
is two table rows under a two-row header whose cells name their columns. So every value is found by the
column name in the same cell of the header, never by a character position, and anything else raises a
ValueError that quotes the line it could not place (never an IndexError).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_ascend_llm.inventory.records import Card, DeviceProcess, Inventory
from pytest_ascend_llm.inventory.tools import first_line

INFO_COMMAND = ("npu-smi", "info")

# Column names as the header rows print them; longest first so "NPU ID" is not read as "NPU" + "ID".
KNOWN_COLUMNS = tuple(
    sorted(
        (
            "NPU",
            "NPU ID",
            "Name",
            "Health",
            "Power(W)",
            "Temp(C)",
            "Hugepages-Usage(page)",
            "Chip",
            "Phy-ID",
            "Device",
            "Bus-Id",
            "AICore(%)",
            "NPU Util(%)",
            "Memory-Usage(MB)",
            "HBM-Usage(MB)",
            "Process id",
            "Process name",
            "Process memory(MB)",
            "Process id in container",
        ),
        key=len,
        reverse=True,
    )
)
Header = tuple[list[list[str]], list[list[str]]]  # the two header rows, each as cells of column names
_VERSION = re.compile(r"npu-smi\s+\S+\s+Version:\s*(\S+)")
_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)")
_IDLE = re.compile(r"No running processes found(?:\s+in\s+NPU\s+(\d+))?", re.IGNORECASE)
_MISSING = {"", "-", "NA", "N/A", "--"}


def parse_npu_smi_info(text: str) -> Inventory:
    """Cards and processes from the text of `npu-smi info`."""
    rows = [line.strip() for line in text.splitlines()]
    version = next((match.group(1) for line in rows if (match := _VERSION.search(line))), None)
    first = _card_header_at(rows)
    second = _next_row(rows, first, "card header")
    cards, process_at = _card_rows(rows, second + 1, (_header_cells(rows[first]), _header_cells(rows[second])))
    processes = _process_rows(rows, process_at) if process_at is not None else ()
    return Inventory(
        tool="npu-smi", cards=tuple(cards), processes=tuple(processes), tool_version=version, raw_text=text
    )


def _card_header_at(rows: list[str]) -> int:
    for at, row in enumerate(rows):
        if row.startswith("|"):
            names = {name for cell in _header_cells(row) for name in cell}
            if "Health" in names and ("NPU" in names or "NPU ID" in names):
                return at
    start = first_line("\n".join(rows))
    seen = f"output starts {start!r}" if start else "the output is empty"
    raise ValueError(f"no card table: no header row naming NPU, Name and Health ({seen})")


def _next_row(rows: list[str], after: int, what: str) -> int:
    """Index of the next table row after `after`, skipping border lines."""
    for at in range(after + 1, len(rows)):
        if rows[at].startswith("|"):
            return at
        if rows[at] and not rows[at].startswith("+"):
            break
    raise ValueError(f"the {what} is missing its second row after {rows[after]!r}")


def _cells(row: str) -> list[str]:
    inner = row.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    return inner.split("|")


def _header_cells(row: str) -> list[list[str]]:
    """Each header cell as the list of column names it holds, e.g. ['Power(W)', 'Temp(C)', ...]."""
    cells = []
    for cell in _cells(row):
        names, rest = [], cell.strip()
        while rest:
            known = next((k for k in KNOWN_COLUMNS if rest == k or rest.startswith(k + " ")), None)
            name = known or re.match(r"\S+(?: \S+)*", rest).group()  # an unknown name ends at a double space
            names.append(name)
            rest = rest[len(name) :].strip()
        cells.append(names)
    return cells


def _values(row: str, header: list[list[str]]) -> dict[str, str]:
    """Column name -> value for one data row, cell by cell against the header's cells."""
    cells = _cells(row)
    if len(cells) != len(header):
        raise ValueError(f"row has {len(cells)} cells where the header has {len(header)}: {row!r}")
    values: dict[str, str] = {}
    for names, cell in zip(header, cells):
        if len(names) <= 1:
            if names:
                values[names[0]] = " ".join(cell.split())
            elif cell.strip():
                raise ValueError(f"value {cell.strip()!r} sits under no column: {row!r}")
            continue
        tokens = _FRACTION.sub(r"\1/\2", cell).split()
        if len(tokens) > len(names) and names[-1] == "Name":  # a name printed with spaces
            tokens = tokens[: len(names) - 1] + [" ".join(tokens[len(names) - 1 :])]
        if len(tokens) != len(names):
            raise ValueError(f"expected {len(names)} values ({', '.join(names)}) in cell {cell.strip()!r}: {row!r}")
        values.update(zip(names, tokens))
    return values


def _card_rows(rows: list[str], start: int, header: Header) -> tuple[list[Card], int | None]:
    """Cards from the row pairs after the header; also where the process table starts (or None)."""
    pending: list[str] = []
    cards: list[Card] = []
    for at in range(start, len(rows)):
        row = rows[at]
        if not row or row.startswith("+"):
            continue
        if not row.startswith("|"):
            raise ValueError(f"line inside the card table not understood: {row!r}")
        if "Process id" in row or _IDLE.search(row):
            if pending:
                raise ValueError(f"card row without its second row: {pending[0]!r}")
            return cards, at
        pending.append(row)
        if len(pending) == 2:
            cards.append(_card({**_values(pending[0], header[0]), **_values(pending[1], header[1])}, pending[0]))
            pending = []
    if pending:
        raise ValueError(f"card row without its second row: {pending[0]!r}")
    return cards, None


def _card(values: dict[str, str], row: str) -> Card:
    index = _int(values.get("NPU", values.get("NPU ID")))
    if index is None or not values.get("Name"):
        raise ValueError(f"card row has no NPU id and name: {row!r}")
    hbm, memory = _fraction(values.get("HBM-Usage(MB)")), _fraction(values.get("Memory-Usage(MB)"))
    used, total, kind = None, None, None
    if hbm and hbm[1] > 0:
        used, total, kind = hbm[0], hbm[1], "HBM"
    elif memory and memory[1] > 0:
        used, total, kind = memory[0], memory[1], "DDR"
    bus = values.get("Bus-Id")
    return Card(
        kind="npu",
        index=index,
        chip=_int(values.get("Chip")),
        name=values["Name"],
        health=values.get("Health") or None,
        power_w=_float(values.get("Power(W)")),
        temperature_c=_float(values.get("Temp(C)")),
        utilization_pct=_float(values.get("AICore(%)", values.get("NPU Util(%)"))),
        memory_used_mb=used,
        memory_total_mb=total,
        bus_id=None if bus in _MISSING or bus is None else bus,
        memory_kind=kind,
    )


def _process_rows(rows: list[str], start: int) -> list[DeviceProcess]:
    """Processes from the table that starts at `start` (its header row, or an idle line before it)."""
    header: list[list[str]] | None = None
    processes = []
    for row in rows[start:]:
        if not row or row.startswith("+"):
            continue
        if not row.startswith("|"):
            break  # text after the table (a prompt, a log line) is not part of it
        if _IDLE.search(row):
            continue
        if header is None:
            if "Process id" not in row:
                raise ValueError(f"process table row before its header: {row!r}")
            header = _header_cells(row)
            continue
        values = _values(row, header)
        card, pid = _int(values.get("NPU", values.get("NPU ID"))), _int(values.get("Process id"))
        if card is None or pid is None:
            raise ValueError(f"process row has no NPU id and process id: {row!r}")
        processes.append(
            DeviceProcess(
                card_index=card,
                chip=_int(values.get("Chip")),
                pid=pid,
                name=values.get("Process name") or None,
                memory_mb=_int(values.get("Process memory(MB)")),
            )
        )
    return processes


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _float(value: str | None) -> float | None:
    if value is None or value.strip() in _MISSING:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _fraction(value: str | None) -> tuple[int, int] | None:
    match = _FRACTION.fullmatch((value or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class NpuUsages:
    """One chip's block of `npu-smi info -t usages`: percentages as printed, capacities in MB.

    `values` keeps every key as printed, because the key set differs by chip (310P has DVPP rates and no
    HBM; newer drivers add "NPU Utilization(%)" and "Aicube Usage Rate(%)").
    """

    npu_id: int | None
    chip_id: int | None
    aicore_pct: float | None
    hbm_usage_pct: float | None
    hbm_bandwidth_pct: float | None
    hbm_capacity_mb: int | None
    ddr_capacity_mb: int | None
    npu_utilization_pct: float | None
    values: dict[str, str] = field(default_factory=dict, compare=False)


def key_values(text: str) -> list[tuple[str, str]]:
    """The 'Key   : value' lines of an `npu-smi info -t ...` listing, in order (keys may repeat)."""
    pairs = []
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip():
            pairs.append((key.strip(), value.strip()))
    return pairs


def parse_npu_smi_usages(text: str) -> tuple[NpuUsages, ...]:
    """Per-chip usage blocks of `npu-smi info -t usages -i N [-c C]`; each block ends at its 'Chip ID'."""
    pairs = key_values(text)
    if not any(key.endswith(("(%)", "(MB)")) for key, _ in pairs):  # an error message may contain a colon too
        raise ValueError(f"no 'key : value' usage lines in npu-smi output (starts {first_line(text)!r})")
    npu_id = next((_int(value) for key, value in pairs if key == "NPU ID"), None)
    blocks, block = [], {}
    for key, value in pairs:
        if key in ("NPU ID", "Chip Count"):
            continue
        block[key] = value
        if key == "Chip ID":
            blocks.append(block)
            block = {}
    if block and any(key != "Chip ID" for key in block):
        blocks.append(block)  # `-c C` listings may end without a Chip ID line
    return tuple(_usages(npu_id, values) for values in blocks)


def _usages(npu_id: int | None, values: dict[str, str]) -> NpuUsages:
    return NpuUsages(
        npu_id=npu_id,
        chip_id=_int(values.get("Chip ID")),
        aicore_pct=_float(values.get("Aicore Usage Rate(%)")),
        hbm_usage_pct=_float(values.get("HBM Usage Rate(%)")),
        hbm_bandwidth_pct=_float(values.get("HBM Bandwidth Usage Rate(%)")),
        hbm_capacity_mb=_int(values.get("HBM Capacity(MB)")),
        ddr_capacity_mb=_int(values.get("DDR Capacity(MB)")),
        npu_utilization_pct=_float(values.get("NPU Utilization(%)")),
        values=dict(values),
    )


# Power keys seen in `-t power` and `-t common` listings; the first one printed wins.
POWER_KEYS = ("NPU Real-time Power(W)", "Power Dissipation(W)", "Real-time Power(W)", "Power(W)")


def parse_npu_smi_power(text: str) -> float | None:
    """Watts from `npu-smi info -t power -i N -c C` (or `-t common`); None when the chip prints NA."""
    for key, value in key_values(text):
        if key in POWER_KEYS or (key.endswith("Power(W)") and "Limit" not in key):
            return _float(value.split()[0] if value.split() else value)
    raise ValueError(f"no power reading ({', '.join(POWER_KEYS)}) in npu-smi output (starts {first_line(text)!r})")
