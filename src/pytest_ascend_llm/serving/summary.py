"""A load run as the suite's CaseResult: the same saved JSON, percentile table and tail-latency gate as
the offline cases, plus the run-level figures of vLLM's and SGLang's serving benchmarks (METRICS.md).

A serving case's "rounds" are its completed requests' E2E latencies; its tokens/s is the output
throughput (all output tokens of completed requests over the run's duration), not a per-stream rate.
"""

from __future__ import annotations

from pytest_ascend_llm.benchmarking.results import CaseResult
from pytest_ascend_llm.engines.base import GenerationResult
from pytest_ascend_llm.serving.load import LoadRun
from pytest_ascend_llm.serving.records import RequestRecord
from pytest_ascend_llm.serving.slo import SLO


def as_generation(record: RequestRecord) -> GenerationResult:
    """A server's answer in the engine interface: token counts from the server's usage, logprobs as
    streamed (None when the request did not ask for them or the server sent none)."""
    return GenerationResult(
        prompt_tokens=record.prompt_tokens or 0,
        output_ids=list(record.token_ids),
        text=record.text,
        chunks=list(record.chunks),
        finish_reason=record.finish_reason or "length",
        cached_tokens=record.cached_tokens,
        reported_tokens=record.counted_tokens,
        logprobs=list(record.logprobs) if record.logprobs is not None else None,
    )


def run_figures(run: LoadRun, slo: SLO | None = None) -> dict[str, object]:
    """Throughputs, achieved concurrency, goodput and the accounting of every request."""
    done = run.completed
    seconds = run.duration if run.duration > 0 else float("nan")
    output = sum(record.counted_tokens for record in done)
    prompt = sum(record.prompt_tokens or 0 for record in done)
    figures: dict[str, object] = {
        "load": run.shape.describe(),
        "requests": len(run.records),
        **{status.replace(" ", "_"): count for status, count in run.counts().items()},
        "duration_s": run.duration,
        "output_tokens_per_s": output / seconds,
        "total_tokens_per_s": (prompt + output) / seconds,
        "requests_per_s": len(done) / seconds,
        "achieved_concurrency": sum(record.e2e or 0.0 for record in done) / seconds,
        "cached_prompt_tokens": sum(record.cached_tokens for record in done),
        "prompt_tokens": prompt,
    }
    if run.failure_summary():
        figures["failures"] = run.failure_summary()
    figures |= read_figures(done)
    if run.client is not None:
        figures |= run.client.figures(run.records)
        bound = run.client.bound_by(done or run.records)
        if bound:
            figures["client_bound"] = bound
    if slo is not None:
        met = sum(slo.met_by(record) for record in run.records)
        figures |= {"slo": slo.describe(), "goodput_requests_per_s": met / seconds, "slo_met": met}
    return figures


def read_figures(records: list[RequestRecord]) -> dict[str, object]:
    """How the streams were read: the share of tokens that arrived in a read with other events (their
    gaps are shared, not known: see ITL), so a reader sees what the ITL percentiles rest on."""
    tokens = sum(chunk.count for record in records for chunk in record.chunks)
    together = sum(chunk.count for record in records for chunk in record.chunks if chunk.events > 1)
    return {"tokens_read_together": together, "tokens_read": tokens}


def load_case(name: str, run: LoadRun, slo: SLO | None = None) -> CaseResult:
    """The run as a case: E2E per completed request as its samples, run figures as its extras."""
    done = run.completed
    figures = run_figures(run, slo)
    return CaseResult(
        name=name,
        round_seconds=[record.e2e for record in done if record.e2e is not None],
        tokens_per_round=[record.counted_tokens for record in done if record.e2e is not None],
        requests=[as_generation(record) for record in done],
        extra=figures | {"tokens_per_s": figures["output_tokens_per_s"]},
        request_details=[record.detail() for record in run.records],
    )
