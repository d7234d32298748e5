"""What differs between the servers the suite launches: the launch command, the cache-flush endpoint,
and where the server keeps its extra metrics. Everything else (HTTP, streaming, the process) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerFlavour:
    """One OpenAI-compatible server family."""

    engine: str  # the --llm-engine name
    module: str  # ``python -m MODULE`` starts it
    model_flag: str
    flush_path: str  # empties the prefix cache, so a case is not flattered by an earlier one
    info_paths: tuple[str, ...]  # GET endpoints whose JSON describes the server (version, speculative stats)
    cache_report_flags: tuple[str, ...]  # make usage.prompt_tokens_details.cached_tokens appear
    tp_flag: str  # tensor parallelism across devices
    eager_flags: tuple[str, ...]  # --llm-graph-mode eager: no graph capture (both servers capture by default)
    env: tuple[tuple[str, str], ...] = ()  # variables the server needs for the endpoints above

    def command(
        self,
        python: str,
        model_dir: str,
        served_name: str,
        port: int,
        device: str | None,
        extra: tuple[str, ...] = (),
    ) -> list[str]:
        """argv bound to 127.0.0.1; the user's extra arguments come last, so they win."""
        argv = [python, "-m", self.module, self.model_flag, model_dir, "--served-model-name", served_name]
        argv += ["--host", "127.0.0.1", "--port", str(port), *self.cache_report_flags]
        return argv + self.device_flags(device) + list(extra)

    def device_flags(self, device: str | None) -> list[str]:
        if self.engine == "sglang-server" and device == "npu":
            return ["--device", "npu", "--attention-backend", "ascend"]
        if self.engine == "sglang-server" and device in ("cpu",):
            return ["--device", device]
        if self.engine == "vllm-server" and device == "cpu":
            return ["--dtype", "float32"]
        return []


SGLANG = ServerFlavour(
    engine="sglang-server",
    module="sglang.launch_server",
    model_flag="--model-path",
    flush_path="/flush_cache",
    info_paths=("/get_server_info", "/get_model_info"),
    cache_report_flags=("--enable-cache-report",),
    tp_flag="--tp-size",
    eager_flags=("--disable-cuda-graph",),
)
VLLM = ServerFlavour(
    engine="vllm-server",
    module="vllm.entrypoints.openai.api_server",
    model_flag="--model",
    flush_path="/reset_prefix_cache",
    info_paths=("/version",),
    cache_report_flags=("--enable-prompt-tokens-details", "--enable-prefix-caching"),
    tp_flag="--tensor-parallel-size",
    eager_flags=("--enforce-eager",),
    env=(("VLLM_SERVER_DEV_MODE", "1"),),  # /reset_prefix_cache exists only in vLLM's dev mode
)
FLAVOURS = {flavour.engine: flavour for flavour in (SGLANG, VLLM)}
