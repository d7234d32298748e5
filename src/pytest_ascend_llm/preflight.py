"""What can be checked before torch loads: the engine's required options, the model folders, and options
that have no effect with the chosen engine.

Importing torch (and torch_npu, on an Ascend box) takes seconds; a typo should cost none of them. Errors
raise LLMSetupError (one line, naming the option and the fix); an option that the chosen engine ignores
is a warning naming the engine that would use it, never silence.
"""

from __future__ import annotations

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.settings import Settings

LAUNCHED = ("vllm-server", "sglang-server")
SERVERS = ("openai", *LAUNCHED)
# option → (engines that use it, what to pass instead)
USED_BY: dict[str, tuple[tuple[str, ...], str]] = {
    "endpoint": (("openai",), "--llm-engine openai"),
    "served_model": (SERVERS, "--llm-engine openai, vllm-server or sglang-server"),
    "server_python": (LAUNCHED, "--llm-engine vllm-server or sglang-server"),
    "server_args": (LAUNCHED, "--llm-engine vllm-server or sglang-server"),
    "server_timeout": (LAUNCHED, "--llm-engine vllm-server or sglang-server"),
    "tp_size": (LAUNCHED, "--llm-engine vllm-server or sglang-server"),
    "concurrency": (SERVERS, "a server engine (the serving cases)"),
    "request_rate": (SERVERS, "a server engine (the serving cases)"),
    "serving_requests": (SERVERS, "a server engine (the serving cases)"),
    "input_len": (SERVERS, "a server engine (the serving cases)"),
    "output_len": (SERVERS, "a server engine (the serving cases)"),
    "range_ratio": (SERVERS, "a server engine (the serving cases)"),
    "client_workers": (SERVERS, "a server engine (the serving cases)"),
    **{
        name: (SERVERS, "a server engine (the saturation search)")
        for name in ("saturation_max", "saturation_rate_start", "saturation_max_rate", "saturation_resolution")
    },
    **{
        name: (SERVERS, "a server engine (the trace replay)")
        for name in ("trace", "trace_speed", "trace_requests", "trace_block")
    },
    "compile_backend": (("transformers",), "--llm-engine transformers with --llm-graph-mode compiled"),
}
NEEDS_ENDPOINT = "--llm-engine openai needs --llm-endpoint URL (e.g. http://127.0.0.1:8000)"
NEEDS_TRACE = ("trace_speed", "trace_requests", "trace_block")
NEEDS_SOAK = ("soak_window", "soak_concurrency", "soak_rate", "soak_max_growth", "soak_max_drift")


def check_before_torch(settings: Settings) -> list[str]:
    """Raise on what cannot work; return a warning line for each option that would change nothing."""
    if settings.engine == "openai" and not settings.endpoint:
        raise LLMSetupError(NEEDS_ENDPOINT)
    from pytest_ascend_llm.models.source import inspect_model_dir

    for name in ("model", "draft_model"):
        path = getattr(settings, name)
        if path is not None and str(path) not in ("", "builtin"):
            inspect_model_dir(path, settings.source_of(name))
    check_traces(settings)
    return unused_options(settings)


def check_traces(settings: Settings) -> None:
    """Each --llm-trace file read and checked now, so a missing file or a bad line costs no model load."""
    from pytest_ascend_llm.serving.trace import read_trace

    for path in settings.trace:
        try:
            read_trace(path, settings.trace_requests)
        except LLMSetupError as error:
            raise LLMSetupError(f"{settings.source_of('trace')} {error}") from None


def unused_options(settings: Settings) -> list[str]:
    """'--llm-endpoint has no effect with --llm-engine transformers: it is for --llm-engine openai' per option
    the user set (on the command line, in the environment or ini) that the run will not use."""
    given = set(settings.sources)
    warnings = []
    for name, (engines, instead) in USED_BY.items():
        if name in given and settings.engine not in engines:
            warnings.append(
                f"{settings.source_of(name)} has no effect with --llm-engine {settings.engine}: it is for {instead}"
            )
    if "compile_backend" in given and settings.engine == "transformers" and settings.graph_mode in (None, "eager"):
        warnings.append(
            f"{settings.source_of('compile_backend')} has no effect without --llm-graph-mode compiled or both"
        )
    if not settings.trace:
        unused = [name for name in NEEDS_TRACE if name in given]
        warnings += [f"{settings.source_of(name)} has no effect without --llm-trace FILE" for name in unused]
    if settings.soak_seconds is None:
        unused = [name for name in NEEDS_SOAK if name in given]
        warnings += [f"{settings.source_of(name)} has no effect without --llm-soak-seconds S" for name in unused]
    return warnings
