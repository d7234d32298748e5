"""Operators that torch_npu ran on the host CPU (or the NPU's AI CPU), read from its warning text.

Why: an operator without an NPU kernel silently falls back to the CPU (copy in, compute, copy back); inference stays
correct but gets slow, and the only trace is one warning per operator. The texts matched here are torch_npu's own:

- Dispatcher fallback, torch_npu/csrc/aten/VariableFallbackKernel.cpp (``npu_cpu_fallback``, identical on the
  v2.1.0 to v2.12.0 branches and master), printed once per operator::

      CAUTION: The operator 'aten::fmax.out' is not currently supported on the NPU backend and will fall back to run
      on the CPU. This may have performance implications.

- Explicit CPU kernels, torch_npu/csrc/aten/ops/SparseCsrReductionFallbackKernelNpu.cpp::

      ... Since the NPU interface does not support operator 'aten::_sparse_csr_sum.dim_dtype', the operator will
      fall back to CPU.

- With TORCH_NPU_FALLBACK_CPU_DISABLE=1 the fallback raises instead (framework/utils/CpuFallbackUtils.h)::

      The operator 'aten::fmax.out' would execute its main computation on CPU through dispatcher backend fallback ...,
      but CPU fallback is disabled by TORCH_NPU_FALLBACK_CPU_DISABLE=1.

- AI CPU (the NPU's slow scalar cores), Ascend/op-plugin op_plugin/ops/opapi/ArgSortKernelNpuOpApi.cpp::

      Warning: kernel [ArgSort] can not support dtype int32 or int64 on AiCore, Now this kernel is running on AiCpu.

Where to capture them: torch_npu sends its warnings (TORCH_NPU_WARN, core/npu/NPUException.cpp) to its own c10 base
warning handler, which writes ``[W... VariableFallbackKernel.cpp:250] Warning: CAUTION: ... (function
npu_cpu_fallback)`` straight to the process's stderr: Python's ``warnings`` module never sees them, so capture file
descriptor 2 (a subprocess's stderr, a server log). They are printed only on rank 0 (RANK unset or 0) and not at all
with TORCH_NPU_WARNING_DISABLE=1; each operator is reported once per process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FALLBACK_SOURCE = "https://github.com/Ascend/pytorch/blob/master/torch_npu/csrc/aten/VariableFallbackKernel.cpp"

# Whitespace between words may be a line break: log collectors and docs wrap long warnings.
_DISPATCHER = re.compile(
    r"The\s+operator\s+'(?P<op>[^']+)'\s+is\s+not\s+currently\s+supported\s+on\s+the\s+NPU\s+backend\s+and\s+will"
    r"\s+fall\s+back\s+to\s+run\s+on\s+the\s+CPU"
)
_EXPLICIT = re.compile(
    r"does\s+not\s+support\s+operator\s+'(?P<op>[^']+)',\s+the\s+operator\s+will\s+fall\s+back\s+to\s+CPU"
)
_BLOCKED = re.compile(
    r"The\s+operator\s+'(?P<op>[^']+)'\s+would\s+execute\s+its\s+main\s+computation\s+on\s+CPU\s+through\s[^']*?"
    r"disabled\s+by\s+TORCH_NPU_FALLBACK_CPU_DISABLE=1"
)
_AICPU = re.compile(
    r"kernel\s+\[(?P<op>[^\]]+)\]\s+can\s+not\s+support\s[^\[]*?Now\s+this\s+kernel\s+is\s+running\s+on\s+AiCpu"
)


def _unique(patterns: Iterable[re.Pattern[str]], messages: Iterable[str]) -> list[str]:
    """Names in order of first appearance, each once (a log can repeat a rank's warning many times)."""
    seen: dict[str, None] = {}
    for message in messages:
        hits = sorted((match.start(), match.group("op")) for pattern in patterns for match in pattern.finditer(message))
        for _, name in hits:
            seen.setdefault(name, None)
    return list(seen)


def fallback_operators(messages: Iterable[str]) -> list[str]:
    """Operators (as printed, e.g. ``aten::fmax.out``) that torch_npu ran on the host CPU."""
    return _unique((_DISPATCHER, _EXPLICIT), messages)


def blocked_operators(messages: Iterable[str]) -> list[str]:
    """Operators that would have fallen back but raised because TORCH_NPU_FALLBACK_CPU_DISABLE=1."""
    return _unique((_BLOCKED,), messages)


def aicpu_kernels(messages: Iterable[str]) -> list[str]:
    """Kernels (e.g. ``ArgSort``) that op-plugin moved from the AI Core to the NPU's slower AI CPU."""
    return _unique((_AICPU,), messages)
