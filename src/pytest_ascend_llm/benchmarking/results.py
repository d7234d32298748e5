"""One benchmark case's measurements, flattened into the metrics saved with every run.

Flat keys (``p95``, ``ttft_p95``, ``tokens_per_s`` …) land in pytest-benchmark's ``extra_info["llm"]``
so saved runs from different stacks can be compared metric by metric.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_ascend_llm.engines.base import GenerationResult
from pytest_ascend_llm.metrics.stats import PERCENTILES, summarize


def _flatten(prefix: str, summary: dict[str, float]) -> dict[str, float]:
    keys = ["mean", *(f"p{q}" for q in PERCENTILES)]
    return {f"{prefix}{key}": summary[key] for key in keys}


@dataclass
class CaseResult:
    """Round times (seconds, device-synchronized), tokens counted by the engine, and per-request traces."""

    name: str
    round_seconds: list[float]
    tokens_per_round: list[int]
    requests: list[GenerationResult] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        """Engine-counted tokens over time, from the median round (robust to one slow round)."""
        rate = [tokens / seconds for tokens, seconds in zip(self.tokens_per_round, self.round_seconds) if seconds > 0]
        return statistics.median(rate) if rate else float("nan")

    def metrics(self) -> dict[str, object]:
        flat: dict[str, object] = {"rounds": len(self.round_seconds)}
        flat |= _flatten("", summarize(self.round_seconds))
        flat["tokens_per_s"] = self.tokens_per_s
        if self.requests:
            flat |= _flatten("ttft_", summarize(r.ttft for r in self.requests if r.ttft is not None))
            flat |= _flatten("tpot_", summarize(r.tpot for r in self.requests if r.tpot is not None))
            flat |= _flatten("itl_", summarize(gap for r in self.requests for gap in r.itl))
            flat["output_tokens"] = sum(r.output_tokens for r in self.requests)
        return flat | self.extra


def generation_tokens(results: Sequence[GenerationResult]) -> int:
    return sum(result.output_tokens for result in results)
