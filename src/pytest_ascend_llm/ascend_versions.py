"""CANN and Ascend driver versions read from the files the installers write (no torch_npu needed)."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_TOOLKIT_HOME = Path("/usr/local/Ascend/ascend-toolkit/latest")
DEFAULT_DRIVER_INFO = Path("/usr/local/Ascend/driver/version.info")
_VERSION_LINE = re.compile(
    r"^\s*(?:version|toolkit_version|Version|runtime_running_version)\s*=\s*\[?([^\]\s:]+)", re.M
)


def toolkit_home() -> Path:
    for variable in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"):
        if os.environ.get(variable):
            return Path(os.environ[variable])
    return DEFAULT_TOOLKIT_HOME


def _first_version(path: Path) -> str | None:
    try:
        match = _VERSION_LINE.search(path.read_text(errors="replace"))
    except OSError:
        return None
    return match.group(1) if match else None


def read_cann_version(home: Path | None = None) -> str | None:
    """From ``ascend_toolkit_install.info`` (``version=8.0.RC2``) or ``version.cfg`` under the toolkit home."""
    home = home or toolkit_home()
    candidates = [home / "ascend_toolkit_install.info", *sorted(home.glob("*/ascend_toolkit_install.info"))]
    candidates += [home / "version.cfg", *sorted(home.glob("*/version.cfg"))]
    for candidate in candidates:
        version = _first_version(candidate)
        if version:
            return version
    return None


def read_driver_version(path: Path | None = None) -> str | None:
    """From the driver's ``version.info`` (``Version=24.1.rc2``); $ASCEND_DRIVER_PATH overrides the folder."""
    if path is None:
        folder = os.environ.get("ASCEND_DRIVER_PATH")
        path = Path(folder) / "version.info" if folder else DEFAULT_DRIVER_INFO
    return _first_version(path)
