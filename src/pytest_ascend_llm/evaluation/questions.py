"""Question sets for accuracy checks, read from JSONL: GSM8K's format or a generic prompt/answer one.

A dataset is the user's file, so every way it can be wrong (missing, not JSON, a field missing, too short for the
few-shot examples asked for) is an ``LLMSetupError`` naming the file, the line and the fix, never a traceback from
deep in scoring. Few-shot examples come from the set's first lines and are never scored, so one file serves any
``shots``; every prompt, zero-shot too, has the same "Question: ...\\nAnswer:" shape the examples teach.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.evaluation.answers import parse_number

MATCHES = ("numeric", "exact")
# Where a completion model starts writing the next few-shot question: stop generating there.
STOP_SEQUENCES = ("\nQuestion:",)
FORMATS = "GSM8K's 'question' and 'answer' (ending in '#### NUMBER') or a 'prompt' and an 'answer'"
_CALCULATOR = re.compile(r"<<[^<>]*>>")  # GSM8K's calculator annotations, "<<48/2=24>>"


@dataclass(frozen=True)
class Question:
    """One scored question: ``prompt`` is what the model is sent (few-shot examples included), ``answer`` the
    reference, ``match`` how they are compared ("numeric" by value, "exact" as case-folded text)."""

    id: str
    prompt: str
    answer: str
    match: str


@dataclass(frozen=True)
class QuestionSet:
    """The scored questions of one file, and the ids of the lines used as few-shot examples."""

    path: str
    questions: tuple[Question, ...]
    example_ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)


def render_prompt(text: str, examples: str = "") -> str:
    """A question as the model sees it, after the rendered few-shot ``examples``."""
    return f"{examples}Question: {text}\nAnswer:"


def render_example(text: str, answer: str, match: str, reasoning: str = "") -> str:
    """One few-shot example. Numeric answers end "The answer is N." (what extraction reads best); exact answers
    are the answer alone, the form an exact match needs back."""
    if match == "exact":
        return f"Question: {text}\nAnswer: {answer}\n\n"
    worked = f"{reasoning} " if reasoning else ""
    return f"Question: {text}\nAnswer: {worked}The answer is {answer}.\n\n"


@dataclass(frozen=True)
class _Record:
    """One parsed line before rendering."""

    id: str
    line: int
    text: str
    answer: str
    match: str
    reasoning: str = ""


def _error(path: Path, line: int, problem: str, fix: str) -> LLMSetupError:
    return LLMSetupError(f"question set {path}, line {line}: {problem}: {fix}")


def _string_field(data: dict, name: str, path: Path, line: int) -> str:
    if name not in data:
        raise _error(path, line, f"no '{name}' field", f"give each line {FORMATS}")
    value = data[name]
    if name == "answer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # {"answer": 42} is as good as {"answer": "42"}
    if not isinstance(value, str):
        raise _error(path, line, f"'{name}' is {type(value).__name__}, not text", f"write '{name}' as a JSON string")
    return value


def _gsm8k(data: dict, path: Path, line: int) -> _Record:
    """GSM8K: the answer's worked lines, then a final line ``#### NUMBER``."""
    text, answer = _string_field(data, "question", path, line), _string_field(data, "answer", path, line)
    *worked, last = answer.strip().splitlines() or [""]
    final = parse_number(last.strip()[4:]) if last.strip().startswith("####") else None
    if final is None:
        raise _error(path, line, "the answer's last line is not '#### NUMBER'", "end each GSM8K answer with '#### N'")
    reasoning = " ".join(_CALCULATOR.sub("", step).strip() for step in worked if step.strip())
    return _Record(str(data.get("id", f"line-{line}")), line, text, final, "numeric", reasoning)


def _generic(data: dict, path: Path, line: int) -> _Record:
    """Generic: ``prompt``, ``answer`` and an optional ``match`` (numeric when the answer is a number)."""
    text, answer = _string_field(data, "prompt", path, line), _string_field(data, "answer", path, line)
    number = parse_number(answer)
    match = data.get("match", "exact" if number is None else "numeric")
    if match not in MATCHES:
        raise _error(path, line, f"match is {match!r}", "set 'match' to 'exact' or 'numeric', or leave it out")
    if match == "numeric":
        if number is None:
            raise _error(path, line, f"the answer {answer!r} is not a number", "give a number or set 'match': 'exact'")
        answer = number
    return _Record(str(data.get("id", f"line-{line}")), line, text, answer, match)


def _records(path: Path) -> list[_Record]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LLMSetupError(f"question set {path} does not exist: give the path of a JSONL file ({FORMATS})") from None
    except UnicodeDecodeError:
        raise LLMSetupError(f"question set {path} is not UTF-8 text: save it as UTF-8 JSONL") from None
    except OSError as error:
        raise LLMSetupError(f"question set {path} cannot be read ({error.strerror}): give a readable file") from None
    records: list[_Record] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise _error(path, number, f"not JSON ({error.msg})", "write one JSON object a line") from None
        if not isinstance(data, dict):
            raise _error(path, number, f"a JSON {type(data).__name__}, not an object", "write one JSON object a line")
        record = _gsm8k(data, path, number) if "question" in data else _generic(data, path, number)
        if record.id in first_line:
            raise _error(path, number, f"id {record.id!r} repeats line {first_line[record.id]}", "give unique ids")
        first_line[record.id] = number
        records.append(record)
    return records


def load_questions(path: str | Path, shots: int = 0, limit: int | None = None) -> QuestionSet:
    """The questions of a JSONL file: the first ``shots`` lines become few-shot examples in every prompt (never
    scored), and at most ``limit`` of the lines after them are scored (all when None).

    Each line is GSM8K's ``{"question", "answer": "...\\n#### N"}`` (numeric) or ``{"prompt", "answer",
    "match"?}``; ``id`` is kept when given, else the question is ``line-N``. Blank lines are skipped.
    """
    path = Path(path)
    if shots < 0:
        raise LLMSetupError(f"shots is {shots}: give 0 or more few-shot examples")
    if limit is not None and limit < 1:
        raise LLMSetupError(f"limit is {limit}: score at least 1 question, or give no limit")
    records = _records(path)
    if len(records) < shots + 1:
        raise LLMSetupError(
            f"question set {path}: {len(records)} question lines, but {shots} few-shot examples and one scored "
            f"question need {shots + 1}: lower the shots or use a longer set"
        )
    examples = "".join(render_example(r.text, r.answer, r.match, r.reasoning) for r in records[:shots])
    scored = records[shots:] if limit is None else records[shots : shots + limit]
    questions = tuple(Question(r.id, render_prompt(r.text, examples), r.answer, r.match) for r in scored)
    return QuestionSet(str(path), questions, tuple(r.id for r in records[:shots]))
