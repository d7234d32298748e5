"""The in-process engine over a transformers causal LM: batched generate with per-token timestamps,
and the prefill / decode split the offline benchmarks need."""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pytest_ascend_llm.engines.base import (
    DecodeState,
    Engine,
    EngineCapabilityError,
    GenerationResult,
    Prompt,
    SamplingParams,
    SpeculativeConfig,
    TokenLogprob,
)
from pytest_ascend_llm.engines.hf_forward import crop_cache, greedy_forward, next_logits, top_logprobs
from pytest_ascend_llm.engines.speculative import DraftModelProposer, NgramProposer, speculative_greedy
from pytest_ascend_llm.engines.streaming import StepTimestamps
from pytest_ascend_llm.metrics.timing import TokenChunk
from pytest_ascend_llm.models.loading import LoadedModel
from pytest_ascend_llm.torch_backend import torch

if TYPE_CHECKING:
    from pytest_ascend_llm.engines.context import EngineContext


@dataclass
class TransformersDecodeState(DecodeState):
    """A batch with its DynamicCache and the next token of each sequence; the attention mask is kept
    only when the batch is left-padded (without padding the model's causal fast path is used)."""

    cache: object
    attention_mask: torch.Tensor | None
    next_tokens: torch.Tensor
    batch_size: int
    context_length: int
    cached_tokens: int = 0  # prompt tokens whose KV came from a prefix cache
    top: int = 0  # > 0: keep each step's logprobs with this many alternatives
    logprobs: list[tuple[list, list, list, list]] = field(default_factory=list)  # per step: ids, logprobs, top

    def truncate(self, context_length: int) -> None:
        crop_cache(self.cache, context_length)
        if self.attention_mask is not None:
            self.attention_mask = self.attention_mask[:, :context_length]
        self.context_length = context_length


@dataclass
class TransformersPrefix:
    """A shared prefix's token ids and the KV cache computed for them once."""

    token_ids: list[int]
    cache: object


