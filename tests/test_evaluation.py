"""Accuracy on a dataset without a model: loading question sets (and every bad-input message), few-shot prompts,
answer extraction, the generated arithmetic set, and scoring, band and paired verdicts on injected outputs."""

from __future__ import annotations

import json
import re

import pytest

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.evaluation.answers import extract_number, is_correct, parse_number, same_number
from pytest_ascend_llm.evaluation.generated import TEMPLATES, arithmetic_questions
from pytest_ascend_llm.evaluation.questions import Question, load_questions
from pytest_ascend_llm.evaluation.scoring import (
    Accuracy,
    QuestionVerdict,
    band_verdict,
    paired_comparison,
    score,
)

GSM8K_LINES = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {"id": "big", "question": "What is 999 + 1?", "answer": "999 + 1 = 1000\n#### 1,000"},
    {"question": "What is 2 - 5?", "answer": "#### -3"},
]


def write_jsonl(tmp_path, rows, name="set.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def setup_error(path, **options) -> str:
    with pytest.raises(LLMSetupError) as caught:
        load_questions(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    return message


# Loading -----------------------------------------------------------------------------------------------------------


def test_gsm8k_lines_load_with_their_final_numbers_and_ids(tmp_path):
    questions = load_questions(write_jsonl(tmp_path, GSM8K_LINES))
    assert [q.id for q in questions] == ["line-1", "big", "line-3"]
    assert [q.answer for q in questions] == ["72", "1000", "-3"]
    assert {q.match for q in questions} == {"numeric"}
    assert questions.questions[1].prompt == "Question: What is 999 + 1?\nAnswer:"
    assert questions.example_ids == ()


def test_shots_come_from_the_first_lines_and_are_never_scored(tmp_path):
    questions = load_questions(write_jsonl(tmp_path, GSM8K_LINES), shots=1)
    assert questions.example_ids == ("line-1",)
    assert [q.id for q in questions] == ["big", "line-3"]
    example = (
        "Question: " + GSM8K_LINES[0]["question"] + "\nAnswer: Natalia sold 48/2 = 24 clips in May. "
        "Natalia sold 48+24 = 72 clips altogether in April and May. The answer is 72.\n\n"
    )
    assert questions.questions[0].prompt == example + "Question: What is 999 + 1?\nAnswer:"
    assert questions.questions[1].prompt.startswith(example)


def test_limit_caps_the_scored_questions_after_the_shots(tmp_path):
    path = write_jsonl(tmp_path, GSM8K_LINES)
    assert [q.id for q in load_questions(path, shots=1, limit=1)] == ["big"]
    assert len(load_questions(path, limit=10)) == 3


def test_generic_lines_pick_numeric_or_exact_matching(tmp_path):
    rows = [
        {"prompt": "Capital of France?", "answer": "Paris"},
        {"prompt": "Cost?", "answer": "$1,200"},
        {"id": 7, "prompt": "Six times seven?", "answer": 42},
        {"prompt": "Code?", "answer": "007", "match": "exact"},
    ]
    questions = load_questions(write_jsonl(tmp_path, rows)).questions
    assert [(q.id, q.answer, q.match) for q in questions] == [
        ("line-1", "Paris", "exact"),
        ("line-2", "1200", "numeric"),
        ("7", "42", "numeric"),
        ("line-4", "007", "exact"),
    ]


def test_generic_examples_render_by_their_match(tmp_path):
    rows = [
        {"prompt": "Capital of France?", "answer": "Paris"},
        {"prompt": "Two plus two?", "answer": "4"},
        {"prompt": "Capital of Peru?", "answer": "Lima"},
    ]
    (question,) = load_questions(write_jsonl(tmp_path, rows), shots=2)
    assert question.prompt == (
        "Question: Capital of France?\nAnswer: Paris\n\n"
        "Question: Two plus two?\nAnswer: The answer is 4.\n\n"
        "Question: Capital of Peru?\nAnswer:"
    )


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = write_jsonl(tmp_path, ["", json.dumps(GSM8K_LINES[2]), "   "])
    assert [q.id for q in load_questions(path)] == ["line-2"]


def test_a_missing_file_names_the_path_and_the_fix(tmp_path):
    message = setup_error(tmp_path / "nowhere.jsonl")
    assert "nowhere.jsonl does not exist" in message and "JSONL" in message


def test_a_line_that_is_not_json_names_its_line(tmp_path):
    message = setup_error(write_jsonl(tmp_path, [GSM8K_LINES[0], "{not json"]))
    assert re.search(r"set\.jsonl, line 2: not JSON \(.+\): write one JSON object a line$", message)


def test_a_line_that_is_not_an_object_is_refused(tmp_path):
    message = setup_error(write_jsonl(tmp_path, ["[1, 2]"]))
    assert "line 1: a JSON list, not an object" in message


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"question": "Q?"}, "line 1: no 'answer' field: give each line GSM8K's 'question' and 'answer'"),
        ({"text": "Q?", "answer": "4"}, "line 1: no 'prompt' field"),
        ({"question": "Q?", "answer": "it is 4"}, "line 1: the answer's last line is not '#### NUMBER'"),
        ({"question": ["Q?"], "answer": "#### 4"}, "line 1: 'question' is list, not text"),
        ({"prompt": "Q?", "answer": "4", "match": "fuzzy"}, "line 1: match is 'fuzzy': set 'match' to 'exact'"),
        ({"prompt": "Q?", "answer": "four", "match": "numeric"}, "line 1: the answer 'four' is not a number"),
    ],
)
def test_a_missing_or_bad_field_names_its_line_and_the_fix(tmp_path, row, expected):
    assert expected in setup_error(write_jsonl(tmp_path, [row]))


