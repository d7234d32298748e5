"""A tail-latency regression gate: ``p95:10%`` (relative) or ``p95:0.05`` (seconds, absolute).

pytest-benchmark's --benchmark-compare-fail knows only min/max/mean/median/stddev/iqr; this gate reads
the percentiles we save in ``extra_info["llm"]``, including TTFT/TPOT/ITL tails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pytest_ascend_llm.errors import LLMSetupError

GATED_METRICS = tuple(
    f"{prefix}{stat}" for prefix in ("", "ttft_", "tpot_", "itl_") for stat in ("mean", "p50", "p90", "p95", "p99")
)
_EXPRESSION = re.compile(r"^(?P<metric>[a-z0-9_]+):(?P<amount>\d+(?:\.\d+)?)(?P<percent>%?)$")


@dataclass(frozen=True)
class GateRule:
    metric: str
    amount: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.metric}:{self.amount:g}{'%' if self.relative else 's'}"

    def allowed(self, baseline: float) -> float:
        return baseline * (1 + self.amount / 100) if self.relative else baseline + self.amount


def parse_rule(text: str) -> GateRule:
    match = _EXPRESSION.match(text.strip().lower())
    if match is None or match["metric"] not in GATED_METRICS:
        raise LLMSetupError(
            f"--llm-compare-fail {text!r}: write METRIC:N% or METRIC:SECONDS, e.g. p95:10% or ttft_p99:0.05, "
            f"with METRIC one of {', '.join(GATED_METRICS)}"
        )
    return GateRule(match["metric"], float(match["amount"]), bool(match["percent"]))


@dataclass(frozen=True)
class Regression:
    case: str
    rule: GateRule
    baseline: float
    current: float

    @property
    def change(self) -> float:
        return self.current / self.baseline - 1 if self.baseline else float("inf")


def find_regressions(
    current: Mapping[str, Mapping[str, float]],
    baseline: Mapping[str, Mapping[str, float]],
    rules: Iterable[GateRule],
) -> list[Regression]:
    """Cases present in both runs whose gated metric grew beyond what its rule allows."""
    found = []
    for rule in rules:
        for case, metrics in current.items():
            before, now = baseline.get(case, {}).get(rule.metric), metrics.get(rule.metric)
            if isinstance(before, int | float) and isinstance(now, int | float) and now > rule.allowed(before):
                found.append(Regression(case, rule, float(before), float(now)))
    return found
