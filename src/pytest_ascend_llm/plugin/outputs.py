"""``llm_outputs``: what a case's model said, saved with the run and compared with the compared run.

A fingerprint case hands over one prompt's fingerprint per graph mode; it is saved in the run state
(results file, report) and in pytest-benchmark's JSON (``extra_info["llm_outputs"]``, with the
generation's seconds as the one round), so ``--benchmark-compare`` brings the saved one back while the
test runs. The comparison is refused for other weights unless asked, and then only with the same
tokenizer; a drifted prompt fails the case, naming where and how (``--llm-drift-fail off`` reports it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.plugin import benchmark_adapter as adapter
from pytest_ascend_llm.plugin.state import PluginState

if TYPE_CHECKING:
    from pytest_ascend_llm.evaluation.scoring import Accuracy
    from pytest_ascend_llm.outputs.drift import Drift
    from pytest_ascend_llm.outputs.fingerprint import Fingerprint

OUTPUTS_KEY = "llm_outputs"


def comparison_refusal(saved: Mapping | None, now: Mapping, across_models: bool) -> str | None:
    """Why this run's outputs must not be compared token by token with the saved run's, or None."""
    if not saved:
        return None
    weights = (saved.get("model_hash"), now.get("model_hash"))
    tokenizers = (saved.get("tokenizer_hash"), now.get("tokenizer_hash"))
    if weights[0] == weights[1] and tokenizers[0] == tokenizers[1]:
        return None
    if None in tokenizers:
        return "one run has no tokenizer hash, so other weights cannot be shown to share its tokenizer"
    if tokenizers[0] != tokenizers[1]:
        return (
            f"the compared run's tokenizer differs ({tokenizers[0]} → {tokenizers[1]}): token-level "
            "outputs of different tokenizers cannot be compared"
        )
    if not across_models:
        return (
            f"the compared run used other weights ({weights[0]} → {weights[1]}): pass --llm-drift-across-models to "
            "compare a quantized copy or a fine-tune with it"
        )
    return None


class LLMOutputs:
    """One case's outputs: ``fingerprint(...)`` per graph mode, compared as each arrives."""

    def __init__(self, benchmark, config: pytest.Config, state: PluginState, name: str) -> None:
        self.benchmark, self.config, self.state, self.name = benchmark, config, state, name
        benchmark.fullname = name  # saved under the stable name, so runs from other virtualenvs line up
        self.saved = adapter.compared_cases(config, OUTPUTS_KEY).get(name) or {}
        self.record: dict[str, object] = state.run.outputs.setdefault(name, {"fingerprints": {}, "drift": {}})
        self.timed = False

    def fingerprint(self, fingerprint: Fingerprint, mode: str, seconds: float, decode: Callable = str) -> list[Drift]:
        """Save one mode's fingerprint; compare it with the compared run's for that mode, and in a run of
        both modes the compiled one with the eager one. Fails the case on drift (unless told not to)."""
        from pytest_ascend_llm.outputs.drift import compare
        from pytest_ascend_llm.outputs.fingerprint import Fingerprint

        self.record["fingerprints"][mode] = fingerprint.to_dict()
        self._save(seconds)
        against = {}
        saved = (self.saved.get("fingerprints") or {}).get(mode)
        if saved is not None and self._refusal() is None:
            against[f"{mode} vs compared run"] = saved
        eager = self._eager_twin().get("eager")
        if mode == "compiled" and eager is not None:
            against["compiled vs eager"] = eager
        tolerance = self.state.settings.drift_tolerance
        drifts = [
            self._keep(label, compare(Fingerprint.from_dict(before), fingerprint, tolerance, decode))
            for label, before in against.items()
        ]
        failing = [d for d in drifts if d.fails]
        if failing and self.state.settings.drift_fail == "on":
            pytest.fail("outputs drifted: " + "; ".join(d.line() for d in failing), pytrace=False)
        return drifts

    def accuracy(self, accuracy: Accuracy, seconds: float, mode: str | None = None) -> list[str]:
        """Save a question set's score in one graph mode and return what fails it: the baseline band
        (--llm-eval-baseline/--llm-eval-tolerance), a breached floor, and a significant paired drop
        (McNemar exact) against the compared run's same questions or, for compiled, this session's eager."""
        from pytest_ascend_llm.evaluation.scoring import Accuracy, band_verdict, paired_comparison
        from pytest_ascend_llm.plugin.gate import floor_breaches

        key = "compiled_accuracy" if mode == "compiled" else "accuracy"
        against = {"compared run": self.saved.get(key) if self._refusal() is None else None}
        if mode == "compiled":
            against["eager"] = self.record.get("accuracy")
        self.record[key] = accuracy.to_dict()
        self._save(seconds)
        settings, problems = self.state.settings, []
        if settings.eval_baseline is not None:
            band = band_verdict(accuracy, settings.eval_baseline, settings.eval_tolerance)
            problems += [band] if band is not None else []
        for label, before in against.items():
            if not before:
                continue
            paired = paired_comparison(Accuracy.from_dict(before).correct_by_id(), accuracy.correct_by_id())
            both = self.state.settings.graph_mode == "both"
            self.record.setdefault("paired", {})[f"{mode} vs {label}" if both else label] = {
                "line": paired.line(),
                "p_value": paired.p_value,
                "change": paired.change,
                "interval": list(paired.change_interval),
                "newly_wrong": list(paired.newly_wrong),
                "newly_right": list(paired.newly_right),
            }
            if paired.significant_drop():
                problems.append(f"a significant drop against the {label}: {paired.line()}")
        metrics = {"accuracy": accuracy.proportion}
        return problems + [f"below its floor: {breach}" for breach in floor_breaches(self.state, self.name, metrics)]

    def _eager_twin(self) -> dict:
        """The fingerprints of this prompt's eager case in this session (a compiled case is ``[compiled-…]``)."""
        twin = self.name.replace("[compiled-", "[")
        return (self.state.run.outputs.get(twin) or {}).get("fingerprints") or {}

    def _refusal(self) -> str | None:
        llm = self.state.llm
        now = llm.environment.to_dict() if llm is not None else {}
        reason = comparison_refusal(self.state.run.compared_stack, now, self.state.settings.drift_across_models)
        if reason is not None:
            self.record["refused"] = reason
        return reason

    def _keep(self, against: str, drift: Drift) -> Drift:
        self.record["drift"][against] = drift.to_dict()
        return drift

    def _save(self, seconds: float) -> None:
        """The generation's seconds as the case's round (once), and the outputs in the saved JSON."""
        if not self.timed:
            self.state.timer.one_round(self.benchmark, seconds, "llm_outputs(...)")
            self.timed = True
        if self.state.timer.saves_to_benchmark:
            kept = ("fingerprints", "accuracy", "compiled_accuracy")
            self.benchmark.extra_info[OUTPUTS_KEY] = {key: self.record[key] for key in kept if key in self.record}
