"""Byte arithmetic of a transformer from its config: KV cache per token (KV heads, not query heads)."""

from __future__ import annotations


def head_dim(config: dict) -> int:
    return int(config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"])


def kv_bytes_per_token(config: dict, dtype_bytes: int) -> int:
    """2 (K and V) × layers × KV heads × head_dim × bytes per element."""
    kv_heads = int(config.get("num_key_value_heads") or config["num_attention_heads"])
    return 2 * int(config["num_hidden_layers"]) * kv_heads * head_dim(config) * dtype_bytes
