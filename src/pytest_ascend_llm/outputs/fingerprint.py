"""An output fingerprint: one prompt's greedy tokens, each with its logprob and the top alternatives.

Greedy text alone hides a change until it flips a token; the logprobs show how close each position was,
so a comparison can tell a near-tie that rounding flipped from a confident token that changed. Saved
as plain JSON with the run (results file, pytest-benchmark's saved JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_ascend_llm.engines.base import GenerationResult, TokenLogprob

TOP_K = 5  # alternatives kept per position (the issue asks for at least 5)


@dataclass(frozen=True)
class Fingerprint:
    """``positions[i]`` is output token i: its id (or text, from a server without ids), logprob, top-k."""

    prompt: str
    positions: tuple[TokenLogprob, ...]

    @property
    def tokens(self) -> list[int | str]:
        return [p.token for p in self.positions]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "tokens": self.tokens,
            "logprobs": [p.logprob for p in self.positions],
            "top": [[[token, logprob] for token, logprob in p.top] for p in self.positions],
            "texts": [p.text for p in self.positions],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        texts = data.get("texts") or [None] * len(data["tokens"])
        positions = tuple(
            TokenLogprob(token, float(logprob), tuple((t, float(lp)) for t, lp in top), text)
            for token, logprob, top, text in zip(data["tokens"], data["logprobs"], data["top"], texts)
        )
        return cls(str(data["prompt"]), positions)


def fingerprint_of(prompt: str, result: GenerationResult) -> Fingerprint:
    """The fingerprint of one generation; the engine must have been asked for logprobs."""
    if result.logprobs is None:
        raise ValueError("the generation carries no logprobs: ask with SamplingParams(logprobs=TOP_K)")
    return Fingerprint(prompt, tuple(result.logprobs))
