"""The caching-allocator variables: PYTORCH_NPU_ALLOC_CONF and its aliases, and the switch that turns caching off.

The option syntax and per-key rules live in ``alloc_conf``; here they become verdicts, next to each variable's row
of the doctor's table (``variables`` assembles the rows of every topic).
"""

from __future__ import annotations

import difflib

from pytest_ascend_llm.doctor.alloc_conf import ALLOC_KEYS, ALLOC_SOURCE_ONLY_KEYS, AllocConf, parse_alloc_conf
from pytest_ascend_llm.doctor.rule_types import ALL_KINDS, Context, Variable, Verdict
from pytest_ascend_llm.doctor.sources import (
    ALLOCATOR_SOURCE,
    SGLANG_ASCEND_OPTIMIZATION,
    TORCH_NPU_DOCS,
    VLLM_ASCEND_FAQ,
    torch_npu_doc,
)
from pytest_ascend_llm.doctor.values import int_or_none, strtol


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
    large, split = (
        int_or_none(conf.get("large_segment_size_mb") or ""),
        int_or_none(conf.get("max_split_size_mb") or ""),
    )
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


PYTORCH_NPU_ALLOC_CONF = Variable(
    "PYTORCH_NPU_ALLOC_CONF",
    "options of torch_npu's caching allocator (key:value,key:value)",
    torch_npu_doc("memory_management/PYTORCH_NPU_ALLOC_CONF.md"),
    check_alloc_conf,
)


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


PYTORCH_ALLOC_CONF = Variable(
    "PYTORCH_ALLOC_CONF",
    "PyTorch's device-generic allocator options, read by torch_npu from 26.2.0",
    torch_npu_doc("memory_management/PYTORCH_NPU_ALLOC_CONF.md"),
    check_pytorch_alloc_conf,
    ALL_KINDS,
)


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


PYTORCH_CUDA_ALLOC_CONF = Variable(
    "PYTORCH_CUDA_ALLOC_CONF",
    "the CUDA caching allocator's options (a deprecated alias in recent PyTorch)",
    "https://github.com/pytorch/pytorch/blob/main/c10/core/AllocatorConfig.cpp",
    check_cuda_alloc_conf,
    ALL_KINDS,
)


def check_no_memory_caching(value: str, ctx: Context) -> list[Verdict]:
    """A debug switch: every allocation goes to the driver and back (torch_npu reads any non-zero integer as on)."""
    if strtol(value) != 0:
        odd = "" if value == "1" else f" ({value!r} is not a documented value; torch_npu reads non-zero as 1)"
        return [Verdict("warn", f"caching allocator disabled: every tensor is aclrtMalloc'd and freed{odd}")]
    if value == "0":
        return [Verdict("ok", "caching allocator on")]
    return [Verdict("error", f"{value!r} is not 0 or 1; torch_npu reads it as 0 (caching on)")]


PYTORCH_NO_NPU_MEMORY_CACHING = Variable(
    "PYTORCH_NO_NPU_MEMORY_CACHING",
    "1 disables the caching allocator (a debug aid)",
    torch_npu_doc("memory_management/PYTORCH_NO_NPU_MEMORY_CACHING.md"),
    check_no_memory_caching,
)


ROWS: tuple[Variable, ...] = (
    PYTORCH_NPU_ALLOC_CONF,
    PYTORCH_ALLOC_CONF,
    PYTORCH_CUDA_ALLOC_CONF,
    PYTORCH_NO_NPU_MEMORY_CACHING,
)
