"""One forward pass of a transformers causal LM with a KV cache, across transformers 4 and 5."""

from __future__ import annotations

import inspect
from functools import cache

from pytest_ascend_llm.torch_backend import torch


@cache
def _cache_argument_of(model_class: type) -> str:
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def cache_argument(model) -> str:
    """transformers 5 renamed the forward argument past_key_values to cache (looked up once per class:
    this runs on every decode step). A torch.compile wrapper is looked up by the module it wraps."""
    return _cache_argument_of(type(getattr(model, "_orig_mod", model)))


def next_logits(model, ids: torch.Tensor, cache: object, keep: int = 1, **kwargs) -> torch.Tensor:
    """Logits of the last ``keep`` positions; the cache grows by ids.shape[1] tokens."""
    kwargs[cache_argument(model)] = cache
    output = model(input_ids=ids, use_cache=True, logits_to_keep=keep, **kwargs)
    return output.logits[:, -keep:, :]


def greedy_forward(model, ids: torch.Tensor, cache: object, keep: int = 1, **kwargs) -> torch.Tensor:
    """Greedy next tokens for the last ``keep`` positions; the cache grows by ids.shape[1] tokens."""
    return next_logits(model, ids, cache, keep, **kwargs).argmax(-1)


def top_logprobs(logits: torch.Tensor, chosen: torch.Tensor, top: int) -> tuple[list, list, list]:
    """Per sequence of the last position: the chosen token's log-probability, and the ``top`` most likely
    ids with theirs, computed in float32 (half-precision log-softmax would hide the differences a
    fingerprint is meant to show)."""
    logprobs = torch.log_softmax(logits[:, -1, :].float(), dim=-1)
    values, indices = logprobs.topk(top, dim=-1)
    picked = logprobs.gather(-1, chosen[:, -1:]).squeeze(-1)
    return picked.tolist(), indices.tolist(), values.tolist()


def crop_cache(cache, length: int) -> None:
    """Keep the first ``length`` tokens of a transformers cache."""
    surplus = cache.get_seq_length() - length
    if surplus > 0:
        cache.crop(-surplus)  # negative: remove tokens, in transformers 4 and 5 alike
