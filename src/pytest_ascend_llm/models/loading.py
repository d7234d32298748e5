"""The one loading path for every model, built-in or the user's: tokenizer, weights, dtype, device."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psutil

from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.errors import LLMSetupError, is_out_of_memory
from pytest_ascend_llm.models.source import ModelSource
from pytest_ascend_llm.torch_backend import torch

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def resolve_dtype(name: str, device: Device, config: dict) -> torch.dtype:
    """auto: the model's own dtype on an accelerator, float32 on CPU (half precision is slow there).
    Names were validated by Settings.from_values."""
    if name != "auto":
        return DTYPES[name]
    if not device.is_accelerator:
        return torch.float32
    declared = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16").replace("torch.", "")
    return DTYPES.get(declared, torch.bfloat16)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass
class LoadedModel:
    """A model and tokenizer on a device, with what loading them cost."""

    source: ModelSource
    model: Any
    tokenizer: Any
    device: Device
    dtype: torch.dtype
    load_seconds: float
    device_bytes_loaded: int
    host_rss_growth: int

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def dtype_bytes(self) -> int:
        return self.dtype.itemsize

    @property
    def expected_weight_bytes(self) -> int:
        """parameters × bytes per element of the requested dtype."""
        return self.parameter_count * self.dtype_bytes

    def held_weight_bytes(self) -> int:
        """Bytes of the storages actually behind the parameters (shared storages counted once)."""
        seen: dict[int, int] = {}
        for parameter in self.model.parameters():
            storage = parameter.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return sum(seen.values())


def refuse_remote_code(source: ModelSource, option: str = "--llm-trust-remote-code") -> None:
    """A model whose type transformers does not know can only load by running the checkpoint's own
    Python (``auto_map``), which stays off unless asked for: say so once, before any test."""
    if not source.config.get("auto_map"):
        return  # the common case decides without importing transformers at session start
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    model_type = source.config.get("model_type")
    if model_type not in CONFIG_MAPPING_NAMES:
        raise LLMSetupError(
            f"{source.path} needs its own Python code (model_type {model_type!r} is not built into transformers, "
            f"config.json has auto_map), which is off by default: pass {option} if you trust that code"
        )


def _load_error(source: ModelSource, what: str, error: BaseException) -> LLMSetupError:
    """One line for a failed load, with the remote-code hint when that is what transformers asks for."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = " (pass --llm-trust-remote-code if you trust its code)" if "trust_remote_code" in str(error) else ""
    return LLMSetupError(f"cannot load the {what} of {source.path}: {detail}{hint}")


def load_tokenizer(source: ModelSource, trust_remote_code: bool = False):
    """AutoTokenizer with left padding (batched generation) and a pad token."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, RuntimeError, ImportError) as error:
        raise _load_error(source, "tokenizer", error) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _oom_message(source: ModelSource, device: Device, dtype: torch.dtype) -> str:
    need = sum(f.stat().st_size for f in source.weight_files)
    return (
        f"out of memory loading {source.model_id} in {dtype_name(dtype)} on {device} "
        f"(weights on disk {need / 2**30:.1f} GiB, device free {device.free_memory() / 2**30:.1f} GiB): "
        "use a smaller dtype, a larger device or tensor parallelism"
    )


def load_causal_lm(source: ModelSource, device: Device, dtype: torch.dtype, trust_remote_code: bool = False):
    """AutoModelForCausalLM placed directly on the device, in eval mode."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.path,
            dtype=dtype,
            device_map=str(device.torch_device) if device.is_accelerator else None,
            trust_remote_code=trust_remote_code,
        )
    except (OSError, ValueError, RuntimeError) as error:
        if is_out_of_memory(error):
            raise LLMSetupError(_oom_message(source, device, dtype)) from None
        raise _load_error(source, "model", error) from None
    return model.eval()


def load_model(
    source: ModelSource, device: Device, dtype_option: str = "auto", trust_remote_code: bool = False
) -> LoadedModel:
    """Load tokenizer and weights once; record load time, device bytes and host RSS growth."""
    dtype = resolve_dtype(dtype_option, device, source.config)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    device_before = device.memory_allocated() if device.is_accelerator else 0
    start = time.perf_counter()
    tokenizer = load_tokenizer(source, trust_remote_code)
    model = load_causal_lm(source, device, dtype, trust_remote_code)
    device.synchronize()
    load_seconds = time.perf_counter() - start
    loaded = LoadedModel(
        source=source,
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        load_seconds=load_seconds,
        device_bytes_loaded=0,
        host_rss_growth=process.memory_info().rss - rss_before,
    )
    # On an accelerator the allocator tells what the weights really hold; on CPU the storages do.
    loaded.device_bytes_loaded = (
        device.memory_allocated() - device_before if device.is_accelerator else loaded.held_weight_bytes()
    )
    return loaded
