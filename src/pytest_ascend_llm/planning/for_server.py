"""The capacity plan for the device a server runs on, as the plugin sizes a launched SGLang server
(``engines.openai_engine.planned_sglang_flags``), so a measured knee can stand beside the planner's
``--max-running-requests``. When the planner cannot run, the reason is one line, never an error."""

from __future__ import annotations

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.units import format_bytes


def server_plan(session) -> dict:
    """``max_running_requests`` and a line saying what it was planned for, or ``problem``: why not."""
    from pytest_ascend_llm.planning.capacity import plan_capacity

    settings, source = session.settings, session.source
    if source.path is None or not source.config.get("hidden_size"):
        return {"problem": "no model config: pass --llm-model DIR (the served model's folder) to plan it"}
    try:
        memory = _device_memory(settings)
        saved = source.config.get("dtype") or source.config.get("torch_dtype") or "bfloat16"  # transformers 5 / 4
        dtype = settings.dtype if settings.dtype != "auto" else str(saved)
        context = min(8192, source.max_positions)
        plan = plan_capacity(source.config, dtype, memory, settings.tp_size, context, model_id=source.model_id)
    except LLMSetupError as error:  # CapacityError too: the model or context does not fit
        return {"problem": str(error).splitlines()[0]}
    return {
        "max_running_requests": plan.max_concurrent_sequences,
        "line": f"{plan.model_id} in {plan.dtype} at TP {plan.tp_size} on {format_bytes(memory)} of device memory, "
        f"context {plan.context_length}: a KV cache of {plan.kv_tokens:,} tokens",
    }


def _device_memory(settings) -> int:
    """--llm-capacity-memory, else the local card named by --llm-device npu|cuda (a server on this host)."""
    if settings.capacity_memory_gib:
        return int(settings.capacity_memory_gib * 2**30)
    kind = settings.device.kind if settings.device.explicit else None
    if kind not in ("npu", "cuda"):
        seen = f"a {kind} server" if kind else "the server's device is unknown"
        raise LLMSetupError(
            f"{seen}: pass --llm-capacity-memory GIB, or --llm-device npu|cuda for a server on this host"
        )
    from pytest_ascend_llm.devices.detect import open_device

    return open_device(settings.device, settings.source_of("device")).total_memory()
