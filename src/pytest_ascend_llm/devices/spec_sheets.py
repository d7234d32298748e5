"""Peak device figures for the roofline: a table of known device models, matched exactly, never guessed.

A device name (as ``torch.npu.get_device_name()`` / ``torch.cuda.get_device_name()`` print it) matches a
row only when it equals one of the row's names, ignoring case, spaces, dashes and underscores. An
unknown device has no table peak: MBU is then taken against the measured copy bandwidth only. Every row
says where its figures come from; Ascend figures are third-party and disagree, so ``--llm-peak-bandwidth``
and ``--llm-device-specs FILE.json`` replace the table, and a figure nobody publishes is left empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError

NVIDIA_DATASHEET = "NVIDIA datasheet"
THIRD_PARTY = "third-party figures; confirm with --llm-peak-bandwidth"


@dataclass(frozen=True)
class DeviceSpecSheet:
    """Dense peak figures of one device model; None where no trustworthy figure is known."""

    name: str
    memory_bytes: int | None
    bandwidth_bytes_per_s: float | None
    tflops_16bit: float | None
    source: str
    aliases: tuple[str, ...] = ()

    def describe(self) -> str:
        bandwidth = f"{self.bandwidth_bytes_per_s / 1e12:g} TB/s" if self.bandwidth_bytes_per_s else "bandwidth unknown"
        return f"table row {self.name!r} ({bandwidth}; {self.source})"


def _row(name: str, aliases: tuple[str, ...], memory_gb, bandwidth_tb_s, tflops, source: str) -> DeviceSpecSheet:
    return DeviceSpecSheet(
        name=name,
        memory_bytes=int(memory_gb * 1e9) if memory_gb else None,
        bandwidth_bytes_per_s=bandwidth_tb_s * 1e12 if bandwidth_tb_s else None,
        tflops_16bit=tflops,
        source=source,
        aliases=aliases,
    )


# Names as the drivers print them. First-generation Ascend 910 parts report as Ascend910A/ProA/ProB/
# PremiumA (CANN soc versions); the second generation as Ascend910B1..B4; Atlas A3 dies as Ascend910_93xx.
SPEC_TABLE: tuple[DeviceSpecSheet, ...] = (
    _row(
        "Ascend 910 (first generation)",
        ("Ascend910A", "Ascend910ProA", "Ascend910ProB", "Ascend910PremiumA"),
        32,
        1.2,
        256,
        "Huawei launch figures (FP16) and third-party memory figures",
    ),
    _row("Ascend 910B1", ("Ascend910B1",), 64, None, None, THIRD_PARTY),
    _row("Ascend 910B2", ("Ascend910B2", "Ascend910B2C"), 64, 1.6, 354, THIRD_PARTY),
    _row("Ascend 910B3", ("Ascend910B3",), 64, 1.6, 295, THIRD_PARTY),
    _row("Ascend 910B4", ("Ascend910B4", "Ascend910B4-1"), 32, 0.8, 246, THIRD_PARTY),
    _row(
        "Ascend 910 A3 die (910_93xx)",
        tuple(f"Ascend910_93{n}" for n in ("91", "92", "81", "82", "72", "62")),
        64,
        None,
        None,
        THIRD_PARTY,
    ),
    _row(
        "Ascend 310P (one chip)",
        ("Ascend310P1", "Ascend310P3"),
        None,
        0.204,
        None,
        "Atlas 300I Duo figures per chip (vendor coverage); memory differs by card, read it from the device",
    ),
    _row("NVIDIA H100 SXM", ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"), 80, 3.35, 989, NVIDIA_DATASHEET),
    _row("NVIDIA H100 PCIe", ("NVIDIA H100 PCIe",), 80, 2.0, 756, NVIDIA_DATASHEET),
    _row("NVIDIA H100 NVL", ("NVIDIA H100 NVL",), 94, 3.9, 835, NVIDIA_DATASHEET),
    _row("NVIDIA H200 SXM", ("NVIDIA H200",), 141, 4.8, 989, NVIDIA_DATASHEET),
    _row("NVIDIA H200 NVL", ("NVIDIA H200 NVL",), 141, 4.8, 835, NVIDIA_DATASHEET),
    _row("NVIDIA GH200 (96 GB HBM3)", ("NVIDIA GH200 480GB",), 96, 4.0, 989, NVIDIA_DATASHEET),
    _row("NVIDIA GH200 (144 GB HBM3e)", ("NVIDIA GH200 144G HBM3e",), 144, 4.9, 989, NVIDIA_DATASHEET),
    _row("NVIDIA A100 SXM 80GB", ("NVIDIA A100-SXM4-80GB",), 80, 2.039, 312, NVIDIA_DATASHEET),
    _row("NVIDIA A100 SXM 40GB", ("NVIDIA A100-SXM4-40GB",), 40, 1.555, 312, NVIDIA_DATASHEET),
    _row("NVIDIA A100 PCIe 80GB", ("NVIDIA A100 80GB PCIe",), 80, 1.935, 312, NVIDIA_DATASHEET),
    _row("NVIDIA A100 PCIe 40GB", ("NVIDIA A100-PCIE-40GB",), 40, 1.555, 312, NVIDIA_DATASHEET),
)


def normalize(name: str) -> str:
    """Case, spaces, dashes and underscores do not distinguish device models; everything else does."""
    return re.sub(r"[\s_\-]", "", name.lower())


def load_spec_file(path: Path) -> tuple[DeviceSpecSheet, ...]:
    """Rows {"<device name>": {"bandwidth_tb_s": …, "memory_gb": …, "tflops": …}} from a JSON file."""
    try:
        raw = json.loads(Path(path).read_text())
        return tuple(
            _row(name, (name,), v.get("memory_gb"), v["bandwidth_tb_s"], v.get("tflops"), f"your spec file {path}")
            for name, v in raw.items()
        )
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise LLMSetupError(
            f"device spec file {path} is unusable ({error}): "
            'write {"Ascend910B2": {"bandwidth_tb_s": 1.6, "memory_gb": 64, "tflops": 354}}'
        ) from None


def lookup(device_name: str, extra: tuple[DeviceSpecSheet, ...] = ()) -> DeviceSpecSheet | None:
    """The row (user rows before the built-in table) with a name equal to the device's, or None."""
    key = normalize(device_name)
    for sheet in (*extra, *SPEC_TABLE):
        if key in {normalize(alias) for alias in (*sheet.aliases, sheet.name)}:
            return sheet
    return None
