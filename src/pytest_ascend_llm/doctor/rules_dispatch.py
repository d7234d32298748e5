"""The operator-dispatch variables: task queue, launch blocking, compile cache, Inf/NaN mode, streams, CPU fallback,
warnings and core binding, each check beside its row of the doctor's table (``variables`` assembles the rows).
"""

from __future__ import annotations

import re

from pytest_ascend_llm.doctor.rule_types import ALL_KINDS, Context, Variable, Verdict, switch
from pytest_ascend_llm.doctor.sources import (
    CUDA_ENV,
    SGLANG_ASCEND_OPTIMIZATION,
    TORCH_NPU_SRC,
    VLLM_ASCEND_PLATFORM,
    torch_npu_doc,
)
from pytest_ascend_llm.doctor.values import int_or_none, strtol


def check_task_queue(value: str, ctx: Context) -> list[Verdict]:
    """0 disables the second-stage dispatch pipeline; only 0, 1, 2 exist; launch blocking overrides it."""
    number = int_or_none(value)
    if number is None:
        read = strtol(value)
        return [
            Verdict("error", f"TASK_QUEUE_ENABLE={value!r} is not 0, 1 or 2; torch_npu reads it with strtol as {read}")
        ]
    if number not in (0, 1, 2):
        return [
            Verdict("error", f"TASK_QUEUE_ENABLE={value}: torch_npu stops with 'TASK_QUEUE_ENABLE should be 0, 1 or 2'")
        ]
    verdicts = [
        {
            0: Verdict(
                "warn",
                "task queue off: operator dispatch is no longer overlapped by the second-stage pipeline, so eager "
                "runs dispatch slower",
            ),
            1: Verdict("ok", "level 1 (the default)"),
            2: Verdict("ok", "level 2, the level torch_npu's docs recommend (raises peak memory)"),
        }[number]
    ]
    if number == 0:
        note = "SGLang's Ascend guide uses 0 only for decode servers under graph capture"
        verdicts.append(Verdict("info", note, SGLANG_ASCEND_OPTIMIZATION))
    if strtol(ctx.environ.get("ASCEND_LAUNCH_BLOCKING", "0")) != 0:
        verdicts.append(Verdict("info", "ignored: ASCEND_LAUNCH_BLOCKING turns the task queue off"))
    return verdicts


TASK_QUEUE_ENABLE = Variable(
    "TASK_QUEUE_ENABLE",
    "operator dispatch queue: 0 off, 1 level-1 pipeline (default), 2 level-2 pipeline",
    torch_npu_doc("op_execution/TASK_QUEUE_ENABLE.md"),
    check_task_queue,
)


def check_launch_blocking(value: str, ctx: Context) -> list[Verdict]:
    """torch_npu reads it with strtol: any non-zero integer serializes every operator; "true" reads as 0."""
    if strtol(value) != 0:
        message = (
            f"ASCEND_LAUNCH_BLOCKING={value}: every operator runs synchronously and the task queue is off, so "
            "timings are not representative (a debugging aid)"
        )
        refusal = "vllm-ascend refuses ACL graph mode when it is 1"
        return [Verdict("warn", message), Verdict("info", refusal, VLLM_ASCEND_PLATFORM)]
    if value == "0":
        return [Verdict("ok", "asynchronous execution")]
    return [Verdict("info", f"{value!r} is not 0 or 1; torch_npu reads it as 0 (asynchronous)")]


ASCEND_LAUNCH_BLOCKING = Variable(
    "ASCEND_LAUNCH_BLOCKING",
    "1 runs every operator synchronously to get exact error stacks",
    torch_npu_doc("op_execution/ASCEND_LAUNCH_BLOCKING.md"),
    check_launch_blocking,
)


def check_rt_launch_blocking(value: str, ctx: Context) -> list[Verdict]:
    """CANN runtime's own switch (runtime PR #4247): 1 makes kernel and model launches wait for completion."""
    if value == "1":
        return [Verdict("warn", "every kernel launch waits for completion: timings are not representative")]
    return [Verdict("info", f"{value!r}: only 1 enables blocking launches, so launches stay asynchronous")]


ASCEND_RT_LAUNCH_BLOCKING = Variable(
    "ASCEND_RT_LAUNCH_BLOCKING",
    "1 makes CANN runtime kernel/model launches return only after completion (debugging)",
    "https://gitcode.com/cann/runtime/pull/4247",
    check_rt_launch_blocking,
)


