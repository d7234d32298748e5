"""Quality probes for trained models, with answers robust to phrasing. Random-weight models skip these."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

FIBONACCI_CHECK = """
values = [fibonacci(i) for i in range(10)]
assert values == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34], values
"""


@dataclass(frozen=True)
class QualityProbe:
    """A chat prompt and a grader that returns None when the answer is right, else what was wrong."""

    name: str
    prompt: str
    grade: Callable[[str], str | None]
    max_new_tokens: int = 64


def _contains_any(*needles: str) -> Callable[[str], str | None]:
    def grade(answer: str) -> str | None:
        lowered = answer.lower()
        return None if any(n.lower() in lowered for n in needles) else f"expected one of {needles}"

    return grade


def extract_code(answer: str) -> str:
    """The first fenced code block, or the whole answer when there is none."""
    fenced = re.search(r"```(?:python|py)?\s*\n(.*?)```", answer, flags=re.S)
    return fenced.group(1) if fenced else answer


def grade_fibonacci(answer: str) -> str | None:
    """Run the generated function in an isolated interpreter (no site, no env) with a timeout."""
    program = extract_code(answer) + "\n" + FIBONACCI_CHECK
    try:
        completed = subprocess.run(
            [sys.executable, "-I", "-c", program], capture_output=True, text=True, timeout=10, env={}
        )
    except subprocess.TimeoutExpired:
        return "the generated fibonacci() did not finish within 10 s"
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the generated fibonacci() failed: {last}"
    return None


PROBES = (
    QualityProbe("capital_of_china", "中国的首都是哪里？请用一个词回答。", _contains_any("北京", "Beijing")),
    QualityProbe(
        "fibonacci_code",
        "Write a Python function fibonacci(n) that returns the n-th Fibonacci number, where fibonacci(0) == 0 "
        "and fibonacci(1) == 1. Reply with only the code in a ```python block.",
        grade_fibonacci,
        max_new_tokens=200,
    ),
    QualityProbe(
        "translate_zh_to_en",
        "Translate into English, reply with the translation only: 我喜欢学习。",
        _contains_any(
            "like to learn",
            "like learning",
            "love learning",
            "like studying",
            "enjoy learning",
            "love to learn",
            "enjoy studying",
            "like to study",
        ),
    ),
    QualityProbe(
        "translate_en_to_zh",
        "Translate into Chinese, reply with the translation only: Good morning.",
        _contains_any("早上好", "早安"),
    ),
)
