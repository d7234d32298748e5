"""The environment variables that Ascend serving stacks document, what each does, where that is written, and a check.

Why a table with sources: deployment scripts are copied from run to run, and a variable that is misspelt, out of
range or debug-only silently changes what a benchmark measures. Each entry cites the page (or source file) that
defines the variable, so a finding can be verified rather than believed. Pages were read at these revisions:
torch_npu docs and source at Ascend/pytorch master 9e73e708 (older branches v2.1.0 to v2.12.0 where noted),
vllm-ascend at 182b75ea, CANN pages on hiascend.com (8.0 to 9.0 editions), SGLang docs on docs.sglang.io.

Checks return ``Verdict``s (level, message, optional source); ``findings`` turns them into ``Finding``s. Levels:
"error" means a value the documentation declares invalid (the message says what the stack does with it instead:
refuse to start, or read it as something else), "warn" a value that costs performance, hides problems or is
silently replaced by a default, "info" context, "ok" a sound value.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

Level = Literal["ok", "info", "warn", "error"]

TORCH_NPU_DOCS = "https://github.com/Ascend/pytorch/blob/master/docs/zh/api/environment_variable/"
TORCH_NPU_SRC = "https://github.com/Ascend/pytorch/blob/master/torch_npu/csrc/"
CANN_ENV = "https://www.hiascend.com/document/detail/"
OPTIONS_MANAGER = TORCH_NPU_SRC + "core/npu/register/OptionsManager.cpp"
ALLOCATOR_SOURCE = TORCH_NPU_SRC + "core/npu/NPUAllocatorConfig.cpp"
VLLM_ASCEND_FAQ = "https://docs.vllm.ai/projects/ascend/en/latest/faqs.html"
VLLM_ASCEND_TUNING = (
    "https://docs.vllm.ai/projects/ascend/en/latest/developer_guide/performance_and_debug/optimization_and_tuning.html"
)
VLLM_ASCEND_PLATFORM = "https://github.com/vllm-project/vllm-ascend/blob/main/vllm_ascend/platform.py"
SGLANG_ASCEND_OPTIMIZATION = "https://docs.sglang.io/docs/hardware-platforms/ascend-npus/ascend_npu_optimization"
CUDA_ENV = "https://docs.nvidia.com/cuda/cuda-c-programming-guide/index.html#cuda-environment-variables"
PYTORCH_THREADS = "https://docs.pytorch.org/docs/stable/notes/cpu_threading_torchscript_inference.html"

# A "warn" finding on one of these topics means timings taken in this environment are not representative. Keep the
# invariant: checks of these variables emit "warn" only for that case (other problems are "info" or "error").
TIMING_DISTORTING = frozenset(
    {
        "ASCEND_LAUNCH_BLOCKING",
        "ASCEND_RT_LAUNCH_BLOCKING",
        "CUDA_LAUNCH_BLOCKING",
        "ASCEND_GLOBAL_LOG_LEVEL",
        "PYTORCH_NO_NPU_MEMORY_CACHING",
    }
)


class Verdict(NamedTuple):
    """One conclusion about one variable; ``source`` overrides the variable's own when another page says it."""

    level: Level
    message: str
    source: str | None = None


@dataclass(frozen=True)
class Context:
    """What a check may look at besides the value: the other variables and the device the run targets."""

    environ: Mapping[str, str]
    device_kind: str | None = None


Check = Callable[[str, Context], list[Verdict]]
NPU_ONLY = frozenset({"npu"})
ALL_KINDS = frozenset({"npu", "cuda", "cpu"})


@dataclass(frozen=True)
class Variable:
    """A documented variable: ``applies_to`` lists the device kinds on which anything reads it."""

    name: str
    does: str
    source: str
    check: Check
    applies_to: frozenset[str] = NPU_ONLY


@dataclass(frozen=True)
class Undocumented:
    """A name that circulates in deployment scripts but that no stack's documentation names; nothing reads it."""

    name: str
    intended: str
    seen_in: str
    checked: str


# --- small value helpers -------------------------------------------------------------------------------------------


def strtol(value: str) -> int:
    """C ``strtol(value, nullptr, 10)``, which torch_npu uses to read integer switches: junk reads as 0, "2x" as 2."""
    match = re.match(r"\s*([+-]?\d+)", value)
    return int(match.group(1)) if match else 0


def _int(value: str) -> int | None:
    return int(value) if re.fullmatch(r"[+-]?\d+", value.strip()) else None


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _switch(name: str, value: str, allowed: tuple[str, ...] = ("0", "1")) -> list[Verdict] | None:
    """None for a documented value of a switch, else an error naming the values the documentation allows."""
    if value in allowed:
        return None
    return [Verdict("error", f"{name}={value!r} is not a documented value ({', '.join(allowed)})")]


# --- devices -------------------------------------------------------------------------------------------------------


