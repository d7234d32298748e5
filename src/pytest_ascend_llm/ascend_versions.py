"""CANN and Ascend driver versions read from the files their installers write.

Reading files works where torch_npu is missing or cannot load, which is exactly when a report most
needs to say which CANN and driver the machine has.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_TOOLKIT_HOMES = (Path("/usr/local/Ascend/ascend-toolkit/latest"), Path("/usr/local/Ascend/cann"))
DEFAULT_DRIVER_INFO = Path("/usr/local/Ascend/driver/version.info")
# Keys in order of preference; version.cfg values look like "[7.6.0.1.220:8.0.0]" (inner:public).
CANN_KEYS = ("version", "toolkit_version", "Version", "toolkit_running_version", "runtime_running_version")
DRIVER_KEYS = ("Version", "version", "package_version")
_KEY_VALUE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$", re.M)


def toolkit_homes() -> list[Path]:
    """$ASCEND_TOOLKIT_HOME, else $ASCEND_HOME_PATH, else the installers' default folders."""
    for variable in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"):
        if os.environ.get(variable):
            return [Path(os.environ[variable])]
    return list(DEFAULT_TOOLKIT_HOMES)


def _version_in(path: Path, keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` set in a ``key=value`` file; '[inner:public]' yields 'public'."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    values: dict[str, str] = {}
    for key, value in _KEY_VALUE.findall(text):
        values.setdefault(key, value)
    for key in keys:
        value = values.get(key, "").strip("[]").rsplit(":", 1)[-1].strip()
        if value:
            return value
    return None


def read_cann_version(home: Path | None = None) -> str | None:
    """From ``ascend_toolkit_install.info`` (``version=8.0.RC2``) or ``version.cfg`` under the home."""
    for folder in [Path(home)] if home is not None else toolkit_homes():
        for name in ("ascend_toolkit_install.info", "version.cfg"):
            for candidate in [folder / name, *sorted(folder.glob(f"*/{name}"))]:
                version = _version_in(candidate, CANN_KEYS)
                if version:
                    return version
    return None


def read_driver_version(path: Path | None = None) -> str | None:
    """From the driver's ``version.info`` (``Version=24.1.rc2``).

    ``path`` (or $ASCEND_DRIVER_PATH) may name the file or the driver folder that holds it.
    """
    if path is None:
        override = os.environ.get("ASCEND_DRIVER_PATH")
        path = Path(override) if override else DEFAULT_DRIVER_INFO
    path = Path(path)
    return _version_in(path / "version.info" if path.is_dir() else path, DRIVER_KEYS)
