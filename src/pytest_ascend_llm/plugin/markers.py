"""The device markers (``npu``, ``cuda``, ``accelerator``) and the skip wording for a test that cannot run.

Which tests wake the session, which run where, and what a skip says are pytest matters: the session
only knows its device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_ascend_llm.session import LLMSession

MARKERS = {
    "npu": "the Ascend device suite: runs on an NPU, or wherever --llm-device names a device; skips otherwise",
    "cuda": "needs a CUDA GPU (or a device named with --llm-device)",
    "accelerator": "needs an NPU or GPU (or a device named with --llm-device)",
}
MARKER_KINDS = {"npu": ("npu",), "cuda": ("cuda",), "accelerator": ("npu", "cuda")}
MODEL_FIXTURES = {"llm_engine", "llm_model", "llm_loaded", "llm_tokenizer", "llm_bench", "llm_outputs"}
LLM_FIXTURES = MODEL_FIXTURES | {"llm_session", "llm_env", "llm_device", "llm_memory", "llm_run"}


def register_markers(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def touches_model(item: pytest.Item) -> bool:
    return bool(MODEL_FIXTURES & set(getattr(item, "fixturenames", ())))


def wants_llm(item: pytest.Item) -> bool:
    """The test asks for an ``llm_*`` fixture or carries a device marker: the session wakes for it."""
    return bool(LLM_FIXTURES & set(getattr(item, "fixturenames", ()))) or any(
        item.get_closest_marker(marker) for marker in MARKERS
    )


def runs_marker(llm: LLMSession, marker: str) -> bool:
    """Marked tests run on their device kind, anywhere the user named a device explicitly, and against
    a server (whose device is the one under test: the user chose it by pointing the suite there)."""
    return llm.serves_over_http or llm.settings.device.explicit or llm.device.kind in MARKER_KINDS[marker]


def skip_reason(llm: LLMSession, marker: str) -> str:
    if marker == "npu":
        why = llm.npu_problem or "auto chose another device"
        return f"no usable Ascend NPU: {why}; to run this suite elsewhere pass --llm-device cpu or cuda"
    return f"no {marker} device (running on {llm.device}); pass --llm-device to run it here anyway"


STARTUP_MODULE = "pytest_ascend_llm.suite.test_startup"


def startup_first(items: list[pytest.Item]) -> None:
    """Move the start-up cases to the front (in place, order otherwise kept): they need an engine that has
    served nothing, so they measure the first request, not a warm one."""
    first = [item for item in items if getattr(getattr(item, "module", None), "__name__", None) == STARTUP_MODULE]
    if first and items[: len(first)] != first:
        items[:] = first + [item for item in items if item not in first]


def unrunnable_marker(item: pytest.Item, llm: LLMSession) -> str | None:
    """The skip reason of the first device marker this session cannot run, or None."""
    for marker in MARKERS:
        if item.get_closest_marker(marker) and not runs_marker(llm, marker):
            return skip_reason(llm, marker)
    return None