def check_cuda_launch_blocking(value: str, ctx: Context) -> list[Verdict]:
    """CUDA serializes launches at 1; torch_npu never reads it (no reference in Ascend/pytorch)."""
    if ctx.device_kind == "npu":
        return [Verdict("info", "CUDA-only, not read by torch_npu; the NPU counterpart is ASCEND_LAUNCH_BLOCKING")]
    if ctx.device_kind == "cpu":
        return [Verdict("info", "CUDA-only: no effect on a CPU run")]
    if strtol(value) != 0:
        return [Verdict("warn", "every CUDA kernel launch is synchronous: timings are not representative")]
    return [Verdict("ok" if value == "0" else "info", f"CUDA_LAUNCH_BLOCKING={value!r}: launches stay asynchronous")]


CUDA_LAUNCH_BLOCKING = Variable(
    "CUDA_LAUNCH_BLOCKING",
    "1 makes every CUDA kernel launch synchronous (debugging)",
    CUDA_ENV,
    check_cuda_launch_blocking,
    ALL_KINDS,
)


def check_compiler_cache_mode(value: str, ctx: Context) -> list[Verdict]:
    """enable (default) / disable / force; torch_npu silently replaces anything else with enable."""
    verdict = {
        "enable": Verdict("ok", "operator compile cache on"),
        "disable": Verdict(
            "warn", "operator compile cache off: operators recompile in every process; keep warm-up out of timings"
        ),
        "force": Verdict("warn", "cache is refreshed at start: the first calls compile from scratch"),
    }.get(value)
    if verdict:
        return [verdict]
    return [
        Verdict(
            "error",
            f"{value!r} is not enable, disable or force; torch_npu silently uses 'enable'",
            TORCH_NPU_SRC + "framework/LazyInitAclops.cpp",
        )
    ]


ACL_OP_COMPILER_CACHE_MODE = Variable(
    "ACL_OP_COMPILER_CACHE_MODE",
    "operator compile disk cache: enable, disable or force (refresh)",
    torch_npu_doc("op_compilation/ACL_OP_COMPILER_CACHE_MODE.md"),
    check_compiler_cache_mode,
)


def check_combined(value: str, ctx: Context) -> list[Verdict]:
    return switch(
        "COMBINED_ENABLE", value, on=Verdict("info", "combined optimization on"), off=Verdict("ok", "off (the default)")
    )


COMBINED_ENABLE = Variable(
    "COMBINED_ENABLE",
    "1 enables the combined optimization for non-contiguous view chains",
    torch_npu_doc("op_execution/COMBINED_ENABLE.md"),
    check_combined,
)


def check_inf_nan(value: str, ctx: Context) -> list[Verdict]:
    """0 selects saturation mode (Inf -> +-max, NaN -> 0), which hides numerical faults; A2/A3 reject it."""
    message = (
        "saturation mode: overflows become +-max and NaN becomes 0, hiding numerical faults; on Atlas A2/A3 torch_npu "
        "raises unless INF_NAN_MODE_FORCE_DISABLE=1"
    )
    return switch(
        "INF_NAN_MODE_ENABLE",
        value,
        on=Verdict("ok", "INF_NAN (IEEE 754) mode, the default"),
        off=Verdict("warn", message, TORCH_NPU_SRC + "core/npu/NpuVariables.cpp"),
    )


INF_NAN_MODE_ENABLE = Variable(
    "INF_NAN_MODE_ENABLE",
    "1 IEEE Inf/NaN results (default), 0 saturation mode",
    torch_npu_doc("op_execution/INF_NAN_MODE_ENABLE.md"),
    check_inf_nan,
)


def check_inf_nan_force_disable(value: str, ctx: Context) -> list[Verdict]:
    forced = Verdict("warn", "INF_NAN mode forced off on Atlas A2/A3: Inf/NaN are saturated, faults hidden")
    return switch("INF_NAN_MODE_FORCE_DISABLE", value, on=forced, off=Verdict("ok", "not forced"))


INF_NAN_MODE_FORCE_DISABLE = Variable(
    "INF_NAN_MODE_FORCE_DISABLE",
    "1 forces saturation mode on Atlas A2/A3",
    torch_npu_doc("op_execution/INF_NAN_MODE_FORCE_DISABLE.md"),
    check_inf_nan_force_disable,
)


def check_streams_per_device(value: str, ctx: Context) -> list[Verdict]:
    if value in ("8", "32"):
        return [Verdict("ok", f"stream pool of {value}")]
    return [Verdict("warn", f"{value!r} is neither 8 nor 32: torch_npu logs a warning and uses 32")]


