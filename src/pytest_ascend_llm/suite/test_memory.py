"""Memory: the KV cache grows with context as the arithmetic predicts, and the monitor's peak comes from
the allocator. Every other case reports its own peak too (``peak MiB``). Select with ``-k memory``."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.checks.kv_memory import measure_kv_growth
from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.models.arithmetic import kv_bytes_per_token
from pytest_ascend_llm.suite.prompts import prompt_of_length
from pytest_ascend_llm.torch_backend import torch

pytestmark = pytest.mark.npu

KV_TOLERANCE = 0.10
KV_BATCH = 4


def test_memory_kv_cache_grows_as_the_arithmetic_predicts(llm_engine, llm_session, llm_loaded, record_property):
    longest = min(4096, llm_session.source.max_positions)
    predicted = kv_bytes_per_token(llm_session.source.config, llm_loaded.dtype_bytes)
    growth = measure_kv_growth(
        llm_engine.prefill,
        lambda n: prompt_of_length(llm_engine.encode, n),
        llm_session.device,
        (longest // 4, longest // 2),
        KV_BATCH,
        predicted,
    )
    record_property("kv_bytes_per_token_measured", growth.measured_bytes_per_token)
    record_property("kv_bytes_per_token_predicted", predicted)
    record_property("kv_measurement", growth.method)
    assert abs(growth.ratio - 1) <= KV_TOLERANCE, (
        f"the KV cache grows by {growth.measured_bytes_per_token:.0f} B/token ({growth.method}) but "
        f"2 × layers × KV heads × head_dim × dtype bytes = {predicted} B/token: the cache is stored in another "
        "dtype, duplicated, or uses query heads instead of KV heads"
    )


def test_memory_monitor_peak_sees_a_freed_spike(llm_engine, llm_device, llm_memory, record_property):
    """A 64 MiB block allocated and freed between samples must still show in the peak: the peak comes
    from the allocator's counter (the kernel's RSS high-water mark on CPU), not only from the samples."""
    spike = 64 * 2**20
    with llm_memory(interval=0.5) as monitor:
        llm_engine.generate(["The capital of China is"] * 4, SamplingParams(max_new_tokens=16, ignore_eos=True))
        llm_device.synchronize()
        before_spike = llm_device.memory_allocated()
        block = torch.ones(spike // 4, device=llm_device.torch_device)
        block += 1
        llm_device.synchronize()
        during_spike = llm_device.memory_allocated()
        del block
    report = monitor.report
    record_property("memory", report.summary())
    assert len(report.timeline) >= 2
    if during_spike - before_spike < 0.9 * spike:
        pytest.skip("the host allocator served the block from pages already resident: RSS cannot show it")
    assert report.peak_allocated - before_spike >= 0.9 * spike, (
        f"the monitor's peak is {(report.peak_allocated - before_spike) / 2**20:.1f} MiB above the memory before a "
        "64 MiB allocation: the peak counter was not reset or is not read back"
    )
