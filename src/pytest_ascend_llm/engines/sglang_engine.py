"""``--llm-engine sglang``: SGLang's offline engine in this process (``sglang.Engine``), as Ascend
deployments run it (``device="npu"``, ``attention_backend="ascend"``).

Each prompt streams through ``Engine.async_generate(..., stream=True)`` on the engine's own event loop,
so every chunk is timestamped on arrival; a batch is all its prompts at once, which SGLang's scheduler
batches continuously. Counts come from ``meta_info`` (``completion_tokens``, ``cached_tokens``,
``spec_verify_ct``), never from re-tokenized text. Logprobs (``SamplingParams.logprobs`` k > 0) are asked
with ``return_logprob=True, top_logprobs_num=k`` and read from ``meta_info.output_token_logprobs``
(``(logprob, token_id, text or None)`` per output token) and ``output_top_logprobs`` (a list of such
tuples per position). SGLang cannot run on this project's CI machines:
the parsing of its outputs (``result_from_stream``) is tested on its documented format, the engine
itself only on a device.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_ascend_llm.engines.base import (
    Engine,
    EngineCapabilityError,
    GenerationResult,
    Prompt,
    SamplingParams,
    SpeculativeStats,
    TokenLogprob,
)
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.metrics.timing import TokenChunk

if TYPE_CHECKING:
    from pytest_ascend_llm.engines.context import EngineContext


def sampling_dict(params: SamplingParams) -> dict[str, object]:
    """SGLang's sampling_params (its names: max_new_tokens, top_k -1 for none)."""
    return {
        "max_new_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k or -1,
        "ignore_eos": params.ignore_eos,
        **({"sampling_seed": params.seed} if params.seed is not None else {}),
    }


def logprob_arguments(params: SamplingParams) -> dict[str, object]:
    """``Engine.async_generate`` keywords for per-token logprobs: none unless ``params.logprobs`` > 0."""
    return {"return_logprob": True, "top_logprobs_num": params.logprobs} if params.logprobs > 0 else {}


def _streamed(kept: list, new: Sequence, total: int) -> list:
    """A stream's list so far: SGLang sends it whole (``len(new) == total``) or only the new part."""
    return list(new) if len(new) == total else kept + list(new)


def token_logprobs(
    chosen: Sequence[Sequence[Any]], top: Sequence[Sequence[Sequence[Any]] | None]
) -> list[TokenLogprob]:
    """TokenLogprobs from SGLang's ``output_token_logprobs`` and ``output_top_logprobs`` entries,
    ``(logprob, token_id, text or None)`` each; alternatives most likely first."""
    positions = []
    for index, entry in enumerate(chosen):
        alternatives = (top[index] if index < len(top) else None) or ()
        ranked = sorted(((int(alt[1]), float(alt[0])) for alt in alternatives), key=lambda pair: -pair[1])
        text = entry[2] if len(entry) > 2 else None
        positions.append(TokenLogprob(int(entry[1]), float(entry[0]), tuple(ranked), text))
    return positions


def result_from_stream(events: Sequence[tuple[float, dict]], prompt_tokens: int | None = None) -> GenerationResult:
    """A GenerationResult from SGLang stream outputs ``(seconds since start, output dict)``. Chunk sizes
    come from ``meta_info.completion_tokens`` (cumulative), so multi-token (speculative) chunks count
    right whether the server streams ids incrementally or cumulatively."""
    chunks: list[TokenChunk] = []
    ids: list[int] = []
    chosen: list = []
    top: list = []
    text, seen, meta = "", 0, {}
    for at, output in events:
        meta = output.get("meta_info") or {}
        total = int(meta.get("completion_tokens", seen))
        ids = _streamed(ids, output.get("output_ids") or [], total)  # cumulative or incremental streaming
        chosen = _streamed(chosen, meta.get("output_token_logprobs") or [], total)
        top = _streamed(top, meta.get("output_top_logprobs") or [], total)
        piece = output.get("text") or ""
        text = piece if piece.startswith(text) else text + piece
        if total > seen:
            chunks.append(TokenChunk(at, total - seen))
            seen = total
    verify = int(meta.get("spec_verify_ct") or 0)
    finish = meta.get("finish_reason")
    return GenerationResult(
        prompt_tokens=int(meta.get("prompt_tokens") or prompt_tokens or 0),
        output_ids=ids,
        text=text,
        chunks=chunks,
        finish_reason=(finish.get("type") if isinstance(finish, dict) else finish) or "length",
        cached_tokens=int(meta.get("cached_tokens") or 0),
        speculative=SpeculativeStats(verify_steps=verify) if verify else None,
        reported_tokens=seen,
        logprobs=token_logprobs(chosen, top) if chosen else None,
    )


class SGLangEngine(Engine):
    """Wraps a running ``sglang.Engine``; ``close`` shuts its scheduler processes down."""

    name = "sglang"
    capabilities = frozenset({"server_side_prefix_cache"})

    def __init__(self, engine, tokenizer) -> None:
        self.engine = engine
        self.tokenizer = tokenizer

    async def _one(self, prompt: Prompt, params: SamplingParams) -> GenerationResult:
        request = {"prompt": prompt} if isinstance(prompt, str) else {"input_ids": list(prompt)}
        start = time.perf_counter()
        stream = await self.engine.async_generate(
            **request, sampling_params=sampling_dict(params), stream=True, **logprob_arguments(params)
        )
        events = [(time.perf_counter() - start, output) async for output in stream]
        return result_from_stream(events)

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        prefix_cache: object | None = None,
        speculative: object | None = None,
    ) -> list[GenerationResult]:
        if prefix_cache is not None or speculative is not None:
            raise EngineCapabilityError(
                "the sglang engine caches prefixes and speculates as configured at start (radix cache, "
                "--llm-server-args '--speculative-algorithm …')"
            )

        self.requests_served += len(prompts)

        async def batch() -> list[GenerationResult]:
            return list(await asyncio.gather(*(self._one(prompt, params) for prompt in prompts)))

        return self.engine.loop.run_until_complete(batch())

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def format_chat(self, messages: Sequence[dict[str, str]]) -> Prompt:
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def flush_cache(self) -> bool:
        self.engine.flush_cache()
        return True

    def close(self) -> None:
        self.engine.shutdown()


def engine_arguments(session: EngineContext) -> dict[str, object]:
    """sglang.Engine keyword arguments: the model, the device's backend, tensor parallelism."""
    arguments: dict[str, object] = {
        "model_path": str(session.source.path),
        "tp_size": session.settings.tp_size,
        "trust_remote_code": session.settings.trust_remote_code,
        "enable_cache_report": True,
    }
    if session.device.kind == "npu":
        arguments |= {"device": "npu", "attention_backend": "ascend"}
    elif session.device.kind == "cpu":
        arguments["device"] = "cpu"
    if session.graph_mode == "eager":
        arguments["disable_cuda_graph"] = True
    return arguments


def from_session(session: EngineContext) -> SGLangEngine:
    try:
        import sglang
    except ImportError as error:
        raise LLMSetupError(
            f"--llm-engine sglang needs SGLang ({error}): pip install sglang on the device host (or -e '.[sglang]' "
            "from the clone), or use --llm-engine sglang-server / openai"
        ) from None
    from pytest_ascend_llm.models.loading import load_tokenizer

    engine = sglang.Engine(**engine_arguments(session))
    return SGLangEngine(engine, load_tokenizer(session.source, session.settings.trust_remote_code))
