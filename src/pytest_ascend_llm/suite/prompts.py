"""Prompts shared by the suite's cases: varied lengths so batching really pads."""

from importlib import resources

import pytest

SHORT_PROMPTS = (
    "The capital of China is",
    "def fibonacci(n):",
    "请把下面的句子翻译成英文：今天天气很好。",
    "Large language models generate text one token at a time, and each step",
)


def corpus_text() -> str:
    return resources.files("pytest_ascend_llm.models").joinpath("corpus.txt").read_text(encoding="utf-8")


def prompt_of_length(encode, tokens: int) -> list[int]:
    """Exactly ``tokens`` prompt ids, made by repeating real text (not one id over and over)."""
    piece = encode(corpus_text())
    repeats = tokens // len(piece) + 1
    return (piece * repeats)[:tokens]


def skip_unless_context_fits(llm_session, tokens: int, case: str) -> None:
    """Skip a case whose prompt the model cannot take, saying which case and both numbers."""
    limit = llm_session.source.max_positions
    if tokens > limit:
        pytest.skip(f"{case} needs {tokens} tokens of context; {llm_session.source.model_id} takes at most {limit}")