def test_a_repeated_id_is_refused(tmp_path):
    rows = [{"id": "q", "prompt": "A?", "answer": "1"}, {"id": "q", "prompt": "B?", "answer": "2"}]
    assert "line 2: id 'q' repeats line 1: give unique ids" in setup_error(write_jsonl(tmp_path, rows))


def test_fewer_lines_than_the_shots_need_is_refused(tmp_path):
    message = setup_error(write_jsonl(tmp_path, GSM8K_LINES[:2]), shots=2)
    assert "2 question lines, but 2 few-shot examples and one scored question need 3: lower the shots" in message


def test_an_empty_file_is_refused(tmp_path):
    assert "0 question lines" in setup_error(write_jsonl(tmp_path, [""]))


@pytest.mark.parametrize(("options", "expected"), [({"shots": -1}, "shots is -1"), ({"limit": 0}, "limit is 0")])
def test_impossible_shots_or_limit_are_refused(tmp_path, options, expected):
    assert expected in setup_error(write_jsonl(tmp_path, GSM8K_LINES), **options)


# Answers -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is $1,234.", "1234"),
        ("#### 72", "72"),
        ("-3.5", "-3.5"),
        ("no digits", None),
        ("", None),
        ("12.0", "12.0"),
        ("So 3 + 4 = 7, and 7 * 2 = 14 apples.", "14"),
        ("#### 72\nQuestion: what about 5?", "72"),
        ("The rate is 45%.", "45"),
        ("x = -2 and then 5-3", "3"),
        ("about 1,234,567.89 in total", "1234567.89"),
        ("it costs 1,234, then 7", "7"),
        ("a half is .5", "0.5"),
        ("\u22125 degrees", "-5"),
        ("####\nno number there, but 9", "9"),
    ],
)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("1,234", "1234"), ("$5", "5"), (" -2.5 ", "-2.5"), ("12.", "12"), ("four", None)]
)
def test_parse_number_takes_only_a_whole_number(text, expected):
    assert parse_number(text) == expected


def test_numbers_compare_by_value():
    assert same_number("12.0", "12") and same_number("-0.50", "-0.5")
    assert not same_number("12", "12.5") and not same_number("x", "12")


def test_is_correct_for_numeric_and_exact_questions():
    numeric = Question("n", "p", "12", "numeric")
    assert is_correct(numeric, "so the total is 12.0.") is True
    assert is_correct(numeric, "The answer is 13.") is False
    assert is_correct(numeric, "I cannot tell") is None
    exact = Question("e", "p", "Paris", "exact")
    assert is_correct(exact, "  paris \n") is True
    assert is_correct(exact, "Paris.") is False


# The generated set -------------------------------------------------------------------------------------------------

