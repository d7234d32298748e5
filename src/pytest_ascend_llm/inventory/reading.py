"""Read the cards: run the vendor tool and parse what it printed, in one call that fails only one way.

This is the one module that knows both how to run a tool (`tools`) and how to read its output (the
parsers `npu_smi`, `nvidia_smi`); callers (the session, the power sampler, the doctor) use it and the
records, never the parsers' command lines. Every failure, a parse error included, is `InventoryUnavailable`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_ascend_llm.inventory import npu_smi, nvidia_smi
from pytest_ascend_llm.inventory.records import Inventory, InventoryUnavailable
from pytest_ascend_llm.inventory.tools import run_tool

KINDS = ("npu", "cuda")
Parsed = TypeVar("Parsed")


def read_inventory(kind: str, run: Callable[..., Any] = subprocess.run, timeout: float = 10) -> Inventory:
    """Run `npu-smi info` (kind "npu") or the two nvidia-smi CSV queries (kind "cuda") and parse them.

    Raises InventoryUnavailable, never anything else, when the tool is missing, fails, hangs or prints
    something the parser does not understand; an unknown `kind` is a caller's bug (ValueError).
    """
    if kind == "npu":
        text = run_tool(npu_smi.INFO_COMMAND, run, timeout)
        return _parsed("npu-smi info", lambda: npu_smi.parse_npu_smi_info(text))
    if kind == "cuda":
        gpus = run_tool(nvidia_smi.GPU_QUERY, run, timeout)
        apps = run_tool(nvidia_smi.APPS_QUERY, run, timeout)
        return _parsed("nvidia-smi", lambda: nvidia_smi.parse_nvidia_smi(gpus, apps))
    raise ValueError(f"unknown device kind {kind!r}: expected one of {', '.join(KINDS)}")


def read_npu_usages(
    npu_id: int, chip: int = 0, run: Callable[..., Any] = subprocess.run, timeout: float = 10
) -> tuple[npu_smi.NpuUsages, ...]:
    """Run `npu-smi info -t usages -i N -c C`; InventoryUnavailable on a missing, failing or garbled tool."""
    text = run_tool(["npu-smi", "info", "-t", "usages", "-i", str(npu_id), "-c", str(chip)], run, timeout)
    return _parsed("npu-smi info -t usages", lambda: npu_smi.parse_npu_smi_usages(text))


def _parsed(command: str, parse: Callable[[], Parsed]) -> Parsed:
    try:
        return parse()
    except ValueError as error:
        raise InventoryUnavailable(f"{command} output not understood: {error}") from None
