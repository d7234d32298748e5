"""The machine, software stack, device and model of a run as one JSON-ready object.

Every report (header, JUnit properties, saved benchmarks) reuses it, so a regression can be traced
to the stack change that caused it. Only a whitelist of environment variables is kept, and values
shaped like keys or tokens are masked, so secrets never reach a report or a log.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from pytest_ascend_llm.ascend_versions import read_cann_version, read_driver_version
from pytest_ascend_llm.torch_backend import prepare_torch

if TYPE_CHECKING:
    from pytest_ascend_llm.devices.base import Device

RECORDED_VARIABLES = (
    "ASCEND_RT_VISIBLE_DEVICES",
    "CUDA_VISIBLE_DEVICES",
    "ASCEND_HOME_PATH",
    "ASCEND_TOOLKIT_HOME",
    "TORCH_DEVICE_BACKEND_AUTOLOAD",
    "HF_HUB_OFFLINE",
)
# Field name -> label in human lines; differences() compares these against a saved run.
STACK_FIELDS = {
    "device_name": "device",
    "cann": "CANN",
    "driver": "driver",
    "torch": "torch",
    "torch_npu": "torch_npu",
    "transformers": "transformers",
    "sglang": "sglang",
    "vllm": "vllm",
    "model_hash": "model_hash",
    "dtype": "dtype",
    "engine": "engine",
}
SUMMARY_FIELDS = ("torch", "torch_npu", "cann", "driver", "transformers", "sglang")
MAX_SAFETENSORS_HEADER = 100 * 2**20  # the format's own limit; a larger length means a corrupt file

# Names built from words such as KEY or TOKEN (HF_TOKEN, OPENAI_API_KEY), but not TOKENIZERS_PARALLELISM.
_SECRET_WORD = r"(?:\w+_)?(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(?:_\w+)?"
_SECRET_NAME = re.compile(rf"^{_SECRET_WORD}$", re.I)
_ASSIGNMENT = re.compile(rf"\b({_SECRET_WORD})(\s*[=:]\s*)\S+", re.I)
_TOKEN = re.compile(r"\b(?:sk-[A-Za-z0-9_\-]{6,}|hf_[A-Za-z0-9]{10,})|(?i:bearer)\s+\S+")


def redact_secrets(text: str) -> str:
    """Mask values that look like keys or tokens, including the current values of secret variables."""
    text = _ASSIGNMENT.sub(r"\1\2***", text)
    text = _TOKEN.sub("***", text)
    for name, value in os.environ.items():
        if _SECRET_NAME.match(name) and len(value) >= 6:
            text = text.replace(value, "***")
    return text


def package_version(distribution: str) -> str | None:
    """Installed version from metadata, without importing the package (sglang and vllm are slow to import)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class EnvironmentInfo:
    """Machine, software stack, device and model of one run; versions are None when absent."""

    os: str
    kernel: str
    cpu_model: str
    cpu_count: int
    ram_bytes: int
    disk_free_bytes: int
    python: str
    torch: str | None = None
    torch_npu: str | None = None
    cann: str | None = None
    driver: str | None = None
    transformers: str | None = None
    tokenizers: str | None = None
    sglang: str | None = None
    vllm: str | None = None
    device_kind: str | None = None
    device_name: str | None = None
    device_count: int | None = None
    device_memory_bytes: int | None = None
    model_id: str | None = None
    model_hash: str | None = None
    tokenizer_hash: str | None = None
    dtype: str | None = None
    engine: str | None = None
    graph_mode: str | None = None
    engine_flags: list[str] = field(default_factory=list)  # a launched server's extra flags, secrets masked
    npu_problem: str | None = None
    usable_cores: int | None = None
    torch_threads: int | None = None
    load_average_1m: float | None = None  # when the session opened
    load_average_1m_end: float | None = None  # when it finished
    thread_settings: dict[str, str] = field(default_factory=dict)  # OMP_NUM_THREADS and friends
    host_settings: dict[str, str] = field(default_factory=dict)  # governor, NUMA balancing, ...: they change timings
    env: dict[str, str] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)  # who answered, for server engines
    inventory: dict[str, Any] = field(default_factory=dict)  # npu-smi / nvidia-smi: cards, health, processes

    def to_dict(self) -> dict[str, Any]:
        """Plain str/int/None values and one str dict: json.dumps accepts it as is."""
        return asdict(self)

    def stack_summary(self) -> str:
        """One line for a report header: 'torch 2.5.1, torch_npu -, CANN 8.0.RC2, ...'."""
        return ", ".join(f"{STACK_FIELDS[name]} {getattr(self, name) or '-'}" for name in SUMMARY_FIELDS)

    def host_summary(self) -> str:
        """The host conditions timings rest on: torch's CPU threads, usable cores, load when captured."""
        load = "-" if self.load_average_1m is None else f"{self.load_average_1m:.2f}"
        variables = "".join(f", {name}={value}" for name, value in self.thread_settings.items())
        return (
            f"{self.cpu_model}, torch threads {self.torch_threads} of {self.usable_cores} usable cores "
            f"(--llm-cpu-threads){variables}, 1-min load average {load}"
        ) + "".join(f", {name} {value}" for name, value in self.host_settings.items())

    def differences(self, other: dict[str, Any]) -> list[str]:
        """'CANN 8.0.RC2 → 8.1.RC1' for each stack field that differs from a saved run's to_dict()."""
        lines = []
        for name, label in STACK_FIELDS.items():
            before, now = other.get(name) or None, getattr(self, name) or None
            if before != now:
                lines.append(f"{label} {before or '-'} → {now or '-'}")
        return lines


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)


