"""The roofline check every printed decode speed goes through: MBU beside it, and a case that beats the
bytes it must read fails as a measurement bug (usually a missing device synchronize)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_ascend_llm.metrics.roofline import decode_roofline
from pytest_ascend_llm.models.arithmetic import kv_bytes_per_token


def check_decode_speed(
    llm_bench, case, llm_session, llm_loaded, measured_bandwidth: float, contexts: Sequence[int], step_seconds: float
) -> None:
    """``step_seconds`` is one decode step producing a token for each of ``len(contexts)`` sequences (a
    decode step's time, or a generation's TPOT); ``contexts`` are the tokens each sequence attends to."""
    dtype_bytes = llm_loaded.dtype_bytes
    embedding = llm_loaded.model.get_input_embeddings().weight.numel() * dtype_bytes
    kv_per_token = kv_bytes_per_token(llm_session.source.config, dtype_bytes)
    bandwidths = {"table": llm_session.table_bandwidth, "measured": measured_bandwidth}
    for label, bandwidth in bandwidths.items():
        if not bandwidth:
            continue
        roof = decode_roofline(
            llm_loaded.expected_weight_bytes, embedding, kv_per_token, contexts, bandwidth, step_seconds
        )
        case.extra[f"mbu_{label}_bw"] = roof.mbu
        case.extra[f"roofline_tokens_per_s_{label}_bw"] = len(contexts) / roof.min_step_seconds
        if roof.exceeds_roofline:
            llm_bench.record(case)
            pytest.fail(
                f"{case.name.split('::')[-1]}: a decode step of {step_seconds * 1e3:.3f} ms reads "
                f"{roof.min_bytes_per_step / 2**20:.1f} MiB: faster than the {label} bandwidth "
                f"{bandwidth / 1e9:.4g} GB/s allows ({roof.min_step_seconds * 1e3:.3f} ms) - a measurement bug "
                "(missing device synchronize?) or a wrong --llm-peak-bandwidth",
                pytrace=False,
            )
    case.extra["mbu"] = case.extra.get("mbu_table_bw", case.extra.get("mbu_measured_bw"))
    llm_bench.record(case)


def check_generation_speed(llm_bench, case, llm_session, llm_loaded, measured_bandwidth: float, batch: int) -> None:
    """A generation's median TPOT is its decode step time; each sequence attends at least to its prompt."""
    tpot = case.metrics().get("tpot_p50")
    if not isinstance(tpot, float) or tpot != tpot:
        return
    contexts = [request.prompt_tokens for request in case.requests[:batch]]
    check_decode_speed(llm_bench, case, llm_session, llm_loaded, measured_bandwidth, contexts, tpot)
