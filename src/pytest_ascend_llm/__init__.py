"""pytest-ascend-llm: LLM deployment checks for Ascend NPUs, usable from Python and from pytest.

Importing this package never imports torch or touches a device; call ``prepare_torch()`` before the
first ``import torch`` on a machine where torch_npu may be installed without CANN.
"""

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.torch_backend import NpuBackendStatus, prepare_torch

__all__ = ["LLMSetupError", "NpuBackendStatus", "prepare_torch"]
__version__ = "0.1.0"