# The answer of each template from the numbers in its text, in the order they appear: written here independently of
# the generator, so a question whose text and answer disagree fails.
SOLUTIONS = {
    "shop": lambda boxes, per, sold: boxes * per - sold,
    "marbles": lambda start, won, given: start + won - given,
    "baskets": lambda apples, baskets: apples / baskets,
    "cyclist": lambda per_day, days, last: per_day * days + last,
    "savings": lambda weekly, weeks, spent: weekly * weeks - spent,
    "teams": lambda students, size, balls: students / size * balls,
    "bakery": lambda morning, afternoon, per_bag: (morning + afternoon) / per_bag,
}


def test_the_same_seed_gives_the_same_questions():
    assert arithmetic_questions(30, seed=3) == arithmetic_questions(30, seed=3)
    assert arithmetic_questions(30, seed=3) != arithmetic_questions(30, seed=4)
    assert len(arithmetic_questions()) == 50 and arithmetic_questions(0) == []


def test_every_generated_answer_is_the_whole_number_its_text_implies():
    questions = arithmetic_questions(140, seed=11)
    assert len({q.id for q in questions}) == 140
    assert {q.id.rsplit("-", 1)[1] for q in questions} == set(TEMPLATES) == set(SOLUTIONS)
    for question in questions:
        assert question.match == "numeric" and question.prompt.endswith("?\nAnswer:")
        numbers = [int(n) for n in re.findall(r"\d+", question.prompt)]
        expected = SOLUTIONS[question.id.rsplit("-", 1)[1]](*numbers)
        assert expected == int(expected) and expected >= 0, question
        assert question.answer == str(int(expected)), question


def test_a_model_that_answers_right_scores_everything():
    questions = arithmetic_questions(20)
    accuracy = score(questions, [f"The answer is {q.answer}." for q in questions])
    assert (accuracy.k, accuracy.n) == (20, 20)


# Scoring -----------------------------------------------------------------------------------------------------------


def numeric(count: int) -> list[Question]:
    return [Question(f"q{i}", "p", str(i), "numeric") for i in range(count)]


def test_score_counts_failed_and_unparsable_as_wrong():
    questions = numeric(4)
    outputs = ["The answer is 0.", "#### 9", "no idea", RuntimeError("connection reset\nby peer")]
    accuracy = score(questions, outputs)
    assert (accuracy.k, accuracy.n, accuracy.unparsable, accuracy.failed) == (1, 4, 1, 1)
    assert accuracy.verdicts[0] == QuestionVerdict("q0", True, "0", "The answer is 0.", None)
    assert accuracy.verdicts[1].correct is False and accuracy.verdicts[1].extracted == "9"
    assert accuracy.verdicts[2].correct is None
    assert accuracy.verdicts[3] == QuestionVerdict("q3", False, None, "", "RuntimeError: connection reset")
    assert accuracy.proportion == 0.25
    assert accuracy.correct_by_id() == {"q0": True, "q1": False, "q2": False, "q3": False}


def test_score_needs_one_outcome_per_question():
    with pytest.raises(ValueError, match="3 questions but 2 outputs"):
        score(numeric(3), ["1", "2"])


def accuracy_of(k: int, n: int, unparsable: int = 0, failed: int = 0) -> Accuracy:
    """An accuracy from injected verdicts: k right, then unparsable, failed, and the rest wrong."""
    verdicts = [QuestionVerdict(f"q{i}", True, "1", "1") for i in range(k)]
    verdicts += [QuestionVerdict(f"u{i}", None, None, "?") for i in range(unparsable)]
    verdicts += [QuestionVerdict(f"f{i}", False, None, "", "TimeoutError") for i in range(failed)]
    verdicts += [QuestionVerdict(f"w{i}", False, "2", "2") for i in range(n - len(verdicts))]
    return Accuracy(tuple(verdicts))


def test_accuracy_line():
    assert accuracy_of(37, 50, unparsable=2).line() == (
        "accuracy 0.740 (37/50, 95% interval 0.604–0.841); 2 unparsable, 0 failed"
    )
    assert accuracy_of(0, 0).line() == "accuracy 0.000 (0/0, 95% interval 0.000–1.000); 0 unparsable, 0 failed"


