"""Peak device figures for the roofline, seeded from shared HARDWARE.md; users can override them.

Ascend figures come from third parties and disagree, so a measured copy bandwidth is reported beside
the table's, and ``--llm-peak-bandwidth`` / ``--llm-device-specs FILE.json`` replace the table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError


@dataclass(frozen=True)
class DeviceSpecSheet:
    """Dense peak figures of one device model."""

    name: str
    memory_bytes: int
    bandwidth_bytes_per_s: float
    tflops_16bit: float | None
    source: str = "table"


def _sheet(name: str, memory_gb: float, bandwidth_tb_s: float, tflops: float | None) -> DeviceSpecSheet:
    return DeviceSpecSheet(name, int(memory_gb * 1e9), bandwidth_tb_s * 1e12, tflops)


# Matched in order against the normalized device name (lowercase, no spaces or dashes): specific first.
SPEC_TABLE: tuple[tuple[str, DeviceSpecSheet], ...] = (
    ("910b2", _sheet("Ascend 910B2", 64, 1.6, 354)),
    ("910b3", _sheet("Ascend 910B3", 64, 1.6, 295)),
    ("910b4", _sheet("Ascend 910B4", 32, 0.8, 246)),
    ("910", _sheet("Ascend 910", 32, 1.2, 256)),
    ("310p", _sheet("Atlas 300I Duo (one 310P)", 48, 0.204, None)),
    ("h100pcie", _sheet("NVIDIA H100 PCIe", 80, 2.0, 756)),
    ("h100", _sheet("NVIDIA H100 SXM", 80, 3.35, 989)),
    ("h200", _sheet("NVIDIA H200 SXM", 141, 4.8, 989)),
)


def normalize(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def load_spec_file(path: Path) -> tuple[tuple[str, DeviceSpecSheet], ...]:
    """Entries {"<name pattern>": {"bandwidth_tb_s": …, "memory_gb": …, "tflops": …}} from a JSON file."""
    try:
        raw = json.loads(Path(path).read_text())
        return tuple(
            (normalize(pattern), _sheet(pattern, v.get("memory_gb", 0), v["bandwidth_tb_s"], v.get("tflops")))
            for pattern, v in raw.items()
        )
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise LLMSetupError(
            f"device spec file {path} is unusable ({error}): "
            'write {"910b2": {"bandwidth_tb_s": 1.6, "memory_gb": 64, "tflops": 354}}'
        ) from None


def lookup(device_name: str, extra: tuple[tuple[str, DeviceSpecSheet], ...] = ()) -> DeviceSpecSheet | None:
    """The first entry (user entries before the built-in table) whose pattern occurs in the name."""
    key = normalize(device_name)
    for pattern, sheet in (*extra, *SPEC_TABLE):
        if pattern in key:
            return sheet
    return None
