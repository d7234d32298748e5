"""Does the KV cache grow with context as the arithmetic predicts? Bytes per token, measured vs predicted.

On an accelerator the allocator's counter is the measurement (what the device really holds with the
cache alive). On the CPU, process RSS is too noisy (malloc keeps freed pages), so the bytes of the
cache's own tensors are measured instead.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.torch_backend import torch


def cache_tensor_bytes(cache: object) -> int:
    """Bytes of the key/value tensors in a transformers cache (transformers 5 layers or 4 lists)."""
    tensors: list[torch.Tensor] = []
    for layer in getattr(cache, "layers", []):
        tensors += [getattr(layer, "keys", None), getattr(layer, "values", None)]
    tensors += list(getattr(cache, "key_cache", [])) + list(getattr(cache, "value_cache", []))
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


@dataclass(frozen=True)
class KvGrowth:
    contexts: tuple[int, int]
    batch_size: int
    measured_bytes_per_token: float
    predicted_bytes_per_token: int
    method: str

    @property
    def ratio(self) -> float:
        return self.measured_bytes_per_token / self.predicted_bytes_per_token


def measure_kv_growth(
    prefill: Callable[[list[list[int]]], object],
    prompt_of_length: Callable[[int], list[int]],
    device: Device,
    contexts: Sequence[int],
    batch_size: int,
    predicted_bytes_per_token: int,
) -> KvGrowth:
    """Hold a prefilled batch at two context lengths; the difference cancels weights and workspace."""
    held = []
    for context in contexts[:2]:
        gc.collect()
        device.synchronize()
        before = device.memory_allocated()
        state = prefill([prompt_of_length(context)] * batch_size)
        device.synchronize()
        if device.is_accelerator:
            held.append(device.memory_allocated() - before)
        else:
            held.append(cache_tensor_bytes(state.cache))
        del state
    tokens = (contexts[1] - contexts[0]) * batch_size
    return KvGrowth(
        contexts=(contexts[0], contexts[1]),
        batch_size=batch_size,
        measured_bytes_per_token=(held[1] - held[0]) / tokens,
        predicted_bytes_per_token=predicted_bytes_per_token,
        method="device allocator" if device.is_accelerator else "KV cache tensors (CPU RSS is too noisy)",
    )
