"""Run a question set through an engine: server engines concurrently (bounded) through the serving
client, every request accounted for; in-process engines in small batches. Each output is cut at the
first stop sequence, so a model that goes on to write the next few-shot question is scored on its answer.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_ascend_llm.engines.base import Engine, SamplingParams
from pytest_ascend_llm.evaluation.questions import STOP_SEQUENCES, Question

BATCH = 8  # in-process engines: prompts per generate call


def answer_params(max_new_tokens: int = 128) -> SamplingParams:
    """Greedy, stopping at EOS: answers are short, and a repeatable score needs greedy decoding."""
    return SamplingParams(max_new_tokens=max_new_tokens)


def cut_at_stop(text: str) -> str:
    positions = [text.find(stop) for stop in STOP_SEQUENCES if stop in text]
    return text[: min(positions)] if positions else text


def run_questions(
    engine: Engine, questions: Sequence[Question], params: SamplingParams, concurrency: int = 16
) -> list[str | BaseException]:
    """Each question's output text, or the error its request ended with, in the questions' order."""
    endpoint = getattr(engine, "endpoint", None)
    if endpoint is not None:
        return _over_http(endpoint, questions, params, concurrency)
    outcomes: list[str | BaseException] = []
    for start in range(0, len(questions), BATCH):
        batch = questions[start : start + BATCH]
        try:
            outcomes += [cut_at_stop(r.text) for r in engine.generate([q.prompt for q in batch], params)]
        except Exception as error:  # one failed batch is counted per question, and the run goes on
            outcomes += [error] * len(batch)
    return outcomes


class RequestFailed(Exception):
    """A server request that did not complete; its message is the client's one line."""


def _over_http(endpoint, questions: Sequence[Question], params: SamplingParams, concurrency: int):
    from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load
    from pytest_ascend_llm.serving.summary import as_generation

    requests = [LoadRequest(q.prompt, params) for q in questions]
    run = run_load(endpoint, requests, LoadShape(concurrency=concurrency))
    by_index = {record.index: record for record in run.records}
    outcomes: list[str | BaseException] = []
    for index in range(len(questions)):
        record = by_index.get(index)
        if record is None or not record.completed:
            outcomes.append(RequestFailed(record.error if record is not None else "no record of the request"))
        else:
            outcomes.append(cut_at_stop(as_generation(record).text))
    return outcomes