STREAMS_PER_DEVICE = Variable(
    "STREAMS_PER_DEVICE",
    "size of torch_npu's stream pool: 8 or 32 (default)",
    torch_npu_doc("device_management/STREAMS_PER_DEVICE.md"),
    check_streams_per_device,
)


def check_fallback_disable(value: str, ctx: Context) -> list[Verdict]:
    return switch(
        "TORCH_NPU_FALLBACK_CPU_DISABLE",
        value,
        on=Verdict("info", "strict: an operator that would fall back to the CPU raises instead"),
        off=Verdict("ok", "CPU fallback allowed (and warned about once per operator)"),
    )


TORCH_NPU_FALLBACK_CPU_DISABLE = Variable(
    "TORCH_NPU_FALLBACK_CPU_DISABLE",
    "1 makes operators that would fall back to the CPU raise instead",
    torch_npu_doc("op_execution/TORCH_NPU_FALLBACK_CPU_DISABLE.md"),
    check_fallback_disable,
)


def check_warning_disable(value: str, ctx: Context) -> list[Verdict]:
    """torch_npu prints no warning when it is 1, including the CPU-fallback warning that cpu_fallback scans for."""
    if strtol(value) == 1:
        return [Verdict("warn", "torch_npu warnings are suppressed, including CPU-fallback warnings")]
    return [Verdict("ok", "torch_npu warnings printed (on rank 0 only)")]


TORCH_NPU_WARNING_DISABLE = Variable(
    "TORCH_NPU_WARNING_DISABLE",
    "1 suppresses torch_npu's warnings",
    torch_npu_doc("alarm_message_printing/TORCH_NPU_WARNING_DISABLE.md"),
    check_warning_disable,
)


def check_disabled_warning(value: str, ctx: Context) -> list[Verdict]:
    verdicts = check_warning_disable(value, ctx)
    return [*verdicts, Verdict("info", "deprecated name: the docs say TORCH_NPU_WARNING_DISABLE")]


TORCH_NPU_DISABLED_WARNING = Variable(
    "TORCH_NPU_DISABLED_WARNING",
    "deprecated name of TORCH_NPU_WARNING_DISABLE",
    torch_npu_doc("alarm_message_printing/TORCH_NPU_DISABLED_WARNING.md"),
    check_disabled_warning,
)


def check_cpu_affinity(value: str, ctx: Context) -> list[Verdict]:
    """<mode>[,force:0|1][,npuN:a-b...][,npu_affine:0|1] with mode 0 (off), 1 (coarse) or 2 (fine-grained)."""
    items = value.split(",")
    mode = items[0].removeprefix("mode:")
    if mode not in ("0", "1", "2"):
        return [Verdict("error", f"CPU_AFFINITY_CONF mode {items[0]!r} is not 0, 1 or 2")]
    for item in items[1:]:
        ranged = re.fullmatch(r"npu\d+:(\d+)-(\d+)", item)
        if ranged and int(ranged.group(1)) <= int(ranged.group(2)):
            continue
        if not re.fullmatch(r"(force|npu_affine):[01]", item):
            return [Verdict("error", f"CPU_AFFINITY_CONF item {item!r} is not force:0|1, npu_affine:0|1 or npuN:a-b")]
    meaning = {"0": "core binding off", "1": "coarse-grained binding", "2": "fine-grained binding"}[mode]
    return [Verdict("info" if mode == "0" else "ok", meaning)]


CPU_AFFINITY_CONF = Variable(
    "CPU_AFFINITY_CONF",
    "torch_npu's CPU core binding: mode 0/1/2 plus optional force, npuN:a-b ranges, npu_affine",
    torch_npu_doc("performance_tuning/CPU_AFFINITY_CONF.md"),
    check_cpu_affinity,
)


ROWS: tuple[Variable, ...] = (
    TASK_QUEUE_ENABLE,
    ASCEND_LAUNCH_BLOCKING,
    ASCEND_RT_LAUNCH_BLOCKING,
    CUDA_LAUNCH_BLOCKING,
    ACL_OP_COMPILER_CACHE_MODE,
    COMBINED_ENABLE,
    INF_NAN_MODE_ENABLE,
    INF_NAN_MODE_FORCE_DISABLE,
    STREAMS_PER_DEVICE,
    TORCH_NPU_FALLBACK_CPU_DISABLE,
    TORCH_NPU_WARNING_DISABLE,
    TORCH_NPU_DISABLED_WARNING,
    CPU_AFFINITY_CONF,
)