def test_accuracy_round_trips_through_json():
    accuracy = score(numeric(3), ["0", "oops", ValueError("bad")])
    saved = json.loads(json.dumps(accuracy.to_dict()))
    assert saved["k"] == 1 and saved["interval"] == list(accuracy.interval)
    assert Accuracy.from_dict(saved) == accuracy


def test_a_saved_accuracy_whose_counts_disagree_is_refused():
    saved = accuracy_of(3, 5).to_dict() | {"k": 4}
    with pytest.raises(ValueError, match="saved k=4 disagrees with its verdicts"):
        Accuracy.from_dict(saved)


def test_band_verdict_fails_only_when_the_whole_interval_leaves_the_band():
    accuracy = accuracy_of(37, 50)  # 95% interval 0.604–0.841
    assert band_verdict(accuracy, baseline=0.74, tolerance=0.02) is None
    assert band_verdict(accuracy, baseline=0.86, tolerance=0.02) is None  # the band starts at 0.840
    below = band_verdict(accuracy, baseline=0.90, tolerance=0.02)
    assert below == (
        "accuracy 0.740 (37/50, 95% interval 0.604–0.841); 0 unparsable, 0 failed: the whole interval lies below "
        "the band 0.880–0.920 (baseline 0.900 ± 0.020)"
    )
    above = band_verdict(accuracy, baseline=0.50, tolerance=0.05)
    assert above is not None and "lies above the band 0.450–0.550" in above


def test_paired_comparison_counts_flips_over_shared_ids():
    before = {"a1": True, "a2": True, "b1": True, "c1": False, "c2": False, "d1": False, "gone": True}
    now = {"a1": True, "a2": True, "b1": False, "c1": True, "c2": True, "d1": False, "new": False}
    comparison = paired_comparison(before, now)
    assert (comparison.a, comparison.b, comparison.c, comparison.d) == (2, 1, 2, 1)
    assert comparison.newly_wrong == ("b1",) and comparison.newly_right == ("c1", "c2")
    assert comparison.unmatched == 2 and comparison.n == 6
    assert comparison.change == pytest.approx(1 / 6)
    assert comparison.p_value == 1.0
    low, high = comparison.change_interval
    assert low < comparison.change < high


def paired_runs(a: int, b: int, c: int, d: int) -> tuple[dict[str, bool], dict[str, bool]]:
    pairs = [(True, True)] * a + [(True, False)] * b + [(False, True)] * c + [(False, False)] * d
    return {f"q{i}": x for i, (x, _) in enumerate(pairs)}, {f"q{i}": y for i, (_, y) in enumerate(pairs)}


def test_a_significant_drop_needs_a_small_p_and_a_fall():
    dropped = paired_comparison(*paired_runs(30, 9, 1, 10))
    assert dropped.p_value == pytest.approx(22 / 1024)
    assert dropped.change == pytest.approx(-8 / 50)
    assert dropped.significant_drop() and not dropped.significant_drop(alpha=0.01)
    assert dropped.change_interval[1] < 0
    assert dropped.line() == (
        f"accuracy change -0.160 (95% interval {dropped.change_interval[0]:+.3f} to "
        f"{dropped.change_interval[1]:+.3f}) over 50 shared questions: 9 newly wrong, 1 newly right, "
        "McNemar exact p=0.0215"
    )
    improved = paired_comparison(*paired_runs(30, 1, 9, 10))
    assert improved.p_value == dropped.p_value and not improved.significant_drop()


def test_paired_comparison_of_saved_runs(tmp_path):
    questions = numeric(4)
    before = score(questions, ["0", "1", "2", "x"])
    path = tmp_path / "before.json"
    path.write_text(json.dumps(before.to_dict()))
    now = score(questions, ["0", "7", "2", "3"])
    comparison = paired_comparison(
        Accuracy.from_dict(json.loads(path.read_text())).correct_by_id(), now.correct_by_id()
    )
    assert comparison.newly_wrong == ("q1",) and comparison.newly_right == ("q3",)


def test_paired_comparison_with_nothing_shared():
    comparison = paired_comparison({"x": True}, {"y": False})
    assert comparison.n == 0 and comparison.p_value == 1.0 and comparison.change_interval == (-1.0, 1.0)
    assert "over 0 shared questions (2 in one run only)" in comparison.line()
