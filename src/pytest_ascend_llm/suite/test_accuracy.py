"""Accuracy on a question set: ``--llm-eval FILE`` (GSM8K's JSONL, or prompt/answer lines), else a
built-in, seeded, generated arithmetic set (skipped on random-weight models, whose score says nothing).
Prints ``accuracy A (k/n, 95% interval L–U)``, saves each question's verdict, fails outside the baseline
band, and against a compared run compares the same questions paired. Select with ``-k accuracy``."""

from __future__ import annotations

import time

import pytest

from pytest_ascend_llm.evaluation.generated import arithmetic_questions
from pytest_ascend_llm.evaluation.questions import load_questions
from pytest_ascend_llm.evaluation.run import answer_params, run_questions
from pytest_ascend_llm.evaluation.scoring import score

pytestmark = pytest.mark.npu

BUILTIN_QUESTIONS = 50


def _questions(llm_session):
    settings = llm_session.settings
    if settings.eval:
        return list(load_questions(settings.eval, settings.eval_shots, settings.eval_limit))
    if llm_session.source.builtin:
        pytest.skip(
            f"{llm_session.source.model_id} has random weights: its accuracy says nothing; "
            "pass --llm-model DIR, or --llm-eval FILE to run a question set anyway"
        )
    return arithmetic_questions(settings.eval_limit or BUILTIN_QUESTIONS, seed=0)


def test_accuracy_on_the_question_set_is_within_its_band(llm_outputs, llm_session, llm_engine, record_property):
    """In each graph mode of the run (with ``both``: eager, then compiled compared with it, paired)."""
    questions = _questions(llm_session)
    problems, modes = [], llm_session.graph_modes
    for mode in modes:
        engine = llm_session.engine_in(mode)
        start = time.perf_counter()
        outcomes = run_questions(engine, questions, answer_params(), llm_session.settings.eval_concurrency)
        accuracy = score(questions, outcomes)
        name = "accuracy" if len(modes) == 1 else f"accuracy_{mode}"
        record_property(name, {k: v for k, v in accuracy.to_dict().items() if k != "verdicts"})
        found = llm_outputs.accuracy(accuracy, time.perf_counter() - start, mode)
        problems += [f"{mode}: {problem}" for problem in found] if len(modes) > 1 else found
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
