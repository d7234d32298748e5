"""Trace replay (``-k trace``): a recorded Mooncake trace (``--llm-trace FILE``) sent to the server at its
recorded arrival times (``--llm-trace-speed`` faster), with prompts whose shared hash blocks are real
shared token prefixes, so the server's prefix cache meets the reuse the recorded service saw.

One serving case per trace file, with the same metrics, request accounting, saved JSON and gate as the
other serving cases; it also records the trace's sharing and the share of prompt tokens the server
reported cached.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from pytest_ascend_llm.plugin.state import STATE_KEY
from pytest_ascend_llm.serving.load import LoadShape
from pytest_ascend_llm.serving.trace import read_trace
from pytest_ascend_llm.suite.prompts import corpus_text
from pytest_ascend_llm.suite.test_serving import _run, serving  # noqa: F401  (serving: the shared fixture)
from pytest_ascend_llm.workloads.trace_prompts import trace_workload, vocabulary_of

pytestmark = pytest.mark.npu


NOT_FLUSHED = "the server's prefix cache was not emptied first (no flush endpoint known for it): earlier runs may count"


class TraceCut(UserWarning):
    """Some of a trace's requests were longer than the model's context and were cut to fit."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One case per --llm-trace file, named by its stem."""
    traces = metafunc.config.stash[STATE_KEY].settings.trace
    if "trace_file" in metafunc.fixturenames and traces:
        metafunc.parametrize("trace_file", traces, ids=[Path(path).stem for path in traces])


@pytest.fixture
def trace_file() -> str | None:
    """No trace given: the case is not parametrized and skips with the option to pass."""
    return None


@pytest.fixture
def replay(trace_file, llm_session) -> str:
    """The trace to replay, after the skips (before the device guard or a server launch for nothing)."""
    if trace_file is None:
        pytest.skip("no trace to replay: pass --llm-trace FILE (a Mooncake JSONL trace) to run this case")
    if not llm_session.serves_over_http:
        pytest.skip(
            "serving cases need a server: --llm-engine openai --llm-endpoint URL, or --llm-engine vllm-server / "
            "sglang-server to launch one"
        )
    return trace_file


def test_serving_trace(replay, llm_session, llm_bench, request):
    served = request.getfixturevalue("serving")  # after the skips: no server is launched for them
    if served.encode is None:
        pytest.skip("the trace replay needs token ids for its shared prefixes: pass --llm-model DIR for a tokenizer")
    settings = llm_session.settings
    trace = read_trace(replay, settings.trace_requests)
    limit = llm_session.source.max_positions
    work = trace_workload(
        trace, vocabulary_of(served.encode, corpus_text()), limit, settings.trace_speed, settings.trace_block
    )
    count, span = len(work.requests), trace.span_s(settings.trace_speed)
    label = f"trace {trace.name}: {count} requests over {span:.3g} s at {settings.trace_speed:g}x"
    flushed = served.engine.flush_cache()  # _run empties it too; whether it could decides what the share means
    case = _run(served, llm_bench, work.requests, LoadShape(offsets=work.offsets, label=label))
    cached = case.extra["cached_prompt_tokens"] / max(1, case.extra["prompt_tokens"])
    llm_bench.annotate(
        trace=trace.name,
        trace_speed=settings.trace_speed,
        trace_requests=count,
        trace_blocks=work.sharing.distinct_blocks,
        trace_block_tokens=settings.trace_block,
        shared_block_share=work.sharing.shared_share,
        reusable_prompt_share=work.sharing.reusable_share,
        trace_cut=work.cut,
        cached_fraction=cached,
        cache_emptied_first=flushed,
    )
    llm_bench.say(
        f"{label}; {work.sharing.distinct_blocks} distinct blocks of {settings.trace_block} tokens; prompt tokens "
        f"in shared blocks {work.sharing.shared_share:.1%}, reusable after an earlier request "
        f"{work.sharing.reusable_share:.1%}, reported cached by the server {cached:.1%}; "
        f"{work.cut} cut to the context of {limit} tokens" + ("" if flushed else f"; {NOT_FLUSHED}")
    )
    if work.cut:
        warnings.warn(
            TraceCut(f"{work.cut} of {count} requests of {trace.name} cut to fit {limit} tokens"), stacklevel=1
        )
