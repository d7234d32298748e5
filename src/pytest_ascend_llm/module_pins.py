"""Keep the libraries an LLM session imported alive across in-process pytest runs.

pytester's ``runpytest_inprocess`` restores ``sys.modules`` after every run, so what a run imported is
imported again by the next. torch registers operator libraries and numpy initialises its C core once
per process; a second import raises (``Only a single TORCH_LIBRARY can be used ...``, ``cannot load
module more than once per process``). pytester preserves zope and readline for the same reason. We pin
the installed libraries a session imported and put them back when the next session wakes; user code
(test files, conftests) is never pinned.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path
from types import ModuleType

_LIBRARY_ROOTS = tuple(
    {str(Path(sysconfig.get_paths()[key]).resolve()) for key in ("purelib", "platlib", "stdlib", "platstdlib")}
)
_OWN_ROOT = str(Path(__file__).resolve().parent)
_OWN_SUITE = __package__ + ".suite"
_pinned: dict[str, ModuleType] = {}
_present_at_wake: set[str] = set()


def _is_library(name: str, module: ModuleType) -> bool:
    """Installed or built-in code, and this package's own modules except the shipped test files."""
    if name == _OWN_SUITE or name.startswith(_OWN_SUITE + "."):
        return False
    location = getattr(module, "__file__", None)
    if location is None:
        return getattr(module, "__spec__", None) is not None  # built-ins and namespace packages
    path = str(Path(location).resolve())
    return path.startswith(_LIBRARY_ROOTS) or path.startswith(_OWN_ROOT)


def restore_pinned() -> None:
    """Put back pinned modules that a sys.modules restore removed (called when a session wakes)."""
    for name, module in _pinned.items():
        sys.modules.setdefault(name, module)
    _present_at_wake.clear()
    _present_at_wake.update(sys.modules)


def pin_imported() -> None:
    """Remember the library modules imported since the session woke (called when it ends)."""
    for name, module in list(sys.modules.items()):
        if name not in _present_at_wake and module is not None and _is_library(name, module):
            _pinned[name] = module
