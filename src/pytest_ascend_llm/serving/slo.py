"""Service-level objectives for goodput: MLPerf Inference's LLM server presets, or the user's limits.

Goodput counts the requests that met every limit given (TTFT, TPOT, E2E), per second of the run, as
vLLM's ``bench serve --goodput`` does; a failed or timed-out request never meets an SLO.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_ascend_llm.errors import LLMSetupError

# MLPerf Inference LLM server scenario, P99 limits in milliseconds (see shared METRICS.md).
PRESETS = {
    "mlperf-llama2-70b": {"ttft": 2000.0, "tpot": 200.0},
    "mlperf-llama2-70b-interactive": {"ttft": 450.0, "tpot": 40.0},
    "mlperf-llama3.1-8b": {"ttft": 2000.0, "tpot": 100.0},
    "mlperf-llama3.1-8b-interactive": {"ttft": 500.0, "tpot": 30.0},
}
LIMITS = ("ttft", "tpot", "e2e")


@dataclass(frozen=True)
class SLO:
    """Limits in seconds (None: no limit on that metric) and the name they were given by."""

    name: str
    ttft: float | None = None
    tpot: float | None = None
    e2e: float | None = None

    def met_by(self, record) -> bool:
        """A completed request within every limit; TPOT is not limited for 1-token outputs."""
        if not record.completed or record.ttft is None:
            return False
        checks = ((self.ttft, record.ttft), (self.tpot, record.tpot), (self.e2e, record.e2e))
        return all(limit is None or value is None or value <= limit for limit, value in checks)

    def describe(self) -> str:
        limits = [f"{name.upper()} ≤ {getattr(self, name) * 1e3:g} ms" for name in LIMITS if getattr(self, name)]
        return f"{self.name} ({', '.join(limits)})"


def parse_slo(text: str, origin: str = "--llm-slo") -> SLO:
    """A preset name, or limits in milliseconds: ``ttft=500,tpot=30`` (any of ttft, tpot, e2e)."""
    text = text.strip().lower()
    if text in PRESETS:
        return SLO(text, **{name: ms / 1e3 for name, ms in PRESETS[text].items()})
    limits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            milliseconds = float(value)
        except ValueError:
            milliseconds = -1.0
        if name.strip() not in LIMITS or milliseconds <= 0:
            raise LLMSetupError(
                f"{origin} {text!r}: give a preset ({', '.join(PRESETS)}) "
                "or limits in ms like ttft=500,tpot=30,e2e=20000"
            )
        limits[name.strip()] = milliseconds / 1e3
    if not limits:
        raise LLMSetupError(f"{origin} is empty: give a preset ({', '.join(PRESETS)}) or limits like ttft=500,tpot=30")
    return SLO("custom", **limits)
