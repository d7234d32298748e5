"""Where the doctor's rules come from: the documentation pages and source files its checks and table rows cite.

Why one module: the same pages back checks of several topics, so their addresses and the revisions they were read at
are written once. Pages were read at these revisions: torch_npu docs and source at Ascend/pytorch master 9e73e708
(older branches v2.1.0 to v2.12.0 where noted), vllm-ascend at 182b75ea, CANN pages on hiascend.com (8.0 to 9.0
editions), SGLang docs on docs.sglang.io.
"""

from __future__ import annotations

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


def torch_npu_doc(path: str) -> str:
    """A page of torch_npu's environment-variable docs, e.g. ``op_execution/TASK_QUEUE_ENABLE.md``."""
    return TORCH_NPU_DOCS + path


def cann_doc(path: str) -> str:
    """A page of the CANN documentation on hiascend.com."""
    return CANN_ENV + path
