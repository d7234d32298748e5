"""One benchmark case's measurements, flattened into the metrics saved with every run.

Flat keys (``p95``, ``ttft_p95``, ``tokens_per_s`` …) land in pytest-benchmark's ``extra_info["llm"]``
so saved runs from different stacks can be compared metric by metric. Each family carries its sample
count (``n``, ``ttft_n`` …), percentiles too thin to be more than the maximum are listed under
``unresolved``, and the raw samples are kept under ``samples`` so a later run can compare distributions.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_ascend_llm.benchmarking.gate import SAMPLE_KEYS
from pytest_ascend_llm.engines.base import GenerationResult
from pytest_ascend_llm.metrics.stats import PERCENTILES, is_resolved, summarize


def _flatten(prefix: str, samples: list[float]) -> tuple[dict[str, float], list[str]]:
    """Mean, percentiles and the count of one family, and the percentiles its count cannot resolve."""
    summary = summarize(samples)
    count = len(samples)
    flat = {f"{prefix}n": count, f"{prefix}mean": summary["mean"]}
    flat |= {f"{prefix}p{q}": summary[f"p{q}"] for q in PERCENTILES}
    return flat, [f"{prefix}p{q}" for q in PERCENTILES if count and not is_resolved(q, count)]


@dataclass
class CaseResult:
    """Round times (seconds, device-synchronized), tokens counted by the engine, and per-request traces."""

    name: str
    round_seconds: list[float]
    tokens_per_round: list[int]
    requests: list[GenerationResult] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)
    round_cpu_seconds: list[float] = field(default_factory=list)  # process CPU time of each timed round
    host_probe_seconds: list[float] = field(default_factory=list)  # the host probe before each timed round
    request_details: list[dict] = field(default_factory=list)  # a serving case's per-request timelines

    @property
    def tokens_per_s(self) -> float:
        """All engine-counted tokens over all timed seconds (vLLM's output throughput)."""
        seconds = sum(self.round_seconds)
        return sum(self.tokens_per_round) / seconds if seconds > 0 else float("nan")

    @property
    def median_round_tokens_per_s(self) -> float:
        """The median round's rate: robust to one slow round, but not what was delivered."""
        rate = [tokens / seconds for tokens, seconds in zip(self.tokens_per_round, self.round_seconds) if seconds > 0]
        return statistics.median(rate) if rate else float("nan")

    def samples(self) -> dict[str, list[float]]:
        """The raw samples behind every statistic, per family."""
        raw = {"round_seconds": list(self.round_seconds)}
        if self.round_cpu_seconds:
            raw["round_cpu_seconds"] = list(self.round_cpu_seconds)
        if self.host_probe_seconds:
            raw["host_probe_seconds"] = list(self.host_probe_seconds)
        if self.requests:
            raw["ttft"] = [r.ttft for r in self.requests if r.ttft is not None]
            raw["tpot"] = [r.tpot for r in self.requests if r.tpot is not None]
            raw["itl"] = [gap for r in self.requests for gap in r.itl]
            raw["itl_chunk"] = [gap for r in self.requests for gap in r.itl_per_chunk]
        return raw

    def metrics(self) -> dict[str, object]:
        raw = self.samples()
        flat: dict[str, object] = {"rounds": len(self.round_seconds)}
        unresolved: list[str] = []
        for prefix, key in SAMPLE_KEYS.items():
            if key in raw:
                values, thin = _flatten(prefix, raw[key])
                flat |= values
                unresolved += thin
        flat["tokens_per_s"] = self.tokens_per_s
        flat["tokens_per_s_median_round"] = self.median_round_tokens_per_s
        if self.requests:
            flat["output_tokens"] = sum(r.output_tokens for r in self.requests)
        flat["unresolved"] = unresolved
        flat["samples"] = raw
        return flat | self.extra


def generation_tokens(results: Sequence[GenerationResult]) -> int:
    return sum(result.output_tokens for result in results)
