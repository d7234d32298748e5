"""The fake model's arithmetic, for accuracy cases (``--answer-accuracy F``).

The question is the last ``What is <expression>?`` in the prompt (case-insensitive; the expression made
of integers, ``+``, ``-``, ``*``, parentheses and spaces), so a test writes the question, and knows the
right answer, itself. The server answers ``The answer is N.``: N is the expression's value for a seeded
fraction F of distinct prompts and the value plus one for the others. Which prompts are answered right is
decided by a hash of the whole prompt text (``unit("answer", text) < F``), so one prompt always gets the
same answer, and over many distinct prompts the share answered right is F up to the hash's spread. A
prompt without such a question, or a prompt of token ids, gets the ordinary output.
"""

from __future__ import annotations

import ast
import re

from pytest_ascend_llm.testing.fake_server.tokens import unit

QUESTION = re.compile(r"what\s+is\s+([-+*()\d\s]+?)\s*\?", re.IGNORECASE)
MAX_EXPRESSION = 200  # characters: no prompt makes the server multiply huge numbers
_OPERATORS = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__}


def _value(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _value(node.operand)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_value(node.left), _value(node.right))
    raise ValueError("not integer arithmetic")


def evaluate(expression: str) -> int | None:
    """The value of an integer expression with + - * and parentheses, None for anything else."""
    if len(expression) > MAX_EXPRESSION:
        return None
    try:
        return _value(ast.parse(expression.strip(), mode="eval").body)
    except (SyntaxError, ValueError):
        return None


def question_value(text: str) -> int | None:
    """The right answer to the prompt's last ``What is …?`` question, None without one."""
    questions = QUESTION.findall(text)
    return evaluate(questions[-1]) if questions else None


def answer_words(text: str, accuracy: float) -> tuple[str, ...] | None:
    """The answer's output tokens (one per word), right for the prompts the hash picks; None without a
    question."""
    value = question_value(text)
    if value is None:
        return None
    given = value if unit("answer", text) < accuracy else value + 1
    return ("The", "answer", "is", f"{given}.")
