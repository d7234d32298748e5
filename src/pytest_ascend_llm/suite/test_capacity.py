"""Capacity: a plan computed for this device from the model's config really runs (weights plus the
planned KV cache for the planned concurrency, one real decode step), and a plan beyond memory is refused
before anything is loaded. Select with ``-k capacity``."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.checks.kv_memory import cache_tensor_bytes
from pytest_ascend_llm.planning.capacity import CapacityError, check_concurrency, plan_capacity
from pytest_ascend_llm.planning.launch import sglang_command, shell_line

pytestmark = pytest.mark.npu

CPU_BUDGET_GIB = 1.0


def _plan(llm_session, llm_run):
    """The plan for this device: its whole memory (a budget on CPU, where 'device memory' is the host's);
    kept in the run state, so the session's summary prints it."""
    device = llm_session.device
    gib = llm_session.settings.capacity_memory_gib or (None if device.is_accelerator else CPU_BUDGET_GIB)
    memory = int(gib * 2**30) if gib else device.total_memory()
    context = min(8192 if device.is_accelerator else 2048, llm_session.source.max_positions)
    plan = plan_capacity(
        llm_session.source.config, llm_session.dtype_name, memory, context_length=context,
        model_id=llm_session.source.model_id,
    )  # fmt: skip
    llm_run.capacity_plan = plan
    return plan


def test_capacity_plan_beyond_memory_is_refused_before_loading(llm_session, llm_run, record_property):
    plan = _plan(llm_session, llm_run)
    loads = llm_session.load_count
    with pytest.raises(CapacityError, match="exceeds the KV cache"):
        check_concurrency(plan, plan.max_concurrent_sequences + 1)
    with pytest.raises(CapacityError, match="needs .* of weights per device"):
        plan_capacity(llm_session.source.config, llm_session.dtype_name, plan.weight_bytes // 2)
    record_property("capacity_plan", plan.to_dict())
    assert llm_session.load_count == loads, "refusing a plan must not load the model"


def test_capacity_plan_for_this_device_runs(llm_engine, llm_session, llm_device, llm_run, record_property):
    plan = _plan(llm_session, llm_run)
    command = shell_line(sglang_command(plan, str(llm_session.source.path), device=llm_device.kind))
    record_property("capacity_plan", plan.to_dict())
    record_property("sglang_command", command)
    llm_device.synchronize()
    before = llm_device.memory_allocated()
    state = llm_engine.allocate_kv(plan.max_concurrent_sequences, plan.context_length)
    llm_engine.decode_step(state)
    llm_device.synchronize()
    planned = plan.max_concurrent_sequences * plan.context_length * plan.kv_bytes_per_token_per_device
    held = llm_device.memory_allocated() - before if llm_device.is_accelerator else cache_tensor_bytes(state.cache)
    record_property("kv_bytes_planned", planned)
    record_property("kv_bytes_held", held)
    del state
    llm_device.empty_cache()
    assert held >= 0.95 * planned, (
        f"the planned KV cache for {plan.max_concurrent_sequences} × {plan.context_length} tokens should hold "
        f"{planned / 2**30:.2f} GiB but {held / 2**30:.2f} GiB were allocated"
    )
