"""Server engines: any OpenAI-compatible endpoint (``openai``), or a vLLM / SGLang server the session
launches (``vllm-server``, ``sglang-server``) and then talks to the same way.

A batch passed to ``generate`` is sent as concurrent streamed requests, one per prompt: that is what a
batch means to a server. The split prefill/decode steps and explicit KV handles do not exist behind an
HTTP API, so those raise EngineCapabilityError and the suite skips those cases with the reason.
With ``SamplingParams.logprobs`` k > 0 each request asks for per-token logprobs (``serving.client``
names the fields) and each result carries them in ``GenerationResult.logprobs``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_ascend_llm.engines.base import Engine, EngineCapabilityError, GenerationResult, Prompt, SamplingParams
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.models.builtin import BUILTIN_SERVED_NAME
from pytest_ascend_llm.preflight import NEEDS_ENDPOINT
from pytest_ascend_llm.serving.client import ChatMessages, Endpoint, EndpointError, get_json, served_models
from pytest_ascend_llm.serving.flavours import FLAVOURS, ServerFlavour
from pytest_ascend_llm.serving.load import LoadRequest, gather_requests
from pytest_ascend_llm.serving.server_process import ServerProcess, free_port
from pytest_ascend_llm.serving.summary import as_generation

if TYPE_CHECKING:
    from pytest_ascend_llm.engines.context import EngineContext


class OpenAIEngine(Engine):
    """Streams completions from ``endpoint``; ``flavour`` adds the server family's own endpoints."""

    name = "openai"
    capabilities = frozenset({"server"})
    startup_seconds: float | None = None  # a launched server: launch to healthy (loading, graph capture)
    healthy_at: float | None = None  # a launched server: time.perf_counter() when /health first answered 200

    def __init__(
        self,
        endpoint: Endpoint,
        tokenizer=None,
        flavour: ServerFlavour | None = None,
        server: ServerProcess | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.tokenizer = tokenizer
        self.flavour = flavour
        self.server = server
        if flavour is not None:
            self.name = flavour.engine

    def generate(
        self,
        prompts: Sequence[Prompt],
        params: SamplingParams,
        *,
        prefix_cache: object | None = None,
        speculative: object | None = None,
    ) -> list[GenerationResult]:
        if prefix_cache is not None:
            raise EngineCapabilityError(f"the {self.name} engine caches prefixes itself (no explicit KV handle)")
        if speculative is not None:
            raise EngineCapabilityError(f"the {self.name} engine's speculative decoding is set when the server starts")
        self.requests_served += len(prompts)
        records = asyncio.run(gather_requests(self.endpoint, [LoadRequest(p, params) for p in prompts]))
        failed = [record for record in records if not record.completed]
        if failed:
            raise EndpointError(f"{len(failed)} of {len(records)} requests did not complete: {failed[0].error}")
        return [as_generation(record) for record in records]

    def encode(self, text: str) -> list[int]:
        """The local tokenizer (--llm-model) when there is one, else the server's /tokenize (vLLM, SGLang)."""
        if self.tokenizer is not None:
            return list(self.tokenizer.encode(text, add_special_tokens=False))
        try:
            answer = get_json(self.endpoint, "/tokenize", "POST", {"model": self.endpoint.model, "prompt": text})
        except EndpointError as error:
            raise EngineCapabilityError(
                f"no tokenizer: the server has no usable /tokenize ({error}); pass --llm-model DIR for a local one"
            ) from None
        return list(answer.get("tokens") or answer.get("input_ids") or [])

    def format_chat(self, messages: Sequence[dict[str, str]]) -> Prompt:
        """Chat messages are templated by the server (/v1/chat/completions)."""
        return ChatMessages(tuple(dict(message) for message in messages))

    def flush_cache(self) -> bool:
        """Empty the server's prefix cache; False where the server has no such endpoint (plain openai)."""
        if self.flavour is None:
            return False
        get_json(self.endpoint, self.flavour.flush_path, "POST")
        return True

    def speculative_accept_length(self) -> float | None:
        """SGLang's average accepted tokens per verification step (``/get_server_info``), or None where
        the server does not speculate or does not say (vLLM reports it only in Prometheus metrics)."""
        if self.flavour is None or "/get_server_info" not in self.flavour.info_paths:
            return None
        try:
            info = get_json(self.endpoint, "/get_server_info")
        except EndpointError:
            return None
        states = info.get("internal_states") or [{}]
        value = (states[0] if isinstance(states[0], dict) else {}).get("avg_spec_accept_length")
        value = info.get("avg_spec_accept_length") if value is None else value
        return float(value) if value is not None else None

    def server_info(self) -> dict[str, object]:
        """Who answered: the served models and the server family's own description endpoints."""
        info: dict[str, object] = {"endpoint": self.endpoint.shown, "engine": self.name}
        info["models"] = [model.get("id") for model in served_models(self.endpoint)]
        paths = self.flavour.info_paths if self.flavour else ("/version",)
        for path in paths:
            try:
                info[path.strip("/")] = get_json(self.endpoint, path)
            except EndpointError:
                continue
        return info

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def _endpoint(session: EngineContext, url: str, model: str | None) -> Endpoint:
    settings = session.settings
    key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
    endpoint = Endpoint.parse(url, settings.source_of("endpoint"), timeout=settings.request_timeout, api_key=key)
    if model is None:
        listed = served_models(endpoint)
        if not listed:
            raise LLMSetupError(f"{endpoint.shown}/v1/models lists no model: pass --llm-served-model NAME")
        model = str(listed[0].get("id"))
    return Endpoint(endpoint.url, model, endpoint.timeout, endpoint.api_key)


def _local_tokenizer(session: EngineContext):
    """A tokenizer from --llm-model (or the built-in model a launched server serves), else None."""
    if session.settings.model is None and session.settings.engine == "openai":
        return None
    from pytest_ascend_llm.models.loading import load_tokenizer

    return load_tokenizer(session.source, session.settings.trust_remote_code)


def from_session(session: EngineContext) -> OpenAIEngine:
    """``--llm-engine openai --llm-endpoint URL``: a server someone else runs."""
    if not session.settings.endpoint:
        raise LLMSetupError(NEEDS_ENDPOINT)  # also checked before torch (preflight); kept for direct callers
    endpoint = _endpoint(session, session.settings.endpoint, session.settings.served_model)
    return OpenAIEngine(endpoint, _local_tokenizer(session))


def launch(session: EngineContext, flavour: ServerFlavour) -> OpenAIEngine:
    """Start the flavour's server for the session's model, wait for health, and connect to it."""
    settings = session.settings
    source = session.source
    served = BUILTIN_SERVED_NAME if source.builtin else (settings.served_model or source.path.name)
    port = free_port()
    device = settings.device.kind if settings.device.explicit else None
    extra = tuple(shlex.split(settings.server_args or ""))
    planned = planned_sglang_flags(session) if flavour.engine == "sglang-server" else []
    if planned:
        extra = (*planned, *extra)
    elif settings.tp_size > 1:
        extra = (flavour.tp_flag, str(settings.tp_size), *extra)
    if session.graph_mode == "eager":
        extra = (*flavour.eager_flags, *extra)
    argv = flavour.command(settings.server_python or sys.executable, str(source.path), served, port, device, extra)
    log = Path(tempfile.mkdtemp(prefix="ascend-llm-server-")) / f"{flavour.engine}.log"
    env = dict(os.environ) | dict(flavour.env)
    started = time.perf_counter()
    server = ServerProcess(argv, log, f"http://127.0.0.1:{port}/health", env).start(settings.server_timeout)
    healthy_at = time.perf_counter()
    try:
        endpoint = _endpoint(session, f"http://127.0.0.1:{port}", served)
        engine = OpenAIEngine(endpoint, _local_tokenizer(session), flavour, server)
        engine.startup_seconds = healthy_at - started  # launch to healthy: loading and graph capture
        engine.healthy_at = healthy_at
        return engine
    except BaseException:
        server.stop()
        raise


def planned_sglang_flags(session: EngineContext) -> list[str]:
    """On an Ascend or CUDA host, SGLang's memory share, context and concurrency from the capacity
    planner for the local device (or --llm-capacity-memory), so the launch matches `pytest-ascend-llm
    plan`; nothing on CPU, where SGLang's own defaults stand. The user's --llm-server-args come later
    and win."""
    settings = session.settings
    if settings.device.kind not in ("npu", "cuda"):
        return []
    from pytest_ascend_llm.devices.detect import open_device
    from pytest_ascend_llm.planning.capacity import plan_capacity
    from pytest_ascend_llm.planning.launch import plan_flags

    memory = settings.capacity_memory_gib * 2**30 if settings.capacity_memory_gib else None
    if memory is None:
        memory = open_device(settings.device, settings.source_of("device")).total_memory()
    source = session.source
    saved = source.config.get("dtype") or source.config.get("torch_dtype") or "bfloat16"  # transformers 5 / 4
    dtype = settings.dtype if settings.dtype != "auto" else str(saved)
    plan = plan_capacity(
        source.config, dtype, int(memory), settings.tp_size, min(8192, source.max_positions), model_id=source.model_id
    )
    return plan_flags(plan)


def vllm_from_session(session: EngineContext) -> OpenAIEngine:
    return launch(session, FLAVOURS["vllm-server"])


def sglang_from_session(session: EngineContext) -> OpenAIEngine:
    return launch(session, FLAVOURS["sglang-server"])