def check_rt_visible_devices(value: str, ctx: Context) -> list[Verdict]:
    """CANN reads device IDs up to the first character that is not an ID or a comma, and wants them ascending."""
    ids: list[int] = []
    for token in value.split(","):
        if not re.fullmatch(r"\d+", token):
            shown = ", ".join(map(str, ids)) or "none"
            hint = " (ranges like 0-3 are Ascend Docker Runtime syntax, not CANN's)" if "-" in token else ""
            return [
                Verdict(
                    "error",
                    f"ASCEND_RT_VISIBLE_DEVICES={value!r}: {token!r} is not a device ID{hint}; CANN reads only the "
                    f"IDs before it, so the process sees: {shown}",
                )
            ]
        ids.append(int(token))
    if any(b <= a for a, b in zip(ids, ids[1:])):
        return [Verdict("error", f"ASCEND_RT_VISIBLE_DEVICES={value!r}: CANN supports only ascending device IDs")]
    return [Verdict("ok", f"{len(ids)} NPU(s) visible; in-process index 0 is device {ids[0]}")]


def check_ascend_visible_devices(value: str, ctx: Context) -> list[Verdict]:
    """A container-creation variable: documented by Ascend Docker Runtime, not read by CANN inside the process."""
    message = (
        f"ASCEND_VISIBLE_DEVICES={value!r} is read by Ascend Docker Runtime when it creates a container (which "
        "/dev/davinci* it mounts); inside a running process CANN selects devices with ASCEND_RT_VISIBLE_DEVICES, "
        "so exporting it in a shell or script restricts nothing"
    )
    return [Verdict("info", message)]


def check_cuda_visible_devices(value: str, ctx: Context) -> list[Verdict]:
    """On an NPU run this restricts nothing: CANN and torch_npu select devices with ASCEND_RT_VISIBLE_DEVICES."""
    if ctx.device_kind != "npu":
        return [Verdict("info", f"CUDA_VISIBLE_DEVICES={value!r}")]
    if "ASCEND_RT_VISIBLE_DEVICES" in ctx.environ:
        return [Verdict("info", "CUDA_VISIBLE_DEVICES has no effect on NPUs (ASCEND_RT_VISIBLE_DEVICES is set)")]
    return [
        Verdict(
            "warn",
            f"CUDA_VISIBLE_DEVICES={value!r} does not restrict NPUs; set ASCEND_RT_VISIBLE_DEVICES instead",
            CANN_ENV + "en/canncommercial/850/maintenref/envvar/envref_07_0028.html",
        )
    ]


# --- the caching allocator -----------------------------------------------------------------------------------------

_BOOL = ("True", "False")  # exactly these: c10 ConfigTokenizer::toBool and torch_npu's parsers compare strings


def _bool(value: str) -> str | None:
    return None if value in _BOOL else f"expects True or False (case-sensitive), got {value!r}"


def _int_at_least(low: int, strict: bool = False) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        number = _int(value)
        if number is None or number < low or (strict and number == low):
            return f"expects an integer {'>' if strict else '>='} {low}, got {value!r}"
        return None

    return validate


def _int_between(low: int, high: int) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        number = _int(value) if value.isdigit() else None
        return None if number is not None and low <= number <= high else f"expects an integer in [{low}, {high}]"

    return validate


def _fraction(open_interval: bool) -> Callable[[str], str | None]:
    def validate(value: str) -> str | None:
        number = _float(value)
        inside = number is not None and (0 < number < 1 if open_interval else 0 <= number <= 1)
        return None if inside else f"expects a number in {'(0.0, 1.0)' if open_interval else '[0.0, 1.0]'}"

    return validate


def _power_of_two(text: str, zero_ok: bool) -> bool:
    number = _int(text)
    return number is not None and (number > 0 and number & (number - 1) == 0 or (zero_ok and number == 0))


def _roundup(value: str) -> str | None:
    if not value.startswith("["):
        return None if _power_of_two(value, zero_ok=False) else "expects a power of 2 or [size:divisions,...]"
    if not value.endswith("]"):
        return "expects a closing ']'"
    for pair in filter(None, value[1:-1].split(",")):
        size, _, divisions = pair.partition(":")
        if not (size == ">" or _power_of_two(size, zero_ok=False)) or not _power_of_two(divisions, zero_ok=True):
            return f"entry {pair!r} is not <power of 2 or '>'>:<power of 2 or 0>"
    return None


def _page_size(value: str) -> str | None:
    return None if value == "1g" else f"supports only 1g, got {value!r}"


@dataclass(frozen=True)
class AllocKey:
    """A documented PYTORCH_NPU_ALLOC_CONF option, its value rule, and the versions the docs require for it."""

    validate: Callable[[str], str | None]
    requires: str = ""


