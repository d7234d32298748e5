"""pytest-ascend-llm: LLM deployment checks for Ascend NPUs, usable from Python and from pytest.

Importing the package imports nothing heavy: pytest loads it in every run of every project where it
is installed. torch arrives through ``pytest_ascend_llm.torch_backend`` (safe where torch_npu lacks
CANN) only when a module that computes something is imported; where torch_npu is installed, the first
``import torch`` by anyone goes the same safe way.
"""

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.torch_backend import guard_torch_import

guard_torch_import()

__all__ = ["LLMSetupError"]
__version__ = "0.1.0"
