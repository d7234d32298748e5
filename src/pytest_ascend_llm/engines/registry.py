"""Engine names → factories. Third parties add engines through the ``pytest_ascend_llm.engines``
entry-point group (a callable taking an ``EngineContext`` — settings, device, model source, loaded
model — and returning an Engine)."""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_ascend_llm.engines.base import Engine
    from pytest_ascend_llm.engines.context import EngineContext

ENTRY_POINT_GROUP = "pytest_ascend_llm.engines"
BUILTIN_ENGINES = {
    "transformers": "pytest_ascend_llm.engines.transformers_engine:from_session",
    "openai": "pytest_ascend_llm.engines.openai_engine:from_session",
    "vllm-server": "pytest_ascend_llm.engines.openai_engine:vllm_from_session",
    "sglang-server": "pytest_ascend_llm.engines.openai_engine:sglang_from_session",
    "sglang": "pytest_ascend_llm.engines.sglang_engine:from_session",
}
SERVER_ENGINES = frozenset({"openai", "vllm-server", "sglang-server"})  # the model runs behind HTTP


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN_ENGINES)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(entry.name, entry.value)
    return targets


def engine_names() -> tuple[str, ...]:
    return tuple(sorted(_targets()))


def is_known_engine(name: str) -> bool:
    """Built-in names answer without scanning installed packages' entry points."""
    return name in BUILTIN_ENGINES or name in _targets()


def engine_factory(name: str) -> Callable[[EngineContext], Engine]:
    module_name, _, attribute = _targets()[name].partition(":")
    return getattr(importlib.import_module(module_name), attribute)