# Keys and rules from the PYTORCH_NPU_ALLOC_CONF page (memory_management/PYTORCH_NPU_ALLOC_CONF.md) and the parser
# NPUAllocatorConfig.cpp (which also forwards the generic keys to c10's AllocatorConfig.cpp).
ALLOC_KEYS: dict[str, AllocKey] = {
    "max_split_size_mb": AllocKey(_int_at_least(20)),
    "garbage_collection_threshold": AllocKey(_fraction(open_interval=True)),
    "expandable_segments": AllocKey(_bool, "Ascend HDK >= 23.0.0"),
    "base_addr_aligned_kb": AllocKey(_int_between(0, 16)),
    "page_size": AllocKey(_page_size, "Ascend HDK >= 25.0.RC1, CANN >= 8.1.RC1, Atlas A2/A3"),
    "segment_size_mb": AllocKey(_int_between(20, 512)),
    "roundup_power2_divisions": AllocKey(_roundup),
    "multi_stream_lazy_reclaim": AllocKey(_bool, "TorchNPU > 7.3.0"),
    "pinned_use_background_threads": AllocKey(_bool, "TorchNPU >= 26.0.0 with PyTorch >= 2.8"),
    "pin_memory_expandable_segments": AllocKey(_bool, "TorchNPU >= 7.3.0, HDK >= 25.5.0, CANN >= 8.5.0"),
    "pinned_mem_register": AllocKey(_bool, "TorchNPU >= 26.0.0, HDK >= 26.0.RC1, CANN >= 8.5.0"),
    "large_segment_size_mb": AllocKey(_int_at_least(10, strict=True), "TorchNPU >= 26.1.0 with PyTorch >= 2.11"),
    "per_process_memory_fraction": AllocKey(_fraction(open_interval=False), "TorchNPU >= 26.1.0, PyTorch >= 2.10"),
    "throw_on_npumalloc_oom": AllocKey(_bool, "TorchNPU >= 26.2.0 with PyTorch >= 2.13"),
    "pinned_max_round_threshold_mb": AllocKey(_int_at_least(1), "TorchNPU >= 26.2.0 with PyTorch >= 2.13"),
    "pinned_max_cached_size_mb": AllocKey(_int_at_least(1), "TorchNPU >= 26.2.0 with PyTorch >= 2.13"),
    "max_non_split_rounding_mb": AllocKey(_int_at_least(20)),
    "release_lock_on_npumalloc": AllocKey(_bool),
}
# Parsed by NPUAllocatorConfig.cpp (getKeys) but absent from the documentation page.
ALLOC_SOURCE_ONLY_KEYS = frozenset({"pinned_reserve_segment_size_mb"})


@dataclass(frozen=True)
class AllocConf:
    """A parsed allocator setting: ``key:value`` options in order, and the items that are not ``key:value``."""

    options: tuple[tuple[str, str], ...]
    malformed: tuple[str, ...]

    def get(self, key: str) -> str | None:
        return next((value for name, value in self.options if name == key), None)


def parse_alloc_conf(text: str) -> AllocConf:
    """Split ``key:value,key:value`` the way c10's ConfigTokenizer does: whitespace ignored, ``[...]`` kept whole."""
    items, depth, current = [], 0, []
    for char in "".join(text.split()):
        depth += (char == "[") - (char == "]")
        if char == "," and depth <= 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    options, malformed = [], []
    for item in filter(None, items):
        key, colon, value = item.partition(":")
        if colon and key and value:
            options.append((key, value))
        else:
            malformed.append(item)
    return AllocConf(tuple(options), tuple(malformed))


