"""Peak device figures for the roofline: a table of known device models, matched exactly, never guessed.

A device name (as ``torch.npu.get_device_name()`` / ``torch.cuda.get_device_name()`` print it) matches a
row only when it equals one of the row's names, ignoring case, spaces, dashes and underscores. An
unknown device has no table peak: MBU is then taken against the measured copy bandwidth only. Every row
says where its figures come from; Ascend figures are third-party and disagree, so ``--llm-peak-bandwidth``
and ``--llm-device-specs FILE.json`` replace the table, and a figure nobody publishes is left empty.
Memory is the total the vendor's tool prints (npu-smi, nvidia-smi: MiB), not the datasheet's decimal GB,
so a plan rests on the 65536 MiB a 910B2 reports rather than 64e9 bytes; each row names where it was read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError

NVIDIA_DATASHEET = "NVIDIA datasheet"
THIRD_PARTY = "third-party figures; confirm with --llm-peak-bandwidth"
MODAL_TABLE = "Modal's table, https://thundergolfer.com/blog/nvidia-gpu-memory-capacity"
VLLM_ASCEND = "vllm-ascend issue #"


@dataclass(frozen=True)
class DeviceSpecSheet:
    """Dense peak figures of one device model; None where no trustworthy figure is known. Memory is what
    the vendor's tool reports (npu-smi's HBM total, nvidia-smi's memory.total: both MiB), and
    ``memory_source`` says where that figure was read."""

    name: str
    memory_bytes: int | None
    bandwidth_bytes_per_s: float | None
    tflops_16bit: float | None
    source: str
    aliases: tuple[str, ...] = ()
    memory_source: str | None = None

    def describe(self) -> str:
        bandwidth = f"{self.bandwidth_bytes_per_s / 1e12:g} TB/s" if self.bandwidth_bytes_per_s else "bandwidth unknown"
        return f"table row {self.name!r} ({bandwidth}; {self.source})"

    def describe_memory(self) -> str:
        """'65536 MiB (npu-smi HBM total …)': the figure a plan rests on, and where it was read."""
        if not self.memory_bytes:
            return f"table row {self.name!r} has no memory size"
        return f"{self.memory_bytes // 2**20} MiB per device (table row {self.name!r}: {self.memory_source})"


Memory = tuple[int, str]  # (MiB, where that figure was read)


def _npu_smi(mib: int, where: str) -> Memory:
    """npu-smi prints HBM as ``used/ total`` under "HBM-Usage(MB)"; its MB are MiB (65536 on a 64 GiB card)."""
    return mib, f"npu-smi's HBM total on {where}"


def _nvidia_smi(mib: int, card: str) -> Memory:
    return mib, f"nvidia-smi's memory.total on an {card}, {MODAL_TABLE}"


def _datasheet(gb: int) -> Memory:
    """No vendor-tool reading found: the datasheet's decimal GB, said as such (the card reports more)."""
    mib = int(gb * 1e9) // 2**20
    return mib, f"datasheet {gb} GB (decimal), no nvidia-smi reading recorded: prefer --device-memory"


def _row(name: str, aliases: tuple[str, ...], memory: Memory | None, bandwidth_tb_s, tflops, source: str):
    return DeviceSpecSheet(
        name=name,
        memory_bytes=memory[0] * 2**20 if memory else None,
        bandwidth_bytes_per_s=bandwidth_tb_s * 1e12 if bandwidth_tb_s else None,
        tflops_16bit=tflops,
        source=source,
        aliases=aliases,
        memory_source=memory[1] if memory else None,
    )


