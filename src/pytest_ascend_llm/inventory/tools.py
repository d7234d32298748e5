"""Running a vendor tool (`npu-smi`, `nvidia-smi`) and naming in one line why it gave no output.

A missing or failing tool is an expected situation on CI and CPU machines: `run_tool` turns every such
case into `InventoryUnavailable`, whose message is one line saying why. It knows no vendor's output
format, so the parsers and `reading` can both use it without depending on each other.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from pytest_ascend_llm.inventory.records import InventoryUnavailable


def first_line(text: str | None) -> str:
    """The first non-blank line, trimmed to 200 characters: enough to name an error, never a dump."""
    for line in (text or "").splitlines():
        if line.strip():
            return " ".join(line.split())[:200]
    return ""


def run_tool(argv: Sequence[str], run: Callable[..., Any] = subprocess.run, timeout: float = 10) -> str:
    """The tool's stdout, or InventoryUnavailable naming why there is none (missing, failed, timed out)."""
    command = " ".join(argv[:2])
    try:
        done = run(list(argv), capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    except FileNotFoundError:
        raise InventoryUnavailable(f"{argv[0]} is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise InventoryUnavailable(f"{command} timed out after {timeout:g} s") from None
    except OSError as error:
        raise InventoryUnavailable(f"{argv[0]} could not be run: {error}") from None
    if done.returncode != 0:
        detail = first_line(done.stderr) or first_line(done.stdout) or "no output"
        raise InventoryUnavailable(f"{command} failed with exit code {done.returncode}: {detail}")
    return done.stdout or ""
