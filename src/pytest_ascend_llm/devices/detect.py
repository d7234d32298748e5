"""Turn a device string (auto, npu, npu:N, cuda, cuda:N, cpu) into a Device, or one line saying why not."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.torch_backend import NpuBackendStatus, prepare_torch

DEVICE_KINDS = ("npu", "cuda", "cpu")
_SPEC = re.compile(r"^(auto|cpu|npu|cuda)(?::(\d+))?$")


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device request; ``explicit`` is False only for auto."""

    kind: str
    index: int | None

    @property
    def explicit(self) -> bool:
        return self.kind != "auto"


def parse_device(text: str, origin: str = "--llm-device") -> DeviceSpec:
    """Parse without touching any device; raises LLMSetupError naming the accepted forms."""
    match = _SPEC.match(text.strip().lower())
    if match is None or (match.group(1) in ("auto", "cpu") and match.group(2) is not None):
        raise LLMSetupError(f"{origin}: unknown device {text!r}: use auto, npu, npu:N, cuda, cuda:N or cpu")
    index = int(match.group(2)) if match.group(2) is not None else None
    return DeviceSpec(kind=match.group(1), index=index)


def npu_unavailable_reason(status: NpuBackendStatus | None = None) -> str | None:
    """None when an Ascend NPU is usable, otherwise why not, in one line with the fix."""
    status = status or prepare_torch()
    if status.problem is not None:
        return status.problem
    from pytest_ascend_llm.devices.npu import visible_npu_count

    if visible_npu_count() == 0:
        return (
            f"torch_npu {status.version} loaded but no NPU is visible "
            "(check `npu-smi info` and ASCEND_RT_VISIBLE_DEVICES)"
        )
    return None


def _cuda_count() -> int:
    from pytest_ascend_llm.torch_backend import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _check_index(spec: DeviceSpec, count: int, why_none: str | None, origin: str) -> None:
    asked = spec.kind if spec.index is None else f"{spec.kind}:{spec.index}"
    if count == 0:
        raise LLMSetupError(
            f"{origin} {asked}: no {spec.kind.upper()} device is usable ({why_none}); use {origin} auto or cpu"
        )
    if (spec.index or 0) >= count:
        raise LLMSetupError(
            f"{origin} {asked}: only {count} {spec.kind.upper()} device(s) visible (indices 0..{count - 1})"
        )


def open_device(spec: DeviceSpec | str, origin: str = "--llm-device"):  # -> Device (import kept lazy: torch loads here)
    """Resolve auto and validate that the requested device exists; raises LLMSetupError."""
    if isinstance(spec, str):
        spec = parse_device(spec)
    status = prepare_torch()
    kind = spec.kind
    if kind == "auto":
        if npu_unavailable_reason(status) is None:
            kind = "npu"
        elif _cuda_count() > 0:
            kind = "cuda"
        else:
            kind = "cpu"
    index = spec.index or 0
    if kind == "npu":
        from pytest_ascend_llm.devices.npu import NpuDevice, visible_npu_count

        _check_index(DeviceSpec("npu", spec.index), visible_npu_count(), npu_unavailable_reason(status), origin)
        return NpuDevice(index)
    if kind == "cuda":
        from pytest_ascend_llm.devices.cuda import CudaDevice
        from pytest_ascend_llm.torch_backend import torch

        why = f"torch {torch.__version__} sees no CUDA device"
        _check_index(DeviceSpec("cuda", spec.index), _cuda_count(), why, origin)
        return CudaDevice(index)
    from pytest_ascend_llm.devices.cpu import CpuDevice

    return CpuDevice()
