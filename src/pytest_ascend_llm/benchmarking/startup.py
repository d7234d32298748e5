"""Start-up and the first request: what a deployment pays once per start, set beside what it pays warm.

Method. The first request goes to an engine that has served none (``Engine.requests_served`` is 0; the
timed warm-up call a compiled transformers engine makes at creation is its compile time, not a request).
Its TTFT and E2E follow METRICS.md (first token − t0, last token − t0, from the engine's own chunk
timestamps, device-synchronized in process) and are divided by the median TTFT and E2E of the warm
requests that follow (in the suite: the case's timed rounds, after its warm-up rounds); first/warm above 1
is what the first request costs (lazy allocation, kernel selection, a compiler run on first use).

- Load (in-process engines): the seconds from disk to the device of tokenizer and weights (the session
  loads them in one step), and GB/s = the weights' bytes on the device / those seconds: the allocator's
  growth on an accelerator, the parameters' storages on CPU (``LoadedModel.device_bytes_loaded``). In a
  fresh process the seconds include the first import of the model's code (transformers imports it lazily):
  seconds on CPU for a tiny model, noise beside the weights of a real one.
- Compile (a compiled transformers engine): its first compiled call, tracing and compilation included.
- A launched server: launch → healthy (``/health`` first answered 200; it is polled every 0.5 s), and
  healthy → first token = the gap before the first request was sent (the harness's) + that request's TTFT.

Limits. One start is one sample: these figures are saved, printed and held by fixed floors (``floors.py``),
never put through the regression gate, which needs distributions; the warm rounds are gated as any case.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_ascend_llm.engines.base import Engine, GenerationResult, Prompt, SamplingParams

if TYPE_CHECKING:
    from pytest_ascend_llm.models.loading import LoadedModel

NO_VERDICT = "one start per run: no verdict"


class AlreadyServed(RuntimeError):
    """The engine served requests before: its next request is not a first one."""


@dataclass
class Startup:
    """One start of one engine in one graph mode; figures in seconds and bytes, None where not measured."""

    graph_mode: str
    first_ttft_s: float | None
    first_e2e_s: float | None
    first_tokens: int = 0  # the first request's output tokens, as the engine counted them
    load_s: float | None = None
    load_bytes: int | None = None
    compile_s: float | None = None
    compile_backend: str | None = None
    launch_to_healthy_s: float | None = None
    healthy_to_request_s: float | None = None
    warm_ttft_p50_s: float | None = None
    warm_e2e_p50_s: float | None = None
    warm_n: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def load_gbps(self) -> float | None:
        """Weights' bytes on the device / load seconds, in 10⁹ bytes per second."""
        return _ratio(self.load_bytes, self.load_s, 1e-9)

    @property
    def healthy_to_first_token_s(self) -> float | None:
        if self.healthy_to_request_s is None or self.first_ttft_s is None:
            return None
        return self.healthy_to_request_s + self.first_ttft_s

    def against_warm(self, requests: Sequence[GenerationResult]) -> Startup:
        """Set the warm requests' median TTFT and E2E beside the first request's."""
        ttfts = [r.ttft for r in requests if r.ttft is not None]
        e2es = [r.e2e for r in requests if r.e2e is not None]
        self.warm_ttft_p50_s = statistics.median(ttfts) if ttfts else None
        self.warm_e2e_p50_s = statistics.median(e2es) if e2es else None
        self.warm_n = len(requests)
        return self

    def metrics(self) -> dict[str, object]:
        """The saved figures (flat, each only when measured): what --llm-floors can hold."""
        values = {
            "load_s": self.load_s,
            "load_bytes": self.load_bytes,
            "load_gbps": self.load_gbps,
            "compile_s": self.compile_s,
            "compile_backend": self.compile_backend,
            "launch_to_healthy_s": self.launch_to_healthy_s,
            "healthy_to_request_s": self.healthy_to_request_s,
            "healthy_to_first_token_s": self.healthy_to_first_token_s,
            "first_ttft_s": self.first_ttft_s,
            "first_e2e_s": self.first_e2e_s,
            "warm_ttft_p50_s": self.warm_ttft_p50_s,
            "warm_e2e_p50_s": self.warm_e2e_p50_s,
            "warm_n": self.warm_n or None,
            "first_over_warm_ttft": _ratio(self.first_ttft_s, self.warm_ttft_p50_s),
            "first_over_warm_e2e": _ratio(self.first_e2e_s, self.warm_e2e_p50_s),
        }
        kept = {key: value for key, value in values.items() if value is not None}
        return {"startup_mode": self.graph_mode, **kept, "startup_notes": list(self.notes)}


def _ratio(top: float | None, bottom: float | None, scale: float = 1.0) -> float | None:
    return top / bottom * scale if top is not None and bottom else None


def first_request(
    engine: Engine, prompt: Prompt, params: SamplingParams, graph_mode: str, load: LoadedModel | None = None
) -> Startup:
    """Send the engine's first request and take what its start cost; ``load`` is the model this start
    loaded (None when it loaded none: a server, or weights an earlier engine loaded). Raises AlreadyServed."""
    if engine.requests_served:
        raise AlreadyServed(f"the {graph_mode} engine already served {engine.requests_served} request(s)")
    healthy_at = getattr(engine, "healthy_at", None)
    sent = time.perf_counter()
    [result] = engine.generate([prompt], params)
    startup = Startup(graph_mode, result.ttft, result.e2e, first_tokens=result.output_tokens)
    if load is not None:
        startup.load_s, startup.load_bytes = load.load_seconds, load.device_bytes_loaded
    startup.compile_s = getattr(engine, "compile_seconds", None)
    startup.compile_backend = getattr(engine, "compile_backend", None)
    startup.launch_to_healthy_s = getattr(engine, "startup_seconds", None)
    if healthy_at is not None:
        startup.healthy_to_request_s = sent - healthy_at
    elif "server" in engine.capabilities and getattr(engine, "server", None) is None:
        startup.notes.append("launch → healthy not measured: this session did not launch the server")
    return startup


def measure_startup(
    engine: Engine,
    prompt: Prompt,
    params: SamplingParams,
    graph_mode: str = "default",
    load: LoadedModel | None = None,
    warm_requests: int = 5,
) -> Startup:
    """From Python: the first request, then ``warm_requests`` more, the first set against their median
    (the shipped suite times the warm requests as llm_bench rounds instead)."""
    startup = first_request(engine, prompt, params, graph_mode, load)
    warm = [engine.generate([prompt], params)[0] for _ in range(warm_requests)]
    return startup.against_warm(warm)
