"""Turn a capacity plan into the deployment it describes, so the numbers and the launch cannot drift apart.

Flag names follow SGLang's ServerArgs fields (``tp_size`` -> ``--tp-size``, ``mem_fraction_static``,
``context_length``, ``max_running_requests``, ``attention_backend`` with the ``ascend`` choice, ``device``).
"""

from __future__ import annotations

import shlex

from pytest_ascend_llm.planning.capacity import CapacityPlan


def sglang_command(
    plan: CapacityPlan, model_path: str, host: str = "127.0.0.1", port: int = 30000, device: str = "npu"
) -> list[str]:
    """argv of ``sglang.launch_server`` sized by the plan; loopback host unless the caller opens it up."""
    argv = ["python", "-m", "sglang.launch_server", "--model-path", str(model_path)]
    if device == "npu":
        argv += ["--device", "npu", "--attention-backend", "ascend"]
    elif device != "cuda":  # SGLang defaults to CUDA; any other device is named
        argv += ["--device", device]
    return argv + plan_flags(plan) + ["--host", host, "--port", str(port)]


def plan_flags(plan: CapacityPlan) -> list[str]:
    """The SGLang arguments a plan sets: parallelism, the static memory share, context and concurrency."""
    return [
        "--tp-size", str(plan.tp_size),
        "--mem-fraction-static", f"{plan.mem_fraction_static:g}",
        "--context-length", str(plan.context_length),
        "--max-running-requests", str(plan.max_concurrent_sequences),
        "--dtype", plan.dtype,
    ]  # fmt: skip


def shell_line(argv: list[str]) -> str:
    return shlex.join(argv)


def transformers_settings(plan: CapacityPlan, model_path: str, device: str) -> dict:
    """from_pretrained's dtype and device_map, and the batch and length limits the plan allows.

    transformers has no tensor parallelism of this kind: TP > 1 becomes device_map="auto", which spreads
    layers over the devices and so splits weights and KV cache about as TP does.
    """
    if device == "cpu":
        device_map = None
    elif plan.tp_size > 1:
        device_map = "auto"
    else:
        device_map = f"{device}:0"
    return {
        "model_path": str(model_path),
        "dtype": plan.dtype,
        "device_map": device_map,
        "max_batch_size": plan.max_concurrent_sequences,
        "max_length": plan.context_length,
    }
