"""Graph mode for the transformers engine: the model's forward wrapped by ``torch.compile``.

Eager and graph execution use different kernels (fused by a compiler, captured into a graph), so their
outputs need not be bit-identical; the output fingerprints compare them. On an Ascend NPU the graph
backend is torchair's (``torchair.get_npu_backend``, which torch_npu's documentation pairs with
``dynamic=False``); elsewhere inductor with dynamic shapes, so each new prompt length does not
recompile. The compiled wrapper shares the eager model's weights: both modes fit in memory at once.
"""

from __future__ import annotations

import time

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.torch_backend import torch

MODES = ("eager", "compiled")


def resolve_backend(name: str, device_kind: str) -> str:
    """'auto' → 'torchair' on an NPU, 'inductor' elsewhere; any other name as given."""
    if name == "auto":
        return "torchair" if device_kind == "npu" else "inductor"
    return name


def compiled(model, backend: str):
    """The model's forward through torch.compile with ``backend`` (a name, or 'torchair')."""
    if backend == "torchair":
        try:
            import torchair
        except ImportError:
            raise LLMSetupError(
                "--llm-graph-mode compiled on an NPU needs torchair (pip install torchair, matching torch_npu), "
                "or pass --llm-compile-backend NAME"
            ) from None
        return torch.compile(model, backend=torchair.get_npu_backend(compiler_config=torchair.CompilerConfig()))
    return torch.compile(model, backend=backend, dynamic=True)


def timed_first_call(call) -> float:
    """Seconds of the first call through a compiled model: tracing, compilation or capture, and the run."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start
