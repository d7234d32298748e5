"""A built-in arithmetic word-problem set, generated from a seed, for an accuracy check without a dataset file.

The problems are our own templates (not drawn from any dataset), each mixing +, -, × and ÷ so that every answer
is a whole number, and each answer is computed from the drawn numbers rather than written by hand. The same seed
gives the same list, so runs can be compared question by question (``random.Random``'s ``randint`` and ``choice``
have drawn the same integers for a seed across Python 3 releases, though Python only promises that of ``random()``;
compare saved runs made on one Python version to be sure).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pytest_ascend_llm.evaluation.questions import Question, render_prompt

NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana")
ITEMS = ("pens", "pencils", "erasers", "markers")

Problem = tuple[str, int]  # the question's text and its answer


def _shop(rng: random.Random) -> Problem:
    boxes, per, item = rng.randint(3, 20), rng.randint(6, 24), rng.choice(ITEMS)
    sold = rng.randint(1, boxes * per - 1)
    text = f"A shop has {boxes} boxes of {per} {item} and sells {sold} {item}. How many {item} are left?"
    return text, boxes * per - sold


def _marbles(rng: random.Random) -> Problem:
    name, start, won = rng.choice(NAMES), rng.randint(10, 90), rng.randint(5, 50)
    given = rng.randint(1, start + won)
    text = (
        f"{name} has {start} marbles, wins {won} more and then gives {given} to a friend. "
        f"How many marbles does {name} have now?"
    )
    return text, start + won - given


def _baskets(rng: random.Random) -> Problem:
    baskets, each = rng.randint(2, 12), rng.randint(3, 25)
    text = f"{baskets * each} apples are shared equally among {baskets} baskets. How many apples go in each basket?"
    return text, each


def _cyclist(rng: random.Random) -> Problem:
    per_day, days, last = rng.randint(12, 60), rng.randint(2, 9), rng.randint(1, 30)
    text = (
        f"A cyclist rides {per_day} km every day for {days} days and then {last} km more on the last day. "
        "How many km does the cyclist ride in all?"
    )
    return text, per_day * days + last


def _savings(rng: random.Random) -> Problem:
    name, weekly, weeks = rng.choice(NAMES), rng.randint(5, 40), rng.randint(3, 12)
    spent = rng.randint(1, weekly * weeks - 1)
    text = (
        f"{name} saves {weekly} dollars a week for {weeks} weeks and then spends {spent} dollars on a gift. "
        f"How many dollars does {name} have left?"
    )
    return text, weekly * weeks - spent


def _teams(rng: random.Random) -> Problem:
    size, teams, balls = rng.randint(2, 6), rng.randint(2, 8), rng.randint(2, 5)
    text = (
        f"A class of {size * teams} students is split into teams of {size}. Each team needs {balls} balls. "
        "How many balls are needed?"
    )
    return text, teams * balls


def _bakery(rng: random.Random) -> Problem:
    per_bag, bags = rng.randint(4, 12), rng.randint(3, 15)
    morning = rng.randint(1, per_bag * bags - 1)
    text = (
        f"A baker makes {morning} rolls in the morning and {per_bag * bags - morning} rolls in the afternoon, "
        f"and packs them in bags of {per_bag}. How many bags does the baker fill?"
    )
    return text, bags


TEMPLATES: dict[str, Callable[[random.Random], Problem]] = {
    "shop": _shop,
    "marbles": _marbles,
    "baskets": _baskets,
    "cyclist": _cyclist,
    "savings": _savings,
    "teams": _teams,
    "bakery": _bakery,
}


def arithmetic_questions(count: int = 50, seed: int = 0) -> list[Question]:
    """``count`` word problems from ``seed``, the templates taken in turn; ids are ``arithmetic-NNN-TEMPLATE``."""
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    rng = random.Random(seed)
    names = list(TEMPLATES)
    questions = []
    for index in range(count):
        name = names[index % len(names)]
        text, answer = TEMPLATES[name](rng)
        questions.append(Question(f"arithmetic-{index:03d}-{name}", render_prompt(text), str(answer), "numeric"))
    return questions
