"""The in-process engine over a transformers causal LM: batched generate with per-token timestamps,
and the prefill / decode split the offline benchmarks need."""

from __future__ import annotations

import gc
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from pytest_ascend_llm.engines.base import DecodeState, Engine, GenerationResult, Prompt, SamplingParams
from pytest_ascend_llm.engines.streaming import StepTimestamps
from pytest_ascend_llm.metrics.timing import TokenChunk
from pytest_ascend_llm.models.loading import LoadedModel


@dataclass
class TransformersDecodeState(DecodeState):
    """A batch with its DynamicCache and the next token of each sequence; the attention mask is kept
    only when the batch is left-padded (without padding the model's causal fast path is used)."""

    cache: object
    attention_mask: torch.Tensor | None
    next_tokens: torch.Tensor
    batch_size: int
    context_length: int

    def truncate(self, context_length: int) -> None:
        surplus = self.context_length - context_length
        if surplus > 0:
            self.cache.crop(-surplus)  # a negative crop removes tokens in transformers 4 and 5 alike
        if self.attention_mask is not None:
            self.attention_mask = self.attention_mask[:, :context_length]
        self.context_length = context_length


class TransformersEngine(Engine):
    name = "transformers"
    capabilities: ClassVar[frozenset[str]] = frozenset({"prefill_decode"})

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        # transformers 5 renamed the forward argument past_key_values to cache.
        parameters = inspect.signature(self.model.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text)["input_ids"])

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)

    def _pad_left(self, batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(ids) for ids in batch)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(row)) + list(row) for row in batch], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in batch], dtype=torch.long)
        return ids.to(self.device.torch_device), mask.to(self.device.torch_device)

    def _generation_config(self, params: SamplingParams):
        from transformers import GenerationConfig

        eos = None if params.ignore_eos else self.model.generation_config.eos_token_id
        if eos is None and not params.ignore_eos:
            eos = self.tokenizer.eos_token_id
        return GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            min_new_tokens=params.max_new_tokens if params.ignore_eos else 0,
            do_sample=not params.greedy,
            temperature=params.temperature if not params.greedy else None,
            top_p=params.top_p if not params.greedy else None,
            top_k=params.top_k if not params.greedy and params.top_k > 0 else None,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
        )

    def _split(self, generated: list[int], steps: list[tuple[float, int]], params: SamplingParams):
        """Cut one sequence at its EOS and give each of its tokens the time of the step that made it."""
        eos_ids = self._eos_ids()
        finish = "length"
        if not params.ignore_eos:
            for position, token in enumerate(generated):
                if token in eos_ids:
                    generated, finish = generated[: position + 1], "stop"
                    break
        chunks: list[TokenChunk] = []
        remaining = len(generated)
        for time, count in steps:
            if remaining <= 0:
                break
            chunks.append(TokenChunk(time, min(count, remaining)))
            remaining -= count
        return generated, chunks, finish

    def _eos_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return set(eos if isinstance(eos, list) else [eos])

    def _prompt_ids(self, prompts: Sequence[Prompt]) -> list[list[int]]:
        return [self.encode(p) if isinstance(p, str) else list(p) for p in prompts]

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams, **generate_kwargs) -> list[GenerationResult]:
        """Greedy decoding runs the engine's own prefill/decode loop (what a serving engine does, and
        within 1 % of a bare loop); sampling and extra ``generate`` arguments (e.g. an assistant model)
        go through transformers' ``generate`` with a timestamping streamer."""
        batch = self._prompt_ids(prompts)
        if params.greedy and not generate_kwargs:
            new_tokens, steps = self._greedy_loop(batch, params)
        else:
            new_tokens, steps = self._hf_generate(batch, params, generate_kwargs)
        results = []
        for prompt, generated in zip(batch, new_tokens):
            ids, chunks, finish = self._split(generated, steps, params)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            results.append(GenerationResult(len(prompt), ids, text, chunks, finish))
        return results

    def _greedy_loop(self, batch: list[list[int]], params: SamplingParams):
        """Per step: one forward pass, one synchronized timestamp; the EOS test only when it can stop us."""
        eos = torch.tensor(sorted(self._eos_ids()), device=self.device.torch_device)
        now = self.device.now
        start = now()
        state = self._prefill(batch)
        produced, steps = [state.next_tokens], [(now() - start, 1)]
        finished = torch.isin(state.next_tokens, eos)
        while len(produced) < params.max_new_tokens:
            if not params.ignore_eos and bool(finished.all()):
                break
            self._decode_step(state)
            produced.append(state.next_tokens)
            steps.append((now() - start, 1))
            if not params.ignore_eos:
                finished |= torch.isin(state.next_tokens, eos)
        return torch.cat(produced, dim=-1).tolist(), steps

    def _hf_generate(self, batch: list[list[int]], params: SamplingParams, generate_kwargs: dict):
        input_ids, attention_mask = self._pad_left(batch)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        stamps = StepTimestamps(self.device, len(batch))
        output = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            generation_config=self._generation_config(params),
            streamer=stamps,
            **generate_kwargs,
        )
        return output[:, input_ids.shape[1] :].tolist(), stamps.steps

    @torch.inference_mode()
    def logits(self, prompt: Prompt) -> torch.Tensor:
        """Float32 logits of every position of one prompt (for numerical parity checks)."""
        ids = torch.tensor([self._prompt_ids([prompt])[0]], device=self.device.torch_device)
        return self.model(input_ids=ids).logits[0].float()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor | None, cache: object) -> torch.Tensor:
        kwargs = {self._cache_argument: cache}
        if mask is not None:  # left padding: positions count only real tokens
            kwargs |= {"attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1] :]}
        output = self.model(input_ids=ids, use_cache=True, logits_to_keep=1, **kwargs)
        return output.logits[:, -1, :].argmax(-1, keepdim=True)

    @torch.inference_mode()
    def prefill(self, batch: Sequence[Sequence[int]]) -> TransformersDecodeState:
        return self._prefill(batch)

    @torch.inference_mode()
    def decode_step(self, state: DecodeState) -> TransformersDecodeState:
        assert isinstance(state, TransformersDecodeState)
        return self._decode_step(state)

    def _prefill(self, batch: Sequence[Sequence[int]]) -> TransformersDecodeState:
        from transformers import DynamicCache

        ids, mask = self._pad_left(batch)
        if len({len(row) for row in batch}) == 1:
            mask = None
        cache = DynamicCache()
        next_tokens = self._forward(ids, mask, cache)
        return TransformersDecodeState(cache, mask, next_tokens, len(batch), ids.shape[1])

    def _decode_step(self, state: TransformersDecodeState) -> TransformersDecodeState:
        if state.attention_mask is not None:
            ones = torch.ones_like(state.attention_mask[:, :1])
            state.attention_mask = torch.cat([state.attention_mask, ones], dim=-1)
        state.next_tokens = self._forward(state.next_tokens, state.attention_mask, state.cache)
        state.context_length += 1
        return state

    def close(self) -> None:
        self.model = None
        gc.collect()
        self.device.empty_cache()


def from_session(session) -> TransformersEngine:
    """Registry factory: the engine over the session's (once-loaded) model."""
    return TransformersEngine(session.loaded)