class TransformersEngine(Engine):
    name = "transformers"
    capabilities: ClassVar[frozenset[str]] = frozenset({"prefill_decode", "prefix_cache", "speculative", "logprobs"})
    compile_seconds: float | None = None  # graph mode: the first compiled call (tracing and compilation)
    compile_backend: str | None = None

    def __init__(
        self, loaded: LoadedModel, draft_loader: Callable[[], object] | None = None, runner: object | None = None
    ) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.runner = runner if runner is not None else loaded.model  # what runs forward passes (maybe compiled)
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self._draft_loader = draft_loader
        self._eos = self._eos_ids()

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
    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        prefix_cache: TransformersPrefix | None = None,
        speculative: SpeculativeConfig | None = None,
        **generate_kwargs,
    ) -> list[GenerationResult]:
        """Greedy decoding runs the engine's own prefill/decode loop (what a serving engine does, and
        within a few % of a bare loop); with a prefix cache or speculation each prompt runs alone.
        Sampling and extra ``generate`` arguments go through transformers' ``generate``."""
        batch = self._prompt_ids(prompts)
        if params.logprobs and (prefix_cache is not None or speculative is not None or not params.greedy):
            raise EngineCapabilityError("logprobs come from plain greedy decoding (no prefix cache or speculation)")
        if (prefix_cache is not None or speculative is not None) and not params.greedy:
            raise EngineCapabilityError("prefix reuse and speculative decoding are implemented for greedy decoding")
        self.requests_served += len(batch)
        if prefix_cache is not None or speculative is not None:
            return [self._generate_one(ids, params, prefix_cache, speculative) for ids in batch]
        if params.greedy and not generate_kwargs:
            new_tokens, steps, state = self._greedy_loop(lambda: self._prefill(batch, params.logprobs), params)
            return [
                self._result(prompt, generated, steps, params, logprobs=self._logprobs_of(state, row))
                for row, (prompt, generated) in enumerate(zip(batch, new_tokens))
            ]
        if generate_kwargs and params.logprobs:
            raise EngineCapabilityError("logprobs are not collected through transformers' generate arguments")
        new_tokens, steps = self._hf_generate(batch, params, generate_kwargs)
        return [self._result(prompt, generated, steps, params) for prompt, generated in zip(batch, new_tokens)]

    def _result(self, prompt: list[int], generated: list[int], steps, params: SamplingParams, **extra):
        ids, chunks, finish = self._split(generated, steps, params)
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if extra.get("logprobs") is not None:
            extra["logprobs"] = extra["logprobs"][: len(ids)]  # cut at EOS with the ids
        return GenerationResult(len(prompt), ids, text, chunks, finish, **extra)

    def _logprobs_of(self, state: TransformersDecodeState, row: int) -> list[TokenLogprob] | None:
        """One sequence's per-step logprobs as TokenLogprob, each token decoded on its own."""
        if not state.top:
            return None
        decode = self.tokenizer.decode
        return [
            TokenLogprob(chosen[row], picked[row], tuple(zip(ids[row], values[row])), decode([chosen[row]]))
            for chosen, picked, ids, values in state.logprobs
        ]

    def _generate_one(self, ids, params, prefix_cache, speculative) -> GenerationResult:
        make_state = (
            (lambda: self._prefill_after_prefix(ids, prefix_cache)) if prefix_cache else (lambda: self._prefill([ids]))
        )
        if speculative is None:
            generated, steps, state = self._greedy_loop(make_state, params)
            return self._result(ids, generated[0], steps, params, cached_tokens=state.cached_tokens)
        start = self.device.now()
        state = make_state()
        first_time = self.device.now() - start
        output, chunks, stats = speculative_greedy(
            self.model,
            ids,
            state.cache,
            int(state.next_tokens[0, 0]),
            self._proposer(speculative),
            speculative.num_tokens,
            params.max_new_tokens,
            stop=lambda out: (
                None if params.ignore_eos else next((i for i, t in enumerate(out) if t in self._eos), None)
            ),
            now=self.device.now,
            start=start,
            first_time=first_time,
        )
        steps = [(chunk.time, chunk.count) for chunk in chunks]
        return self._result(ids, output, steps, params, cached_tokens=state.cached_tokens, speculative=stats)

    def _proposer(self, config: SpeculativeConfig):
        if config.method == "ngram":
            return NgramProposer(config.max_ngram)
        if config.method == "draft":
            if self._draft_loader is None:
                raise EngineCapabilityError("no draft model: pass --llm-draft-model (the built-in model has one)")
            return DraftModelProposer(self._draft_loader(), self.device.torch_device)
        raise EngineCapabilityError(f"unknown speculative method {config.method!r}: use 'draft' or 'ngram'")

    def cache_prefix(self, prefix: Prompt) -> TransformersPrefix:
        """Prefill the shared prefix once into a DynamicCache; each request later reuses a copy of it."""
        ids = self._prompt_ids([prefix])[0]
        self.requests_served += 1
        with torch.inference_mode():
            state = self._prefill([ids])
        return TransformersPrefix(ids, state.cache)

    def _prefill_after_prefix(self, ids: list[int], prefix: TransformersPrefix) -> TransformersDecodeState:
        """Reuse the longest common prefix (as a radix cache would), prefill only the rest."""
        reused = 0
        for mine, theirs in zip(ids[:-1], prefix.token_ids):  # at least one token must be computed
            if mine != theirs:
                break
            reused += 1
        cache = copy.deepcopy(prefix.cache)
        crop_cache(cache, reused)
        suffix = torch.tensor([ids[reused:]], device=self.device.torch_device)
        next_tokens = greedy_forward(self.runner, suffix, cache)
        return TransformersDecodeState(cache, None, next_tokens, 1, len(ids), cached_tokens=reused)

    def _greedy_loop(self, make_state: Callable[[], TransformersDecodeState], params: SamplingParams):
        """Per step: one forward pass, one synchronized timestamp; the EOS test only when it can stop us."""
        eos = torch.tensor(sorted(self._eos), device=self.device.torch_device)
        now = self.device.now
        start = now()
        state = make_state()
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
        return torch.cat(produced, dim=-1).tolist(), steps, state

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
        self.requests_served += 1
        return self.model(input_ids=ids).logits[0].float()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor | None, cache: object, top: int = 0):
        """Next tokens, and with ``top`` their step's logprobs (chosen ids, chosen logprobs, top ids, top values)."""
        if mask is None:
            logits = next_logits(self.runner, ids, cache)
        else:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1] :]  # left padding: count real tokens
            logits = next_logits(self.runner, ids, cache, attention_mask=mask, position_ids=positions)
        tokens = logits.argmax(-1)
        if not top:
            return tokens, None
        return tokens, (tokens[:, -1].tolist(), *top_logprobs(logits, tokens, top))

    @torch.inference_mode()
    def prefill(self, batch: Sequence[Sequence[int]]) -> TransformersDecodeState:
        self.requests_served += len(batch)
        return self._prefill(batch)

    @torch.inference_mode()
    def decode_step(self, state: DecodeState) -> TransformersDecodeState:
        assert isinstance(state, TransformersDecodeState)
        return self._decode_step(state)

    def _prefill(self, batch: Sequence[Sequence[int]], top: int = 0) -> TransformersDecodeState:
        from transformers import DynamicCache

        ids, mask = self._pad_left(batch)
        if len({len(row) for row in batch}) == 1:
            mask = None
        cache = DynamicCache()
        next_tokens, step = self._forward(ids, mask, cache, top)
        return TransformersDecodeState(
            cache, mask, next_tokens, len(batch), ids.shape[1], top=top, logprobs=[step] if step else []
        )

    def _decode_step(self, state: TransformersDecodeState) -> TransformersDecodeState:
        if state.attention_mask is not None:
            ones = torch.ones_like(state.attention_mask[:, :1])
            state.attention_mask = torch.cat([state.attention_mask, ones], dim=-1)
        state.next_tokens, step = self._forward(state.next_tokens, state.attention_mask, state.cache, state.top)
        if step is not None:
            state.logprobs.append(step)
        state.context_length += 1
        return state

    def allocate_kv(self, batch_size: int, context_length: int) -> TransformersDecodeState:
        """A decode state whose KV cache holds ``context_length`` tokens per sequence (zeros), so a
        capacity plan's cache can be put on the device and stepped without a long prefill."""
        from transformers import DynamicCache

        from pytest_ascend_llm.models.arithmetic import head_dim

        config = self.model.config.to_dict()
        kv_heads = int(config.get("num_key_value_heads") or config["num_attention_heads"])
        shape = (batch_size, kv_heads, context_length, head_dim(config))
        dtype, where = self.loaded.dtype, self.device.torch_device
        cache = DynamicCache()
        for layer in range(int(config["num_hidden_layers"])):
            cache.update(
                torch.zeros(shape, dtype=dtype, device=where), torch.zeros(shape, dtype=dtype, device=where), layer
            )
        next_tokens = torch.zeros((batch_size, 1), dtype=torch.long, device=where)
        return TransformersDecodeState(cache, None, next_tokens, batch_size, context_length)

    def close(self) -> None:
        self.model = None
        gc.collect()
        self.device.empty_cache()


def from_session(session: EngineContext) -> TransformersEngine:
    """Registry factory: the engine over the session's (once-loaded) model and, on demand, its draft; in
    graph mode its forward passes go through torch.compile, whose first call (the compilation) is timed."""
    loaded = session.loaded
    if session.graph_mode != "compiled":
        return TransformersEngine(loaded, draft_loader=lambda: session.draft_model)
    from pytest_ascend_llm.engines.graph_mode import compiled, resolve_backend, timed_first_call

    backend = resolve_backend(session.settings.compile_backend, loaded.device.kind)
    engine = TransformersEngine(
        loaded, draft_loader=lambda: session.draft_model, runner=compiled(loaded.model, backend)
    )
    warm = SamplingParams(max_new_tokens=4, ignore_eos=True)
    engine.compile_seconds = timed_first_call(lambda: engine.generate(["graph mode warm-up"], warm))
    engine.compile_backend = backend
    engine.requests_served = 0  # the warm-up is the compile time's, not a request served
    return engine
