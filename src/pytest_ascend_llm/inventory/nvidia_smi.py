"""Read NVIDIA cards through `nvidia-smi`'s CSV queries rather than its table.

The human table changes between driver releases; `--query-gpu=... --format=csv,noheader,nounits` is the
interface NVIDIA documents for scripts, one line per GPU with the fields in the order asked for. A field
the GPU or the driver cannot report prints as "[N/A]", "[Not Supported]" or a similar bracketed word,
which is read as None rather than as a failure.
"""

from __future__ import annotations

import csv

from pytest_ascend_llm.inventory.records import Card, DeviceProcess, Inventory

GPU_FIELDS = (
    "index",
    "name",
    "uuid",
    "memory.used",
    "memory.total",
    "utilization.gpu",
    "power.draw",
    "power.limit",
    "temperature.gpu",
    "pci.bus_id",
)
APP_FIELDS = ("gpu_uuid", "pid", "process_name", "used_memory")
GPU_QUERY = ("nvidia-smi", f"--query-gpu={','.join(GPU_FIELDS)}", "--format=csv,noheader,nounits")
APPS_QUERY = ("nvidia-smi", f"--query-compute-apps={','.join(APP_FIELDS)}", "--format=csv,noheader,nounits")


def _present(value: str) -> str | None:
    """None for the placeholders nvidia-smi prints instead of a value ("[N/A]", "[Not Supported]", ...)."""
    value = value.strip()
    return None if not value or value in ("N/A", "Not Supported") or value.startswith("[") else value


def _number(value: str, field: str, line: str) -> float | None:
    present = _present(value)
    if present is None:
        return None
    try:
        return float(present)
    except ValueError:
        raise ValueError(f"{field} {present!r} is not a number: {line!r}") from None


def _whole(value: str, field: str, line: str) -> int | None:
    number = _number(value, field, line)
    return None if number is None else int(number)


def _rows(text: str) -> list[tuple[str, list[str]]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return list(zip(lines, csv.reader(lines, skipinitialspace=True)))


def parse_gpus(text: str) -> tuple[Card, ...]:
    """Cards from `nvidia-smi --query-gpu=<GPU_FIELDS> --format=csv,noheader,nounits`."""
    cards = []
    for line, row in _rows(text):
        if len(row) != len(GPU_FIELDS):
            raise ValueError(f"expected {len(GPU_FIELDS)} fields ({', '.join(GPU_FIELDS)}), got {len(row)}: {line!r}")
        values = dict(zip(GPU_FIELDS, row))
        index = _whole(values["index"], "index", line)
        if index is None:
            raise ValueError(f"GPU line has no index: {line!r}")
        cards.append(
            Card(
                kind="cuda",
                index=index,
                chip=None,
                name=_present(values["name"]) or "unknown",
                health=None,
                power_w=_number(values["power.draw"], "power.draw", line),
                temperature_c=_number(values["temperature.gpu"], "temperature.gpu", line),
                utilization_pct=_number(values["utilization.gpu"], "utilization.gpu", line),
                memory_used_mb=_whole(values["memory.used"], "memory.used", line),
                memory_total_mb=_whole(values["memory.total"], "memory.total", line),
                bus_id=_present(values["pci.bus_id"]),
                power_limit_w=_number(values["power.limit"], "power.limit", line),
                uuid=_present(values["uuid"]),
            )
        )
    return tuple(cards)


def parse_apps(text: str, cards: tuple[Card, ...]) -> tuple[DeviceProcess, ...]:
    """Processes from `--query-compute-apps=<APP_FIELDS>`, placed on their card by GPU uuid."""
    index_by_uuid = {card.uuid: card.index for card in cards if card.uuid}
    processes = []
    for line, row in _rows(text):
        if len(row) < len(APP_FIELDS):
            raise ValueError(f"expected {len(APP_FIELDS)} fields ({', '.join(APP_FIELDS)}), got {len(row)}: {line!r}")
        uuid, pid, memory = row[0].strip(), row[1], row[-1]
        name = ",".join(row[2:-1]).strip()  # a process name may itself contain commas
        if uuid not in index_by_uuid:
            raise ValueError(f"compute app on a GPU uuid the GPU query did not list: {line!r}")
        process_id = _whole(pid, "pid", line)
        if process_id is None:
            raise ValueError(f"compute app line has no pid: {line!r}")
        processes.append(
            DeviceProcess(
                card_index=index_by_uuid[uuid],
                pid=process_id,
                name=_present(name),
                memory_mb=_whole(memory, "used_memory", line),
            )
        )
    return tuple(processes)


def parse_nvidia_smi(gpus_text: str, apps_text: str) -> Inventory:
    """The inventory from the two CSV queries; raw_text keeps both for the report."""
    cards = parse_gpus(gpus_text)
    if not cards:
        raise ValueError("the GPU query listed no GPUs")
    raw = f"$ {' '.join(GPU_QUERY)}\n{gpus_text}\n$ {' '.join(APPS_QUERY)}\n{apps_text}"
    return Inventory(tool="nvidia-smi", cards=cards, processes=parse_apps(apps_text, cards), raw_text=raw)