# Names as the drivers print them. First-generation Ascend 910 parts report as Ascend910A/ProA/ProB/
# PremiumA (CANN soc versions); the second generation as Ascend910B1..B4; Atlas A3 dies as Ascend910_93xx.
# Ascend memory is npu-smi's HBM total from the recorded outputs in tests/data/npu_smi (SOURCES.md there).
SPEC_TABLE: tuple[DeviceSpecSheet, ...] = (
    _row(
        "Ascend 910 (first generation)",
        ("Ascend910A", "Ascend910ProA", "Ascend910ProB", "Ascend910PremiumA"),
        _npu_smi(32768, "a 910A in an Atlas 800 model 9000, HAICGU cluster documentation"),
        1.2,
        256,
        "Huawei launch figures (FP16) and third-party bandwidth",
    ),
    _row("Ascend 910B1", ("Ascend910B1",), _npu_smi(65536, "2x 910B1, gpustack's npu_smi.py"), None, None, THIRD_PARTY),
    _row(
        "Ascend 910B2",
        ("Ascend910B2", "Ascend910B2C"),
        _npu_smi(65536, f"8x 910B2, {VLLM_ASCEND}362; 910B2C the same, nputop's tests"),
        1.6,
        354,
        THIRD_PARTY,
    ),
    _row("Ascend 910B3", ("Ascend910B3",), _npu_smi(65536, f"8x 910B3, {VLLM_ASCEND}900"), 1.6, 295, THIRD_PARTY),
    _row(
        "Ascend 910B4",
        ("Ascend910B4",),
        _npu_smi(32768, "a 910B4, triton-ascend's installation guide"),
        0.8,
        246,
        THIRD_PARTY,
    ),
    _row(
        "Ascend 910B4-1",
        ("Ascend910B4-1",),
        _npu_smi(65536, f"2x 910B4-1, {VLLM_ASCEND}5606"),
        None,
        None,
        THIRD_PARTY,
    ),
    _row(
        "Ascend 910 A3 die (910_93xx)",
        tuple(f"Ascend910_93{n}" for n in ("91", "92", "81", "82", "72", "62")),
        _npu_smi(65536, f"each die of an Atlas A3, {VLLM_ASCEND}4930"),
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
    _row(
        "NVIDIA H100 SXM",
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"),
        _nvidia_smi(81559, "H100 80GB"),
        3.35,
        989,
        NVIDIA_DATASHEET,
    ),
    _row("NVIDIA H100 PCIe", ("NVIDIA H100 PCIe",), _datasheet(80), 2.0, 756, NVIDIA_DATASHEET),
    _row("NVIDIA H100 NVL", ("NVIDIA H100 NVL",), _datasheet(94), 3.9, 835, NVIDIA_DATASHEET),
    _row("NVIDIA H200 SXM", ("NVIDIA H200",), _nvidia_smi(143771, "H200"), 4.8, 989, NVIDIA_DATASHEET),
    _row("NVIDIA H200 NVL", ("NVIDIA H200 NVL",), _datasheet(141), 4.8, 835, NVIDIA_DATASHEET),
    _row("NVIDIA GH200 (96 GB HBM3)", ("NVIDIA GH200 480GB",), _datasheet(96), 4.0, 989, NVIDIA_DATASHEET),
    _row("NVIDIA GH200 (144 GB HBM3e)", ("NVIDIA GH200 144G HBM3e",), _datasheet(144), 4.9, 989, NVIDIA_DATASHEET),
    _row(
        "NVIDIA A100 SXM 80GB",
        ("NVIDIA A100-SXM4-80GB",),
        _nvidia_smi(81920, "A100 80GB"),
        2.039,
        312,
        NVIDIA_DATASHEET,
    ),
    _row(
        "NVIDIA A100 SXM 40GB",
        ("NVIDIA A100-SXM4-40GB",),
        _nvidia_smi(40960, "A100 40GB"),
        1.555,
        312,
        NVIDIA_DATASHEET,
    ),
    _row("NVIDIA A100 PCIe 80GB", ("NVIDIA A100 80GB PCIe",), _datasheet(80), 1.935, 312, NVIDIA_DATASHEET),
    _row("NVIDIA A100 PCIe 40GB", ("NVIDIA A100-PCIE-40GB",), _datasheet(40), 1.555, 312, NVIDIA_DATASHEET),
)


def normalize(name: str) -> str:
    """Case, spaces, dashes and underscores do not distinguish device models; everything else does."""
    return re.sub(r"[\s_\-]", "", name.lower())


def load_spec_file(path: Path) -> tuple[DeviceSpecSheet, ...]:
    """Rows {"<device name>": {"bandwidth_tb_s": …, "memory_mib": …, "tflops": …}} from a JSON file;
    ``memory_mib`` as npu-smi / nvidia-smi print it (``memory_gb``, decimal, is read too)."""
    try:
        raw = json.loads(Path(path).read_text())
        return tuple(
            _row(name, (name,), _file_memory(v, path), v["bandwidth_tb_s"], v.get("tflops"), f"your spec file {path}")
            for name, v in raw.items()
        )
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise LLMSetupError(
            f"device spec file {path} is unusable ({error}): "
            'write {"Ascend910B2": {"bandwidth_tb_s": 1.6, "memory_mib": 65536, "tflops": 354}}'
        ) from None


def _file_memory(row: dict, path: Path) -> Memory | None:
    if row.get("memory_mib"):
        return int(row["memory_mib"]), f"your spec file {path}"
    if row.get("memory_gb"):
        return int(row["memory_gb"] * 1e9) // 2**20, f"your spec file {path} (memory_gb, decimal)"
    return None


def lookup(device_name: str, extra: tuple[DeviceSpecSheet, ...] = ()) -> DeviceSpecSheet | None:
    """The row (user rows before the built-in table) with a name equal to the device's, or None."""
    key = normalize(device_name)
    for sheet in (*extra, *SPEC_TABLE):
        if key in {normalize(alias) for alias in (*sheet.aliases, sheet.name)}:
            return sheet
    return None


def known_names(extra: tuple[DeviceSpecSheet, ...] = ()) -> list[str]:
    """Every name a device can be looked up by, as the drivers print them."""
    return [alias for sheet in (*extra, *SPEC_TABLE) for alias in sheet.aliases]


def suggest(device_name: str) -> list[str]:
    """Known names a mistyped one may mean ('910B3' → ['Ascend910B3']): the one it ends, else those it is
    part of, else the nearest by spelling; empty when none is near."""
    import difflib

    names = {normalize(name): name for name in known_names()}
    key = normalize(device_name)
    ending = [name for norm, name in names.items() if key and norm.endswith(key)]
    if len(ending) == 1:
        return ending
    within = [name for norm, name in names.items() if key and key in norm]
    if within:
        return within
    return [names[near] for near in difflib.get_close_matches(key, list(names), n=3, cutoff=0.75)]