def _alloc_option_verdict(key: str, value: str) -> Verdict:
    rule = ALLOC_KEYS.get(key)
    if rule is None:
        if key in ALLOC_SOURCE_ONLY_KEYS:
            return Verdict("info", f"{key}:{value} is parsed by torch_npu but not documented", ALLOCATOR_SOURCE)
        close = difflib.get_close_matches(key, [*ALLOC_KEYS, *ALLOC_SOURCE_ONLY_KEYS], n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return Verdict(
            "error",
            f"unknown option {key!r}{hint}: torch_npu stops at start with \"Unrecognized key '{key}' in NPU allocator "
            "config\" (older releases: 'Unrecognized CachingAllocator option')",
            ALLOCATOR_SOURCE,
        )
    problem = rule.validate(value)
    if problem:
        return Verdict("error", f"{key} {problem}; torch_npu refuses it at start")
    note = f" (needs {rule.requires})" if rule.requires else ""
    if key == "segment_size_mb":
        return Verdict("info", f"segment_size_mb:{value} is deprecated, the docs name large_segment_size_mb{note}")
    return Verdict("ok", f"{key}:{value}{note}")


def _alloc_cross_verdicts(conf: AllocConf) -> list[Verdict]:
    verdicts = []
    if conf.get("expandable_segments") == "True" and (
        conf.get("max_split_size_mb") is not None or conf.get("garbage_collection_threshold") is not None
    ):
        verdicts.append(
            Verdict(
                "error",
                "expandable_segments:True cannot be combined with max_split_size_mb or garbage_collection_threshold; "
                "torch_npu stops at start",
                ALLOCATOR_SOURCE,
            )
        )
    if conf.get("pinned_mem_register") == "True" and conf.get("pin_memory_expandable_segments") == "True":
        verdicts.append(Verdict("error", "pinned_mem_register and pin_memory_expandable_segments are exclusive"))
    large, split = _int(conf.get("large_segment_size_mb") or ""), _int(conf.get("max_split_size_mb") or "")
    if large is not None and split is not None and split < large:
        verdicts.append(Verdict("error", "max_split_size_mb must be >= large_segment_size_mb"))
    if conf.get("page_size") is not None and len(conf.options) > 1:
        verdicts.append(Verdict("info", "with page_size set, the docs say only page_size takes effect"))
    return verdicts


def _recommend_expandable(conf: AllocConf, ctx: Context) -> list[Verdict]:
    if ctx.device_kind != "npu" or conf.get("expandable_segments") == "True":
        return []
    if conf.get("max_split_size_mb") is not None or conf.get("garbage_collection_threshold") is not None:
        return []
    return recommend_expandable_segments()


def recommend_expandable_segments() -> list[Verdict]:
    """What vllm-ascend and SGLang document for NPU memory; transformers runs on torch_npu get no such default."""
    return [
        Verdict(
            "info",
            "vllm-ascend's FAQ recommends expandable_segments:True against memory fragmentation (vllm-ascend appends "
            "it itself outside sleep mode; transformers runs get no default)",
            VLLM_ASCEND_FAQ,
        ),
        Verdict("info", "SGLang's Ascend guide sets expandable_segments:True as well", SGLANG_ASCEND_OPTIMIZATION),
    ]


def check_alloc_conf(value: str, ctx: Context) -> list[Verdict]:
    """Each option against its documented rule, typos named, cross-option constraints, then the docs' advice."""
    conf = parse_alloc_conf(value)
    verdicts = []
    for item in conf.malformed:
        hint = " (options use ':' not '=')" if "=" in item else ""
        verdicts.append(Verdict("error", f"{item!r} is not key:value{hint}; torch_npu refuses it at start"))
    verdicts += [_alloc_option_verdict(key, option) for key, option in conf.options]
    verdicts += _alloc_cross_verdicts(conf)
    verdicts += _recommend_expandable(conf, ctx)
    return verdicts or [Verdict("info", "empty: the allocator uses its defaults")]


def check_pytorch_alloc_conf(value: str, ctx: Context) -> list[Verdict]:
    """PyTorch's device-generic name; torch_npu reads it too from 26.2.0 (with PyTorch >= 2.10), never with both."""
    if "PYTORCH_NPU_ALLOC_CONF" in ctx.environ and ctx.device_kind in (None, "npu"):
        return [
            Verdict(
                "error",
                "PYTORCH_ALLOC_CONF and PYTORCH_NPU_ALLOC_CONF are both set; torch_npu stops at start "
                "('please set only one of them')",
                ALLOCATOR_SOURCE,
            )
        ]
    if ctx.device_kind != "npu":
        return [Verdict("info", f"PYTORCH_ALLOC_CONF={value!r}")]
    return [*check_alloc_conf(value, ctx), Verdict("info", "torch_npu reads PYTORCH_ALLOC_CONF only from 26.2.0")]


def check_cuda_alloc_conf(value: str, ctx: Context) -> list[Verdict]:
    """On an NPU run, the name torch_npu documents is PYTORCH_NPU_ALLOC_CONF; this one is PyTorch's deprecated alias."""
    if ctx.device_kind != "npu":
        return [Verdict("info", f"PYTORCH_CUDA_ALLOC_CONF={value!r}")]
    message = (
        f"PYTORCH_CUDA_ALLOC_CONF={value!r} is not a torch_npu variable (torch_npu documents PYTORCH_NPU_ALLOC_CONF, "
        "and PYTORCH_ALLOC_CONF from 26.2.0); recent PyTorch keeps it only as a deprecated alias in c10, so whether "
        "it reaches the NPU allocator depends on the torch/torch_npu pair: set PYTORCH_NPU_ALLOC_CONF instead"
    )
    return [Verdict("warn", message, TORCH_NPU_DOCS + "memory_management/PYTORCH_NPU_ALLOC_CONF.md")]


def check_no_memory_caching(value: str, ctx: Context) -> list[Verdict]:
    """A debug switch: every allocation goes to the driver and back (torch_npu reads any non-zero integer as on)."""
    if strtol(value) != 0:
        odd = "" if value == "1" else f" ({value!r} is not a documented value; torch_npu reads non-zero as 1)"
        return [Verdict("warn", f"caching allocator disabled: every tensor is aclrtMalloc'd and freed{odd}")]
    if value == "0":
        return [Verdict("ok", "caching allocator on")]
    return [Verdict("error", f"{value!r} is not 0 or 1; torch_npu reads it as 0 (caching on)")]


# --- operator dispatch ---------------------------------------------------------------------------------------------


def check_task_queue(value: str, ctx: Context) -> list[Verdict]:
    """0 disables the second-stage dispatch pipeline; only 0, 1, 2 exist; launch blocking overrides it."""
    number = _int(value)
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


def check_rt_launch_blocking(value: str, ctx: Context) -> list[Verdict]:
    """CANN runtime's own switch (runtime PR #4247): 1 makes kernel and model launches wait for completion."""
    if value == "1":
        return [Verdict("warn", "every kernel launch waits for completion: timings are not representative")]
    return [Verdict("info", f"{value!r}: only 1 enables blocking launches, so launches stay asynchronous")]


def check_cuda_launch_blocking(value: str, ctx: Context) -> list[Verdict]:
    """CUDA serializes launches at 1; torch_npu never reads it (no reference in Ascend/pytorch)."""
    if ctx.device_kind == "npu":
        return [Verdict("info", "CUDA-only, not read by torch_npu; the NPU counterpart is ASCEND_LAUNCH_BLOCKING")]
    if ctx.device_kind == "cpu":
        return [Verdict("info", "CUDA-only: no effect on a CPU run")]
    if strtol(value) != 0:
        return [Verdict("warn", "every CUDA kernel launch is synchronous: timings are not representative")]
    return [Verdict("ok" if value == "0" else "info", f"CUDA_LAUNCH_BLOCKING={value!r}: launches stay asynchronous")]


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


def check_combined(value: str, ctx: Context) -> list[Verdict]:
    odd = _switch("COMBINED_ENABLE", value)
    return odd or [Verdict("ok", "off (the default)") if value == "0" else Verdict("info", "combined optimization on")]


def check_inf_nan(value: str, ctx: Context) -> list[Verdict]:
    """0 selects saturation mode (Inf -> +-max, NaN -> 0), which hides numerical faults; A2/A3 reject it."""
    odd = _switch("INF_NAN_MODE_ENABLE", value)
    if odd:
        return odd
    if value == "1":
        return [Verdict("ok", "INF_NAN (IEEE 754) mode, the default")]
    message = (
        "saturation mode: overflows become +-max and NaN becomes 0, hiding numerical faults; on Atlas A2/A3 torch_npu "
        "raises unless INF_NAN_MODE_FORCE_DISABLE=1"
    )
    return [Verdict("warn", message, TORCH_NPU_SRC + "core/npu/NpuVariables.cpp")]


def check_inf_nan_force_disable(value: str, ctx: Context) -> list[Verdict]:
    odd = _switch("INF_NAN_MODE_FORCE_DISABLE", value)
    if odd:
        return odd
    if value == "1":
        return [Verdict("warn", "INF_NAN mode forced off on Atlas A2/A3: Inf/NaN are saturated, faults hidden")]
    return [Verdict("ok", "not forced")]


def check_streams_per_device(value: str, ctx: Context) -> list[Verdict]:
    if value in ("8", "32"):
        return [Verdict("ok", f"stream pool of {value}")]
    return [Verdict("warn", f"{value!r} is neither 8 nor 32: torch_npu logs a warning and uses 32")]


def check_fallback_disable(value: str, ctx: Context) -> list[Verdict]:
    odd = _switch("TORCH_NPU_FALLBACK_CPU_DISABLE", value)
    if odd:
        return odd
    if value == "1":
        return [Verdict("info", "strict: an operator that would fall back to the CPU raises instead")]
    return [Verdict("ok", "CPU fallback allowed (and warned about once per operator)")]


def check_warning_disable(value: str, ctx: Context) -> list[Verdict]:
    """torch_npu prints no warning when it is 1, including the CPU-fallback warning that cpu_fallback scans for."""
    if strtol(value) == 1:
        return [Verdict("warn", "torch_npu warnings are suppressed, including CPU-fallback warnings")]
    return [Verdict("ok", "torch_npu warnings printed (on rank 0 only)")]


def check_disabled_warning(value: str, ctx: Context) -> list[Verdict]:
    verdicts = check_warning_disable(value, ctx)
    return [*verdicts, Verdict("info", "deprecated name: the docs say TORCH_NPU_WARNING_DISABLE")]


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


# --- collective communication (HCCL) -------------------------------------------------------------------------------


def check_hccl_buffsize(value: str, ctx: Context) -> list[Verdict]:
    number = _int(value)
    if number is None or number < 1:
        return [Verdict("error", f"HCCL_BUFFSIZE={value!r} must be an integer >= 1 (MB); torch_npu refuses it")]
    return [Verdict("ok", f"{number} MB: each communicator holds 2 x {number} MB of NPU memory")]


def check_hccl_connect_timeout(value: str, ctx: Context) -> list[Verdict]:
    number = _int(value)
    if number is None or not 120 <= number <= 7200:
        return [Verdict("error", f"HCCL_CONNECT_TIMEOUT={value!r} is outside the documented [120, 7200] seconds")]
    return [Verdict("ok", f"link setup waits up to {number} + 20 s")]


# CANN 8.x: AI_CPU, AIV, HOST, HOST_TS; CANN 9.x adds CCU_MS and CCU_SCHED (Atlas 350) and names AICPU_CacheDisable
# (Atlas A3) on the HCCL_EXEC_TIMEOUT page. Which ones apply depends on the product and the CANN release.
HCCL_EXPANSION_MODES = ("AI_CPU", "AIV", "HOST", "HOST_TS", "CCU_MS", "CCU_SCHED", "AICPU_CacheDisable")
AIV_EXEC_TIMEOUT_CAP = 1091


def check_hccl_exec_timeout(value: str, ctx: Context) -> list[Verdict]:
    """Seconds; 0 never times out on A2/A3; negative values are reset to the default by torch_npu."""
    number = _float(value)
    if number is None:
        return [Verdict("error", f"HCCL_EXEC_TIMEOUT={value!r} is not a number of seconds")]
    if number < 0:
        return [Verdict("warn", "negative: torch_npu resets it to the default", OPTIONS_MANAGER)]
    if ctx.environ.get("HCCL_OP_EXPANSION_MODE") == "AIV" and (number == 0 or number > AIV_EXEC_TIMEOUT_CAP):
        return [Verdict("info", f"with HCCL_OP_EXPANSION_MODE=AIV, CANN uses {AIV_EXEC_TIMEOUT_CAP} s instead")]
    if number == 0:
        return [Verdict("warn", "0: a hung collective never times out (Atlas A2/A3)")]
    return [Verdict("ok", f"{value} s per wait")]


def check_hccl_event_timeout(value: str, ctx: Context) -> list[Verdict]:
    number = _int(value)
    if number is None or not 0 <= number <= 2147483647:
        return [Verdict("error", f"HCCL_EVENT_TIMEOUT={value!r} is not an integer in [0, 2147483647]")]
    exec_timeout = _float(ctx.environ.get("HCCL_EXEC_TIMEOUT", ""))
    if exec_timeout is not None and number <= exec_timeout:
        return [Verdict("error", "HCCL_EVENT_TIMEOUT must be greater than HCCL_EXEC_TIMEOUT")]
    return [Verdict("ok", "never times out" if number == 0 else f"{number} s")]


def check_hccl_expansion_mode(value: str, ctx: Context) -> list[Verdict]:
    if value not in HCCL_EXPANSION_MODES:
        documented = ", ".join(HCCL_EXPANSION_MODES)
        return [Verdict("warn", f"{value!r} is not a documented mode ({documented}); CANN then uses its default")]
    if value == "AIV":
        return [
            Verdict("ok", "AIV: collectives orchestrated on the vector cores"),
            Verdict("info", "vllm-ascend's tuning guide recommends AIV", VLLM_ASCEND_TUNING),
        ]
    return [Verdict("ok", value)]


def check_hccl_if_ip(value: str, ctx: Context) -> list[Verdict]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return [Verdict("error", f"HCCL_IF_IP={value!r} is not one IPv4 or IPv6 address")]
    return [Verdict("ok", f"HCCL root NIC {value} (takes precedence over HCCL_SOCKET_IFNAME)")]


def check_hccl_socket_ifname(value: str, ctx: Context) -> list[Verdict]:
    names = value.removeprefix("^").removeprefix("=").split(",")
    if not all(re.fullmatch(r"[\w.:@-]+", name) for name in names):
        return [Verdict("error", f"HCCL_SOCKET_IFNAME={value!r} is not [^][=]name[,name...]")]
    if "HCCL_IF_IP" in ctx.environ:
        return [Verdict("info", "HCCL_IF_IP is also set and takes precedence")]
    return [Verdict("ok", f"host NIC selection {value!r}")]


# --- logging -------------------------------------------------------------------------------------------------------


def check_log_level(value: str, ctx: Context) -> list[Verdict]:
    """0 DEBUG, 1 INFO, 2 WARNING, 3 ERROR (default), 4 NULL; the docs warn that DEBUG traffic hurts performance."""
    if value not in ("0", "1", "2", "3", "4"):
        return [
            Verdict(
                "error",
                f"{value!r} is not 0-4: CANN falls back to its default; torch_npu reads it with strtol and stops "
                "on integers outside 0-4",
                OPTIONS_MANAGER,
            )
        ]
    if value == "0":
        return [Verdict("warn", "DEBUG logging: the log traffic slows the run, timings are not representative")]
    if value == "1":
        return [Verdict("info", "INFO logging: more log traffic than the default ERROR")]
    return [Verdict("ok", {"2": "WARNING", "3": "ERROR (default)", "4": "no logs"}[value])]


def check_slog_stdout(value: str, ctx: Context) -> list[Verdict]:
    odd = _switch("ASCEND_SLOG_PRINT_TO_STDOUT", value)
    if odd:
        return odd
    if value == "1":
        return [Verdict("warn", "CANN logs go to stdout instead of log files; verbose levels flood the console")]
    return [Verdict("ok", "CANN logs go to files")]


# --- host threads --------------------------------------------------------------------------------------------------


def check_omp_threads(value: str, ctx: Context) -> list[Verdict]:
    if not all(re.fullmatch(r"[1-9]\d*", part.strip()) for part in value.split(",")):
        return [Verdict("error", f"{value!r} is not a list of positive integers: the thread count is unspecified")]
    return [Verdict("info", f"{value} OpenMP thread(s) per process for host-side (CPU) operators")]


def check_mkl_threads(value: str, ctx: Context) -> list[Verdict]:
    if not re.fullmatch(r"[1-9]\d*", value.strip()):
        return [Verdict("error", f"{value!r} is not a positive integer")]
    return [Verdict("info", f"{value} MKL thread(s); takes precedence over OMP_NUM_THREADS for MKL")]


def _docs(path: str) -> str:
    return TORCH_NPU_DOCS + path


def _cann(path: str) -> str:
    return CANN_ENV + path


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "ASCEND_RT_VISIBLE_DEVICES",
        "which NPUs (logical IDs, ascending, comma-separated) the process may use",
        _cann("en/canncommercial/850/maintenref/envvar/envref_07_0028.html"),
        check_rt_visible_devices,
    ),
    Variable(
        "ASCEND_VISIBLE_DEVICES",
        "which NPUs Ascend Docker Runtime mounts into a container it creates",
        _cann("en/mindcluster/730/clustersched/schedulingug/dlruntime_ug_004.html"),
        check_ascend_visible_devices,
    ),
    Variable(
        "CUDA_VISIBLE_DEVICES", "which CUDA GPUs the process may use", CUDA_ENV, check_cuda_visible_devices, ALL_KINDS
    ),
    Variable(
        "PYTORCH_NPU_ALLOC_CONF",
        "options of torch_npu's caching allocator (key:value,key:value)",
        _docs("memory_management/PYTORCH_NPU_ALLOC_CONF.md"),
        check_alloc_conf,
    ),
    Variable(
        "PYTORCH_ALLOC_CONF",
        "PyTorch's device-generic allocator options, read by torch_npu from 26.2.0",
        _docs("memory_management/PYTORCH_NPU_ALLOC_CONF.md"),
        check_pytorch_alloc_conf,
        ALL_KINDS,
    ),
    Variable(
        "PYTORCH_CUDA_ALLOC_CONF",
        "the CUDA caching allocator's options (a deprecated alias in recent PyTorch)",
        "https://github.com/pytorch/pytorch/blob/main/c10/core/AllocatorConfig.cpp",
        check_cuda_alloc_conf,
        ALL_KINDS,
    ),
    Variable(
        "PYTORCH_NO_NPU_MEMORY_CACHING",
        "1 disables the caching allocator (a debug aid)",
        _docs("memory_management/PYTORCH_NO_NPU_MEMORY_CACHING.md"),
        check_no_memory_caching,
    ),
    Variable(
        "TASK_QUEUE_ENABLE",
        "operator dispatch queue: 0 off, 1 level-1 pipeline (default), 2 level-2 pipeline",
        _docs("op_execution/TASK_QUEUE_ENABLE.md"),
        check_task_queue,
    ),
    Variable(
        "ASCEND_LAUNCH_BLOCKING",
        "1 runs every operator synchronously to get exact error stacks",
        _docs("op_execution/ASCEND_LAUNCH_BLOCKING.md"),
        check_launch_blocking,
    ),
    Variable(
        "ASCEND_RT_LAUNCH_BLOCKING",
        "1 makes CANN runtime kernel/model launches return only after completion (debugging)",
        "https://gitcode.com/cann/runtime/pull/4247",
        check_rt_launch_blocking,
    ),
    Variable(
        "CUDA_LAUNCH_BLOCKING",
        "1 makes every CUDA kernel launch synchronous (debugging)",
        CUDA_ENV,
        check_cuda_launch_blocking,
        ALL_KINDS,
    ),
    Variable(
        "ACL_OP_COMPILER_CACHE_MODE",
        "operator compile disk cache: enable, disable or force (refresh)",
        _docs("op_compilation/ACL_OP_COMPILER_CACHE_MODE.md"),
        check_compiler_cache_mode,
    ),
    Variable(
        "COMBINED_ENABLE",
        "1 enables the combined optimization for non-contiguous view chains",
        _docs("op_execution/COMBINED_ENABLE.md"),
        check_combined,
    ),
    Variable(
        "INF_NAN_MODE_ENABLE",
        "1 IEEE Inf/NaN results (default), 0 saturation mode",
        _docs("op_execution/INF_NAN_MODE_ENABLE.md"),
        check_inf_nan,
    ),
    Variable(
        "INF_NAN_MODE_FORCE_DISABLE",
        "1 forces saturation mode on Atlas A2/A3",
        _docs("op_execution/INF_NAN_MODE_FORCE_DISABLE.md"),
        check_inf_nan_force_disable,
    ),
    Variable(
        "STREAMS_PER_DEVICE",
        "size of torch_npu's stream pool: 8 or 32 (default)",
        _docs("device_management/STREAMS_PER_DEVICE.md"),
        check_streams_per_device,
    ),
    Variable(
        "TORCH_NPU_FALLBACK_CPU_DISABLE",
        "1 makes operators that would fall back to the CPU raise instead",
        _docs("op_execution/TORCH_NPU_FALLBACK_CPU_DISABLE.md"),
        check_fallback_disable,
    ),
    Variable(
        "TORCH_NPU_WARNING_DISABLE",
        "1 suppresses torch_npu's warnings",
        _docs("alarm_message_printing/TORCH_NPU_WARNING_DISABLE.md"),
        check_warning_disable,
    ),
    Variable(
        "TORCH_NPU_DISABLED_WARNING",
        "deprecated name of TORCH_NPU_WARNING_DISABLE",
        _docs("alarm_message_printing/TORCH_NPU_DISABLED_WARNING.md"),
        check_disabled_warning,
    ),
    Variable(
        "CPU_AFFINITY_CONF",
        "torch_npu's CPU core binding: mode 0/1/2 plus optional force, npuN:a-b ranges, npu_affine",
        _docs("performance_tuning/CPU_AFFINITY_CONF.md"),
        check_cpu_affinity,
    ),
    Variable(
        "HCCL_BUFFSIZE",
        "MB of buffer per HCCL communicator (each holds two), default 200",
        _cann("en/CANNCommunityEdition/900/maintenref/envvar/envref_07_0080.html"),
        check_hccl_buffsize,
    ),
    Variable(
        "HCCL_CONNECT_TIMEOUT",
        "seconds devices wait for each other while building HCCL links, [120, 7200]",
        _cann("zh/canncommercial/850/maintenref/envvar/envref_07_0149.html"),
        check_hccl_connect_timeout,
    ),
    Variable(
        "HCCL_EXEC_TIMEOUT",
        "seconds a device waits for the others inside a collective",
        _cann("zh/canncommercial/latest/maintenref/envvar/envref_07_0078.html"),
        check_hccl_exec_timeout,
    ),
    Variable(
        "HCCL_EVENT_TIMEOUT",
        "seconds torch_npu waits for an HCCL event; must exceed HCCL_EXEC_TIMEOUT",
        _docs("collective_communication/HCCL_EVENT_TIMEOUT.md"),
        check_hccl_event_timeout,
    ),
    Variable(
        "HCCL_OP_EXPANSION_MODE",
        "where collective algorithms are orchestrated: AI_CPU, AIV, HOST or HOST_TS",
        _cann("zh/canncommercial/850/maintenref/envvar/envref_07_0096.html"),
        check_hccl_expansion_mode,
    ),
    Variable(
        "HCCL_IF_IP",
        "host IP address HCCL uses to reach the root node",
        _cann("en/canncommercial/800/apiref/envvar/envref_07_0073.html"),
        check_hccl_if_ip,
    ),
    Variable(
        "HCCL_SOCKET_IFNAME",
        "host NIC name(s) or prefixes HCCL uses to reach the root node",
        _cann("en/canncommercial/850/commlib/hcclug/hcclug_000093.html"),
        check_hccl_socket_ifname,
    ),
    Variable(
        "ASCEND_GLOBAL_LOG_LEVEL",
        "CANN log level: 0 DEBUG, 1 INFO, 2 WARNING, 3 ERROR (default), 4 NULL",
        _cann("en/canncommercial/850/maintenref/envvar/envref_07_0122.html"),
        check_log_level,
    ),
    Variable(
        "ASCEND_SLOG_PRINT_TO_STDOUT",
        "1 prints CANN logs to stdout instead of log files",
        _cann("zh/canncommercial/900/maintenref/envvar/envref_07_0121.html"),
        check_slog_stdout,
    ),
    Variable(
        "OMP_NUM_THREADS",
        "OpenMP threads per parallel region (PyTorch's intra-op CPU threads)",
        "https://gcc.gnu.org/onlinedocs/gcc-7.5.0/libgomp/OMP_005fNUM_005fTHREADS.html",
        check_omp_threads,
        ALL_KINDS,
    ),
    Variable(
        "MKL_NUM_THREADS", "MKL threads for PyTorch's CPU operators", PYTORCH_THREADS, check_mkl_threads, ALL_KINDS
    ),
)
BY_NAME: dict[str, Variable] = {variable.name: variable for variable in VARIABLES}

