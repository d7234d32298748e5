"""Import torch safely where torch_npu is installed but CANN is not.

torch_npu registers a ``torch.backends`` entry point, so on a half-installed Ascend box a plain
``import torch`` raises. We import torch with autoloading off, then import torch_npu ourselves so
its failure becomes a one-line reason instead of a crash.

Every module of this package gets torch as ``from pytest_ascend_llm.torch_backend import torch``:
the first such import runs ``prepare_torch()``, so no import order can crash, and nothing imports
torch until a module that needs it is imported (the pytest plugin stays light).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch  # noqa: F401  (type checkers; at run time torch comes through __getattr__ below)

AUTOLOAD_VARIABLE = "TORCH_DEVICE_BACKEND_AUTOLOAD"
CANN_ENV_HINT = "source /usr/local/Ascend/ascend-toolkit/set_env.sh (the CANN toolkit)"


@dataclass(frozen=True)
class NpuBackendStatus:
    """Whether torch_npu is installed and loaded, and if not, why (one line with the fix)."""

    installed: bool
    loaded: bool
    version: str | None
    problem: str | None


_status: NpuBackendStatus | None = None


def torch_npu_installed() -> bool:
    """Whether torch_npu is importable in principle (found on the path), without importing it."""
    return importlib.util.find_spec("torch_npu") is not None


def _torch_npu_version() -> str | None:
    try:
        return importlib.metadata.version("torch-npu")
    except importlib.metadata.PackageNotFoundError:
        return None if importlib.util.find_spec("torch_npu") is None else "unknown"


def _load_failure(version: str, error: BaseException, autoload_was_off: bool) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    reason = f"torch_npu {version} is installed but cannot load ({first_line}): {CANN_ENV_HINT} to use the NPU"
    if autoload_was_off:
        return reason
    return (
        f"{reason}, or export {AUTOLOAD_VARIABLE}=0 to use this environment without an NPU "
        "(until then a plain `import torch` fails here)"
    )


def _hide_broken_torch_npu_from_transformers() -> None:
    """transformers' is_torch_npu_available() imports torch_npu unguarded whenever it is installed, so on
    a box without CANN every model load dies with the same ImportError. Tell it the NPU is unavailable,
    which is the truth, so CPU and CUDA runs still work there."""
    try:
        import transformers.utils as utils
        import transformers.utils.import_utils as import_utils
    except ImportError:
        return

    def npu_unavailable(check_device: bool = False) -> bool:
        return False

    import_utils.is_torch_npu_available = npu_unavailable
    utils.is_torch_npu_available = npu_unavailable


def prepare_torch() -> NpuBackendStatus:
    """Import torch (and torch_npu when installed) without crashing; idempotent."""
    global _status
    if _status is not None:
        return _status
    version = _torch_npu_version()
    if version is None:
        importlib.import_module("torch")
        _status = NpuBackendStatus(
            installed=False,
            loaded=False,
            version=None,
            problem="torch_npu is not installed (on an Ascend host: pip install torch-npu, or -e '.[npu]' from the "
            "clone)",
        )
        return _status
    autoload_was_off = os.environ.get(AUTOLOAD_VARIABLE, "1").strip().lower() in ("0", "false", "off")
    if "torch" not in sys.modules:
        previous = os.environ.get(AUTOLOAD_VARIABLE)
        os.environ[AUTOLOAD_VARIABLE] = "0"
        try:
            importlib.import_module("torch")
        finally:
            if previous is None:
                del os.environ[AUTOLOAD_VARIABLE]
            else:
                os.environ[AUTOLOAD_VARIABLE] = previous
    try:
        importlib.import_module("torch_npu")
    except Exception as error:  # ImportError for missing CANN libraries, RuntimeError from ACL init
        _status = NpuBackendStatus(True, False, version, _load_failure(version, error, autoload_was_off))
        _hide_broken_torch_npu_from_transformers()
        return _status
    _status = NpuBackendStatus(installed=True, loaded=True, version=version, problem=None)
    return _status


def __getattr__(name: str):
    """``from pytest_ascend_llm.torch_backend import torch``: torch, imported the safe way on first use."""
    if name == "torch":
        prepare_torch()
        return importlib.import_module("torch")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _PreparedTorchLoader:
    """Loads torch by running ``prepare_torch`` and handing the import system the module it imported.
    The work happens in ``create_module``, after the finder has returned: had the finder imported
    torch itself, importlib would see the module appear and execute torch's real spec a second time."""

    def create_module(self, spec):
        prepare_torch()
        module = sys.modules["torch"]
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        """Nothing to run: the module is complete. The import system stamped our spec on it; put back
        torch's own (its origin and search locations)."""
        module.__spec__ = self.real_spec


class _SafeTorchImport:
    """The first ``import torch`` anywhere in the process (a user's conftest, say) goes through
    ``prepare_torch``, so a half-installed Ascend box gets a working torch instead of a crash, while a
    run that never imports torch pays nothing."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch":
            return None
        _remove_guard()
        return importlib.util.spec_from_loader("torch", _PreparedTorchLoader())


def _remove_guard() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _SafeTorchImport)]


def guard_torch_import() -> None:
    """Where torch_npu is installed and torch not yet imported, route the first ``import torch`` through
    ``prepare_torch``. Imports nothing itself."""
    if "torch" in sys.modules or any(isinstance(f, _SafeTorchImport) for f in sys.meta_path):
        return
    if torch_npu_installed():
        sys.meta_path.insert(0, _SafeTorchImport())
