"""Reading the answer out of a model's free text, and deciding whether it is right.

Models write "The answer is $1,234.", "#### 72" or a paragraph that ends in the number; a strict comparison would
score formatting, not arithmetic. The rules follow GSM8K's convention (the number after ``####``) and the common
fallback of its evaluations (the last number in the text), with thousands separators, currency and percent signs
and a sentence's closing period ignored, and numbers compared by value ("12.0" equals "12").
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_ascend_llm.evaluation.questions import Question

# A number: an optional minus sign (not one joining two words or numbers, as in "5-3"), an optional "$", digits
# with or without thousands commas, an optional decimal part (".5" alone too). It never starts inside a number.
_NUMBER = (
    r"(?:(?<![\w)])(?P<sign>[-\u2212]))?\$?(?<![\d.])"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?!\d|,\d)|\d+|(?=\.\d))(?P<frac>\.\d+)?"
)
NUMBER = re.compile(_NUMBER)
FINAL_ANSWER = re.compile(r"####\s*" + _NUMBER)
WHOLE_NUMBER = re.compile(r"\s*" + _NUMBER + r"\s*%?\s*\.?\s*")


def _text(match: re.Match[str]) -> str:
    """The matched number as a plain string: no commas, no "$", an ASCII minus, "0.5" for ".5"."""
    sign = "-" if match.group("sign") else ""
    return sign + (match.group("digits").replace(",", "") or "0") + (match.group("frac") or "")


def extract_number(text: str) -> str | None:
    """The final answer in ``text`` as a plain number string ("-3.5", "1234"), or None when it holds no number.

    GSM8K's ``#### N`` comes first (its first occurrence); otherwise the last number in the text.
    """
    final = FINAL_ANSWER.search(text)
    if final is not None:
        return _text(final)
    numbers = list(NUMBER.finditer(text))
    return _text(numbers[-1]) if numbers else None


def parse_number(text: str) -> str | None:
    """``text`` as a plain number string when it is a number and nothing else ("1,234", "$5", "-2.5"), else None."""
    match = WHOLE_NUMBER.fullmatch(text)
    return None if match is None else _text(match)


def same_number(first: str, second: str) -> bool:
    """Whether two number strings have the same value: "12.0" and "12" do; anything unparsable does not."""
    try:
        return Decimal(first) == Decimal(second)
    except InvalidOperation:
        return False


def is_correct(question: Question, output: str) -> bool | None:
    """Whether ``output`` answers ``question``; None when a numeric question's output holds no number.

    Numeric questions compare the extracted number by value; exact questions compare the whole output with the
    answer, both stripped and case-folded.
    """
    if question.match == "exact":
        return output.strip().casefold() == question.answer.strip().casefold()
    extracted = extract_number(output)
    return None if extracted is None else same_number(extracted, question.answer)