_NONE_DOCUMENT_IT = "no mention in torch_npu's environment-variable docs or source, vllm-ascend, SGLang's Ascend docs"
UNDOCUMENTED: tuple[Undocumented, ...] = (
    Undocumented(
        "NPU_VISIBLE_DEVICES",
        "ASCEND_RT_VISIBLE_DEVICES",
        "github.com/zhonganbi102-netizen/nano-chat-NPU run_npu_no_muon_training.sh (export NPU_VISIBLE_DEVICES=0), "
        "training launch scripts exporting it next to ASCEND_RT_VISIBLE_DEVICES",
        _NONE_DOCUMENT_IT + " or the CANN environment-variable reference",
    ),
    Undocumented(
        "HCCL_BUFFSIZE_MB",
        "HCCL_BUFFSIZE",
        "github.com/zhonganbi102-netizen/nano-chat-NPU run_npu_no_muon_training.sh (export HCCL_BUFFSIZE_MB=256)",
        "CANN names HCCL_BUFFSIZE (its unit is MB, the name has no suffix); torch_npu reads HCCL_BUFFSIZE",
    ),
    Undocumented(
        "PYTORCH_NPU_ALLOC_CONFIG",
        "PYTORCH_NPU_ALLOC_CONF",
        "not found in the indexed public code; a plausible misspelling of the allocator variable",
        _NONE_DOCUMENT_IT + "; torch_npu reads only PYTORCH_NPU_ALLOC_CONF / PYTORCH_ALLOC_CONF",
    ),
)
UNDOCUMENTED_BY_NAME: dict[str, Undocumented] = {entry.name: entry for entry in UNDOCUMENTED}
