"""Package attributes that import their module on first use (PEP 562).

pytest loads this plugin in every run where it is installed; re-exports through ``__getattr__`` keep
``import pytest_ascend_llm.devices.detect`` and friends from importing torch as a side effect.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` resolving each name in ``homes`` from ``package.<home module>``."""

    def __getattr__(name: str) -> object:
        if name in homes:
            return getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
