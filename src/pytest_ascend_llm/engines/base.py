"""The engine interface: generate with per-token timestamps, plus separate prefill and decode steps.

An in-process engine implements everything; a server engine (SGLang, OpenAI-compatible HTTP) implements
``generate`` from its stream and reports the split steps as unsupported, so the suite skips those cases.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pytest_ascend_llm.metrics import timing
from pytest_ascend_llm.metrics.timing import TokenChunk

Prompt = str | Sequence[int]


class EngineCapabilityError(NotImplementedError):
    """The engine cannot do this (e.g. a server exposes no separate decode step)."""


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; temperature 0 means greedy. ignore_eos makes every run do the same work."""

    max_new_tokens: int = 32
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    ignore_eos: bool = False
    logprobs: int = 0  # > 0: return each output token's logprob and this many top alternatives

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class SpeculativeConfig:
    """Speculative decoding: ``method`` "draft" (a small draft model) or "ngram" (prompt lookup), proposing
    up to ``num_tokens`` tokens per target verification step."""

    method: str = "draft"
    num_tokens: int = 4
    max_ngram: int = 3


@dataclass
class SpeculativeStats:
    """Counted during the real generation: target verification passes, draft tokens proposed/accepted."""

    verify_steps: int = 0
    proposed: int = 0
    accepted: int = 0

    def accept_length(self, output_tokens: int) -> float:
        """Output tokens per target verification step (SGLang: completion_tokens / spec_verify_ct)."""
        return output_tokens / self.verify_steps if self.verify_steps else float("nan")

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else float("nan")


@dataclass(frozen=True)
class TokenLogprob:
    """One output position: the chosen token's log-probability and the most likely alternatives there.
    Tokens are ids where the engine returns ids, else the token's text (an OpenAI server's default)."""

    token: int | str
    logprob: float
    top: tuple[tuple[int | str, float], ...] = ()  # (token, logprob), most likely first
    text: str | None = None  # the token as text, where the engine says it

    @property
    def margin(self) -> float | None:
        """How far the most likely token led the second (log-probability), None without two alternatives."""
        return self.top[0][1] - self.top[1][1] if len(self.top) >= 2 else None


@dataclass
class GenerationResult:
    """One sequence's output, counted by the engine, with token arrival times relative to its start."""

    prompt_tokens: int
    output_ids: list[int]
    text: str
    chunks: list[TokenChunk] = field(default_factory=list)
    finish_reason: str = "length"
    cached_tokens: int = 0  # prompt tokens served from a prefix cache (SGLang meta_info.cached_tokens)
    speculative: SpeculativeStats | None = None
    reported_tokens: int | None = None  # a server's usage.completion_tokens (it may not return the ids)
    logprobs: list[TokenLogprob] | None = None  # per output token, when SamplingParams.logprobs asked

    @property
    def output_tokens(self) -> int:
        return self.reported_tokens if self.reported_tokens is not None else len(self.output_ids)

    @property
    def ttft(self) -> float | None:
        return timing.ttft(self.chunks)

    @property
    def e2e(self) -> float | None:
        return timing.e2e(self.chunks)

    @property
    def tpot(self) -> float | None:
        return timing.tpot(self.chunks)

    @property
    def itl(self) -> list[float]:
        """Per token (SGLang's convention)."""
        return timing.itl(self.chunks)

    @property
    def itl_per_chunk(self) -> list[float]:
        """Per streamed chunk (vLLM's convention)."""
        return timing.itl_per_chunk(self.chunks)


class DecodeState(ABC):
    """A prepared batch with its KV cache, advanced one token per sequence by ``Engine.decode_step``."""

    batch_size: int
    context_length: int

    @abstractmethod
    def truncate(self, context_length: int) -> None:
        """Drop cached tokens past ``context_length`` so repeated steps do not grow the cache."""


class Engine(ABC):
    """Loads a model on a device and generates; the context manager always frees the device."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    requests_served: int = 0  # prompts run so far (warm-ups at creation excluded): a start-up needs the first

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        prefix_cache: object | None = None,
        speculative: SpeculativeConfig | None = None,
    ) -> list[GenerationResult]:
        """Generate for a batch of prompts (text or token ids); one result per prompt, in order.
        ``prefix_cache`` reuses a shared prefix's KV; ``speculative`` decodes with a draft or n-grams."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of a text, with the engine's own tokenizer."""

    def format_chat(self, messages: Sequence[dict[str, str]]) -> Prompt:
        """A chat turn rendered with the model's template, ready for ``generate``."""
        raise EngineCapabilityError(f"the {self.name} engine cannot render chat messages")

    def cache_prefix(self, prefix: Prompt) -> object:
        """Compute a shared prefix's KV cache once; pass the handle to ``generate(prefix_cache=...)``."""
        raise EngineCapabilityError(f"the {self.name} engine has no explicit prefix cache")

    def prefill(self, batch: Sequence[Sequence[int]]) -> DecodeState:
        """One synchronized forward pass over the batch, returning a state ready to decode."""
        raise EngineCapabilityError(f"the {self.name} engine has no separate prefill step")

    def decode_step(self, state: DecodeState) -> DecodeState:
        """One forward pass producing one token per sequence, using and extending the KV cache."""
        raise EngineCapabilityError(f"the {self.name} engine has no separate decode step")

    def close(self) -> None:
        """Release the model and device memory."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
