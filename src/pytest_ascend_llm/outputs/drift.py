"""Did the outputs drift? One verdict per prompt between a saved fingerprint and this run's.

- ``identical``: the same tokens, and every logprob within floating-point noise (``NOISE``);
- ``within tolerance``: the same tokens, logprob differences at most the tolerance;
- ``tie flip``: the first differing token sits where the saved run's top-2 margin was within the
  tolerance, so rounding alone can flip it (reported, not failed); positions after it are not
  compared, since every later token is conditioned on a different text;
- ``drifted``: a differing token at a confident position, or logprob differences beyond the tolerance.

Logprob differences are taken over the positions both runs share before any divergence, for the chosen
token and for every top-k alternative both runs list. The tolerance is in nats (natural-log units).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pytest_ascend_llm.outputs.fingerprint import Fingerprint

IDENTICAL, WITHIN_TOLERANCE, TIE_FLIP, DRIFTED = "identical", "within tolerance", "tie flip", "drifted"
VERDICTS = (IDENTICAL, WITHIN_TOLERANCE, TIE_FLIP, DRIFTED)
NOISE = 1e-5  # nats: a rerun of the same kernels differs by float32 rounding at most
ENDED = "(end)"


@dataclass(frozen=True)
class Drift:
    """One prompt's verdict; for a divergence, where it is, both tokens (as text) and the saved margin."""

    prompt: str
    verdict: str
    largest_difference: float
    position: int | None = None
    saved_token: str | None = None
    now_token: str | None = None
    saved_margin: float | None = None

    @property
    def fails(self) -> bool:
        return self.verdict == DRIFTED

    def line(self) -> str:
        text = f"{self.prompt}: {self.verdict}, largest logprob difference {self.largest_difference:.2g}"
        if self.position is None:
            return text
        margin = "no margin recorded" if self.saved_margin is None else f"saved top-2 margin {self.saved_margin:.3g}"
        return (
            f"{text}; first divergence at output token {self.position}: {self.saved_token!r} before, "
            f"{self.now_token!r} now ({margin})"
        )

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


def _top_differences(saved, now) -> list[float]:
    before = dict(saved.top)
    return [abs(logprob - before[token]) for token, logprob in now.top if token in before]


def compare(saved: Fingerprint, now: Fingerprint, tolerance: float, decode: Callable[[object], str] = str) -> Drift:
    """The verdict for one prompt; ``decode`` turns a token (id or text) into text for the message."""
    largest = 0.0
    for position, (before, current) in enumerate(zip(saved.positions, now.positions)):
        if before.token != current.token:
            margin = before.margin
            tie = margin is not None and margin <= tolerance and largest <= tolerance
            return Drift(
                now.prompt,
                TIE_FLIP if tie else DRIFTED,
                largest,
                position,
                before.text or decode(before.token),
                current.text or decode(current.token),
                margin,
            )
        largest = max([largest, abs(current.logprob - before.logprob), *_top_differences(before, current)])
    if len(saved.positions) != len(now.positions):
        position = min(len(saved.positions), len(now.positions))
        token = lambda fp: fp.positions[position].text or decode(fp.positions[position].token)  # noqa: E731
        saved_text = token(saved) if position < len(saved.positions) else ENDED
        now_text = token(now) if position < len(now.positions) else ENDED
        return Drift(now.prompt, DRIFTED, largest, position, saved_text, now_text, None)
    verdict = IDENTICAL if largest <= NOISE else WITHIN_TOLERANCE if largest <= tolerance else DRIFTED
    return Drift(now.prompt, verdict, largest)


def summary_line(drifts: Iterable[Drift]) -> str:
    """'6 prompts: 5 identical, 1 within tolerance, 0 tie flip, 0 drifted; largest logprob difference 0.003'."""
    drifts = list(drifts)
    counts = Counter(d.verdict for d in drifts)
    largest = max((d.largest_difference for d in drifts), default=0.0)
    tally = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    return f"{len(drifts)} prompt(s): {tally}; largest logprob difference {largest:.2g}"
