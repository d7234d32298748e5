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


# Output fingerprints: varied languages and tasks, so a changed kernel shows wherever it shows.
FINGERPRINT_PROMPTS = {
    "capital_question": "What is the capital of France? Answer in one word.",
    "chinese_explanation": "用一句话解释什么是大语言模型。",
    "python_function": "Write a Python function is_prime(n) that returns True when n is prime.",
    "arithmetic_steps": "Compute 17 * 23 and show each step.",
    "json_record": 'Return a JSON object with the keys "name" and "age" for a 30-year-old engineer named Li.',
}
LONG_FINGERPRINT = "long_context"


def serving_lengths(llm_session) -> tuple[int, int]:
    """Input and output tokens of a serving request: --llm-input-len / --llm-output-len, else 1024/128 on
    an accelerator and 96/24 on CPU; the input cut so the longest request (the lengths times 1 +
    --llm-range-ratio) fits the model's context (the serving cases, the saturation search and the soak
    share them)."""
    settings = llm_session.settings
    input_len, output_len = (1024, 128) if llm_session.device.is_accelerator else (96, 24)
    input_len, output_len = settings.input_len or input_len, settings.output_len or output_len
    stretch = 1 + settings.range_ratio
    room = int((llm_session.source.max_positions - 8) / stretch) - output_len
    return max(8, min(input_len, room)), output_len