class _Digest:
    """12 hex chars over labelled parts, each length-prefixed so no two different sets of parts collide."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def add(self, label: str, data: bytes) -> None:
        self.digest.update(f"{label}\0{len(data)}\0".encode())
        self.digest.update(data)

    def hex(self) -> str:
        return self.digest.hexdigest()[:12]


def tokenizer_fingerprint(model_dir: Path) -> str | None:
    """12 hex chars identifying a tokenizer from its files; None when the folder has none of them.
    Two runs' token-level outputs are comparable only when this matches."""
    found = [Path(model_dir) / name for name in TOKENIZER_FILES if (Path(model_dir) / name).is_file()]
    if not found:
        return None
    digest = _Digest()
    for path in found:
        digest.add(path.name, path.read_bytes())
    return digest.hex()


def model_fingerprint(model_dir: Path) -> str:
    """12 hex chars identifying a checkpoint: config.json, the weights' index, each safetensors header, and a
    sample of each file's tensor bytes.

    The sample (the first and last 64 KiB of the tensor data and 16 blocks of 4 KiB spread between) tells a
    fine-tune or a re-initialised copy from the original, whose headers are the same; reading it with
    seeks keeps a 30 GB model at milliseconds.
    """
    model_dir = Path(model_dir)
    digest = _Digest()
    config = model_dir / "config.json"
    if config.is_file():
        digest.add("config.json", config.read_bytes())
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        digest.add(index.name, index.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")):
        size = weights.stat().st_size
        with weights.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            header = handle.read(min(length, MAX_SAFETENSORS_HEADER))
            digest.add(f"{weights.name}:{size}", header)
            digest.add(f"{weights.name}:data", _data_sample(handle, 8 + len(header), size))
    for weights in sorted(model_dir.glob("*.bin")):
        digest.add(f"{weights.name}:{weights.stat().st_size}", b"")
    return digest.hex()


SAMPLE_EDGE, SAMPLE_BLOCK, SAMPLE_BLOCKS = 64 * 2**10, 4 * 2**10, 16


def _data_sample(handle, start: int, end: int) -> bytes:
    """The first and last SAMPLE_EDGE bytes of [start, end) and SAMPLE_BLOCKS blocks evenly spaced between."""
    if end - start <= 2 * SAMPLE_EDGE + SAMPLE_BLOCKS * SAMPLE_BLOCK:
        handle.seek(start)
        return handle.read(end - start)
    offsets = [start, *(start + (end - start) * i // (SAMPLE_BLOCKS + 1) for i in range(1, SAMPLE_BLOCKS + 1))]
    sizes = [SAMPLE_EDGE, *([SAMPLE_BLOCK] * SAMPLE_BLOCKS)]
    chunks = []
    for offset, size in [*zip(offsets, sizes), (end - SAMPLE_EDGE, SAMPLE_EDGE)]:
        handle.seek(offset)
        chunks.append(handle.read(size))
    return b"".join(chunks)


def _torch_and_cann() -> tuple[str, str | None]:
    """torch's version and the CANN version torch itself reports (None where it cannot say)."""
    status = prepare_torch()
    from pytest_ascend_llm.torch_backend import torch

    cann = getattr(torch.version, "cann", None) or None
    if cann is None and status.loaded:
        try:
            from torch_npu.npu.utils import get_cann_version

            cann = get_cann_version(module="CANN") or None  # '' before CANN 8.1
        except Exception:  # older torch_npu lacks it, or the runtime refuses the query
            cann = None
    return str(torch.__version__), cann


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi; None on any failure (absent, hung, no GPU)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.strip().splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else None


def _driver_version(kind: str | None) -> str | None:
    """The driver of the device in use; without a device, whichever driver this host has."""
    if kind == "npu":
        return read_driver_version()
    if kind == "cuda":
        return _nvidia_driver()
    if kind is None:
        return read_driver_version() or _nvidia_driver()
    return None


def _fingerprint_or_none(model_dir: Path | None, fingerprint=model_fingerprint) -> str | None:
    if model_dir is None or not Path(model_dir).is_dir():
        return None
    try:
        return fingerprint(model_dir)
    except OSError:
        return None


def _timing_host_settings() -> dict[str, str]:
    """The host settings that change timings (CPU governor, NUMA balancing, ...), as the doctor reads them."""
    from pytest_ascend_llm.doctor.host_settings import timing_settings

    return timing_settings()


def recorded_variables() -> tuple[str, ...]:
    """The variables a run records: the whitelist above and every variable the doctor documents."""
    from pytest_ascend_llm.doctor.variables import VARIABLES

    return tuple(dict.fromkeys([*RECORDED_VARIABLES, *(variable.name for variable in VARIABLES)]))


def capture_environment(
    device: Device | None = None,
    model_dir: Path | None = None,
    model_id: str | None = None,
    dtype: str | None = None,
    engine: str | None = None,
    graph_mode: str | None = None,
    engine_flags: list[str] | None = None,
) -> EnvironmentInfo:
    """Everything a reader of a saved run needs to know which machine and stack produced it."""
    from pytest_ascend_llm.benchmarking.noise import load_average, thread_settings, usable_cores
    from pytest_ascend_llm.devices.cpu import cpu_model_name
    from pytest_ascend_llm.torch_backend import torch

    status = prepare_torch()
    torch_version, cann = _torch_and_cann()
    kind = device.kind if device is not None else None
    info = EnvironmentInfo(
        os=platform.platform(),
        kernel=platform.release(),
        cpu_model=cpu_model_name(),
        cpu_count=os.cpu_count() or 0,
        ram_bytes=int(psutil.virtual_memory().total),
        disk_free_bytes=int(shutil.disk_usage(Path.cwd()).free),
        python=platform.python_version(),
        torch=torch_version,
        torch_npu=status.version,
        cann=cann or read_cann_version(),
        driver=_driver_version(kind),
        transformers=package_version("transformers"),
        tokenizers=package_version("tokenizers"),
        sglang=package_version("sglang"),
        vllm=package_version("vllm"),
        model_id=redact_secrets(model_id) if model_id else None,
        model_hash=_fingerprint_or_none(model_dir),
        tokenizer_hash=_fingerprint_or_none(model_dir, tokenizer_fingerprint),
        dtype=dtype,
        engine=engine,
        graph_mode=graph_mode,
        engine_flags=[redact_secrets(flag) for flag in engine_flags or []],
        npu_problem=status.problem,
        usable_cores=usable_cores(),
        torch_threads=torch.get_num_threads(),
        load_average_1m=load_average(),
        thread_settings=thread_settings(),
        host_settings=_timing_host_settings(),
        env={name: redact_secrets(os.environ[name]) for name in recorded_variables() if name in os.environ},
    )
    if device is not None:
        info.device_kind, info.device_name = device.kind, device.name()
        info.device_count, info.device_memory_bytes = device.count(), int(device.total_memory())
    return info
