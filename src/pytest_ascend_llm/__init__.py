"""pytest-ascend-llm: LLM deployment checks for Ascend NPUs, usable from Python and from pytest.

Where torch_npu is installed, importing this package first imports torch the safe way: on a box
without CANN a plain ``import torch`` raises, so it must happen here, before any submodule's.
"""

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.torch_backend import NpuBackendStatus, prepare_torch, torch_npu_installed

if torch_npu_installed():
    prepare_torch()

__all__ = ["LLMSetupError", "NpuBackendStatus", "prepare_torch"]
__version__ = "0.1.0"
