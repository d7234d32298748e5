"""Will a model fit a card, and how many sequences? Decided from config.json before anything is loaded.

Memory follows SGLang's ``--mem-fraction-static``: that fraction of device memory holds the weights and
the KV pool; the rest is left for activations and workspace. Weights shard evenly across TP ranks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.models.arithmetic import head_dim, kv_bytes_per_token
from pytest_ascend_llm.units import format_bytes

DTYPE_BYTES: dict[str, int] = {"float16": 2, "bfloat16": 2, "float32": 4}
MOE_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")


class CapacityError(LLMSetupError):
    """The model, dtype, context or concurrency does not fit the device memory."""


def _int(config: dict, key: str) -> int:
    if not config.get(key):
        raise CapacityError(f"model config lacks {key!r}: pass a Hugging Face decoder config.json (Qwen2/Llama style)")
    return int(config[key])


def parameter_count(config: dict) -> int:
    """Parameters of a dense Qwen2/Llama-style decoder, counted from its config (no weights needed)."""
    if any(config.get(key) for key in MOE_KEYS):
        raise CapacityError("mixture-of-experts configs are not supported by the capacity planner: plan a dense model")
    hidden, layers = _int(config, "hidden_size"), _int(config, "num_hidden_layers")
    vocab, inter = _int(config, "vocab_size"), _int(config, "intermediate_size")
    heads = _int(config, "num_attention_heads")
    kv_heads = int(config.get("num_key_value_heads") or heads)
    q_out, kv_out = heads * head_dim(config), kv_heads * head_dim(config)
    model_type = str(config.get("model_type", "")).lower()
    qkv_bias = model_type == "qwen2" or bool(config.get("attention_bias") or config.get("qkv_bias"))
    attention = hidden * q_out + 2 * hidden * kv_out + q_out * hidden
    if qkv_bias:
        attention += q_out + 2 * kv_out
    if config.get("attention_bias"):  # Llama's flag also gives o_proj a bias
        attention += hidden
    if model_type == "qwen3":  # per-head RMSNorm on queries and keys
        attention += 2 * head_dim(config)
    mlp = 3 * hidden * inter + (2 * inter + hidden if config.get("mlp_bias") else 0)
    per_layer = attention + mlp + 2 * hidden
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings", False) else 2)
    return embeddings + layers * per_layer + hidden


def dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise CapacityError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class CapacityPlan:
    """Memory split of one deployment; byte figures are per device unless named total."""

    model_id: str
    dtype: str
    dtype_bytes: int
    tp_size: int
    device_memory_bytes: int
    mem_fraction_static: float
    parameter_count: int
    weight_bytes: int
    weight_bytes_per_device: int
    kv_heads_per_device: int
    kv_bytes_per_token: int
    kv_bytes_per_token_per_device: int
    kv_pool_bytes_per_device: int
    kv_tokens: int
    context_length: int
    max_concurrent_sequences: int
    workspace_reserve_bytes: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary_lines(self) -> list[str]:
        """What a person needs to judge the plan, every size in binary units."""
        static = self.device_memory_bytes - self.workspace_reserve_bytes
        return [
            f"{self.model_id}: {_count(self.parameter_count)} parameters in {self.dtype}: "
            f"{format_bytes(self.weight_bytes)} of weights, {format_bytes(self.weight_bytes_per_device)} per device "
            f"at TP {self.tp_size}",
            f"device {format_bytes(self.device_memory_bytes)} x mem-fraction-static {self.mem_fraction_static:g} "
            f"= {format_bytes(static)} for weights + KV cache; {format_bytes(self.workspace_reserve_bytes)} left "
            "for activations and workspace",
            f"KV cache {format_bytes(self.kv_pool_bytes_per_device)} per device at "
            f"{format_bytes(self.kv_bytes_per_token_per_device)} per token per device "
            f"({format_bytes(self.kv_bytes_per_token)} in total): {self.kv_tokens} tokens",
            f"context {self.context_length}: at most {self.max_concurrent_sequences} concurrent full-length sequences",
        ]


def _count(n: int) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def _check_tp(config: dict, tp_size: int) -> None:
    heads = _int(config, "num_attention_heads")
    if tp_size < 1 or heads % tp_size:
        raise CapacityError(f"TP size {tp_size} must be a positive divisor of the {heads} attention heads")


def plan_capacity(
    config: dict,
    dtype: str,
    device_memory_bytes: int,
    tp_size: int = 1,
    context_length: int | None = None,
    mem_fraction_static: float = 0.9,
    model_id: str = "model",
) -> CapacityPlan:
    """Split device memory the way SGLang does; CapacityError when weights or one full sequence do not fit."""
    _check_tp(config, tp_size)
    if not 0 < mem_fraction_static < 1:
        raise CapacityError(
            f"mem-fraction-static {mem_fraction_static:g} must be between 0 and 1, exclusive: the rest of device "
            "memory holds activations and workspace (at 1 nothing is left for them); SGLang uses 0.7 to 0.9"
        )
    if device_memory_bytes <= 0:
        raise CapacityError(f"device memory {device_memory_bytes} bytes is not positive: pass e.g. 64GB")
    size = dtype_bytes(dtype)
    context = int(context_length or _int(config, "max_position_embeddings"))
    if context < 1:
        raise CapacityError(f"context length {context} must be positive")
    params = parameter_count(config)
    weights = params * size
    weights_per_device = math.ceil(weights / tp_size)
    static = int(device_memory_bytes * mem_fraction_static)
    fix = "use more tensor parallelism (--tp), a smaller dtype, or a larger card"
    if weights_per_device >= static:
        raise CapacityError(
            f"{model_id} in {dtype} needs {format_bytes(weights_per_device)} of weights per device at TP {tp_size}, "
            f"but {mem_fraction_static:g} x {format_bytes(device_memory_bytes)} = {format_bytes(static)} must hold "
            f"weights and KV cache: {fix}"
        )
    kv_heads = int(config.get("num_key_value_heads") or config["num_attention_heads"])
    heads_per_device = max(1, kv_heads // tp_size)  # fewer KV heads than ranks: each rank keeps a copy
    kv_total = kv_bytes_per_token(config, size)
    kv_per_device = kv_total // kv_heads * heads_per_device
    pool = static - weights_per_device
    tokens = pool // kv_per_device
    if tokens < context:
        raise CapacityError(
            f"{model_id} in {dtype} at TP {tp_size} leaves {format_bytes(pool)} per device for a KV cache of "
            f"{tokens} tokens, less than one sequence of {context}: use a shorter context length, "
            "more tensor parallelism (--tp), a smaller dtype, or a larger card"
        )
    return CapacityPlan(
        model_id=model_id,
        dtype=dtype,
        dtype_bytes=size,
        tp_size=tp_size,
        device_memory_bytes=int(device_memory_bytes),
        mem_fraction_static=mem_fraction_static,
        parameter_count=params,
        weight_bytes=weights,
        weight_bytes_per_device=weights_per_device,
        kv_heads_per_device=heads_per_device,
        kv_bytes_per_token=kv_total,
        kv_bytes_per_token_per_device=kv_per_device,
        kv_pool_bytes_per_device=pool,
        kv_tokens=tokens,
        context_length=context,
        max_concurrent_sequences=tokens // context,
        workspace_reserve_bytes=int(device_memory_bytes) - static,
    )


def check_concurrency(plan: CapacityPlan, concurrency: int) -> None:
    """Refuse a concurrency whose full-length sequences overflow the KV cache, before anything is loaded."""
    if concurrency < 1:
        raise CapacityError(f"concurrency {concurrency} must be at least 1")
    need = concurrency * plan.context_length
    if need > plan.kv_tokens:
        raise CapacityError(
            f"concurrency {concurrency} x context {plan.context_length} = {need} tokens exceeds the KV cache of "
            f"{plan.kv_tokens} tokens (at most {plan.max_concurrent_sequences} sequences): lower the concurrency "
            "or the context length, or add tensor parallelism"
        )


def decode_ceiling_tokens_per_s(plan: CapacityPlan, bandwidth_bytes_per_s: float, context: int = 0) -> float:
    """Batch-1 decode is no faster than reading each rank's weights, and the KV of ``context`` tokens,
    once per token (the ranks read in parallel): the speed any claim must stay under."""
    per_token = plan.weight_bytes_per_device + plan.kv_bytes_per_token_per_device * context
    return bandwidth_bytes_per_s / per_token
