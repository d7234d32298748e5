"""The table of environment variables that Ascend serving stacks document, in the order the doctor reports them, and
the names that circulate in scripts but that no stack documents.

Why a table with sources: deployment scripts are copied from run to run, and a variable that is misspelt, out of
range or debug-only silently changes what a benchmark measures. Each entry cites the page (or source file) that
defines the variable (see ``sources``), so a finding can be verified rather than believed. The rows and their checks
live by topic in the ``rules_*`` modules; this module only puts them in order. ``findings`` turns the checks'
``Verdict``s into ``Finding``s.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_ascend_llm.doctor import (
    rules_allocator,
    rules_devices,
    rules_dispatch,
    rules_hccl,
    rules_logging,
    rules_threads,
)
from pytest_ascend_llm.doctor.rule_types import Variable

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


@dataclass(frozen=True)
class Undocumented:
    """A name that circulates in deployment scripts but that no stack's documentation names; nothing reads it."""

    name: str
    intended: str
    seen_in: str
    checked: str


VARIABLES: tuple[Variable, ...] = (
    *rules_devices.ROWS,
    *rules_allocator.ROWS,
    *rules_dispatch.ROWS,
    *rules_hccl.ROWS,
    *rules_logging.ROWS,
    *rules_threads.ROWS,
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
