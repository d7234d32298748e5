"""Scoring outputs against a question set: accuracy with its interval, a band check, and paired comparisons.

An accuracy is only as good as its count, so it is always reported with its Wilson 95 % interval and checked
against a baseline band only when the whole interval leaves the band. Two runs on the same questions are compared
pairwise (McNemar's exact test, Newcombe's interval of the change), which sees a regression that two overlapping
unpaired intervals hide; the flipped question ids say where to look. Runs save to JSON to be compared later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from pytest_ascend_llm.evaluation.answers import extract_number, is_correct
from pytest_ascend_llm.evaluation.questions import Question
from pytest_ascend_llm.metrics.proportions import mcnemar_exact, paired_difference_interval, wilson_interval


@dataclass(frozen=True)
class QuestionVerdict:
    """One question's outcome. ``correct`` is None when a numeric answer could not be read from the output;
    ``error`` is set (and ``correct`` False) when the request itself failed."""

    id: str
    correct: bool | None
    extracted: str | None
    output: str
    error: str | None = None


@dataclass(frozen=True)
class Accuracy:
    """k correct of n scored, from per-question verdicts; unparsable outputs and failed requests count as wrong."""

    verdicts: tuple[QuestionVerdict, ...]

    @property
    def k(self) -> int:
        return sum(1 for verdict in self.verdicts if verdict.correct is True)

    @property
    def n(self) -> int:
        return len(self.verdicts)

    @property
    def unparsable(self) -> int:
        return sum(1 for verdict in self.verdicts if verdict.correct is None)

    @property
    def failed(self) -> int:
        return sum(1 for verdict in self.verdicts if verdict.error is not None)

    @property
    def proportion(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """The Wilson 95 % interval of the proportion."""
        return wilson_interval(self.k, self.n)

    def correct_by_id(self) -> dict[str, bool]:
        """Question id -> right or not (unparsable and failed are not), the input of ``paired_comparison``."""
        return {verdict.id: verdict.correct is True for verdict in self.verdicts}

    def line(self) -> str:
        low, high = self.interval
        return (
            f"accuracy {self.proportion:.3f} ({self.k}/{self.n}, 95% interval {low:.3f}–{high:.3f}); "
            f"{self.unparsable} unparsable, {self.failed} failed"
        )

    def to_dict(self) -> dict:
        """A JSON-ready record: the summary for people, the verdicts for ``from_dict`` and later comparisons."""
        low, high = self.interval
        return {
            "k": self.k,
            "n": self.n,
            "proportion": self.proportion,
            "interval": [low, high],
            "unparsable": self.unparsable,
            "failed": self.failed,
            "verdicts": [asdict(verdict) for verdict in self.verdicts],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Accuracy:
        """The inverse of ``to_dict``; the summary counts, when present, must agree with the verdicts."""
        accuracy = cls(tuple(QuestionVerdict(**verdict) for verdict in data["verdicts"]))
        for name in ("k", "n", "unparsable", "failed"):
            if name in data and data[name] != getattr(accuracy, name):
                raise ValueError(f"saved {name}={data[name]} disagrees with its verdicts ({getattr(accuracy, name)})")
        return accuracy


def _verdict(question: Question, outcome: str | BaseException) -> QuestionVerdict:
    if isinstance(outcome, BaseException):
        first = (str(outcome).strip().splitlines() or [""])[0][:200]
        error = f"{type(outcome).__name__}: {first}" if first else type(outcome).__name__
        return QuestionVerdict(question.id, False, None, "", error)
    extracted = extract_number(outcome) if question.match == "numeric" else outcome.strip()
    return QuestionVerdict(question.id, is_correct(question, outcome), extracted, outcome)


def score(questions: Sequence[Question], outputs_or_errors: Sequence[str | BaseException]) -> Accuracy:
    """Score each question's output (or the exception its request raised), in the questions' order.

    Every question counts in n. A failed request counts as wrong and in ``failed``; an output with no readable
    number counts as wrong and in ``unparsable``: a deployment that errors or rambles is not accurate, and
    leaving those out of n would flatter it.
    """
    if len(questions) != len(outputs_or_errors):
        raise ValueError(f"{len(questions)} questions but {len(outputs_or_errors)} outputs")
    return Accuracy(tuple(_verdict(q, outcome) for q, outcome in zip(questions, outputs_or_errors)))


def band_verdict(accuracy: Accuracy, baseline: float, tolerance: float) -> str | None:
    """A one-line failure when the whole 95 % interval lies outside [baseline - tolerance, baseline + tolerance];
    None while any of it overlaps the band (the difference could be chance)."""
    low, high = accuracy.interval
    band_low, band_high = baseline - tolerance, baseline + tolerance
    if high < band_low:
        where = f"below the band {band_low:.3f}–{band_high:.3f}"
    elif low > band_high:
        where = f"above the band {band_low:.3f}–{band_high:.3f} (a changed set or scoring?)"
    else:
        return None
    return f"{accuracy.line()}: the whole interval lies {where} (baseline {baseline:.3f} ± {tolerance:.3f})"


@dataclass(frozen=True)
class PairedComparison:
    """Two runs over the questions both scored: a right both times, b right before/wrong now, c wrong before/right
    now, d wrong both times; McNemar's exact p and the change now - before with its Newcombe 95 % interval."""

    a: int
    b: int
    c: int
    d: int
    p_value: float
    change: float
    change_interval: tuple[float, float]
    newly_wrong: tuple[str, ...]
    newly_right: tuple[str, ...]
    unmatched: int = 0

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    def significant_drop(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha and self.change < 0

    def line(self) -> str:
        low, high = self.change_interval
        unmatched = f" ({self.unmatched} in one run only)" if self.unmatched else ""
        return (
            f"accuracy change {self.change:+.3f} (95% interval {low:+.3f} to {high:+.3f}) over {self.n} shared "
            f"questions{unmatched}: {self.b} newly wrong, {self.c} newly right, McNemar exact p={self.p_value:.3g}"
        )


def paired_comparison(before: Mapping[str, bool], now: Mapping[str, bool]) -> PairedComparison:
    """Compare two runs question by question over the ids both scored (in ``before``'s order)."""
    shared = [question for question in before if question in now]
    newly_wrong = tuple(q for q in shared if before[q] and not now[q])
    newly_right = tuple(q for q in shared if not before[q] and now[q])
    a = sum(1 for q in shared if before[q] and now[q])
    b, c = len(newly_wrong), len(newly_right)
    d = len(shared) - a - b - c
    change, low, high = paired_difference_interval(a, b, c, d)
    unmatched = len(before) + len(now) - 2 * len(shared)
    return PairedComparison(a, b, c, d, mcnemar_exact(b, c), change, (low, high), newly_wrong, newly_right, unmatched)
