"""pytest-xdist: one worker per device. ``-n auto`` starts one worker per visible NPU (or GPU), each
worker sees only its own device (ASCEND_RT_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES, set before any
conftest imports torch, within any list the user set), and more workers than devices is refused.

Only runs that ask for this plugin are touched: other projects' xdist runs on a GPU host keep their
devices. The device logic itself is in ``devices.workers``; this is its pytest side.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from pytest_ascend_llm.errors import LLMSetupError


def requested_device(args: Sequence[str]) -> str | None:
    """--llm-device from the raw command line (options are not parsed yet), else its variable."""
    for index, arg in enumerate(args):
        if arg.startswith("--llm-device="):
            return arg.split("=", 1)[1]
        if arg == "--llm-device" and index + 1 < len(args):
            return args[index + 1]
    return os.environ.get("ASCEND_LLM_DEVICE")


def narrow_visible_devices(args: Sequence[str]) -> None:
    """In an xdist worker, before conftests (and torch) load: narrow the visible devices to this worker's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    from pytest_ascend_llm.devices.visible import VISIBLE
    from pytest_ascend_llm.devices.workers import accelerator_kind, device_for_worker, visible_devices

    kind = accelerator_kind(requested_device(args))
    if kind is None:
        return
    devices = visible_devices(kind)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    try:
        os.environ[VISIBLE[kind]] = device_for_worker(kind, worker, workers, devices)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


def auto_worker_count(args: Sequence[str]) -> int | None:
    """``-n auto``: one worker per visible device of the kind this run uses (None: xdist's own rule)."""
    from pytest_ascend_llm.devices.workers import accelerator_kind, visible_devices

    kind = accelerator_kind(requested_device(args))
    return len(visible_devices(kind)) or None if kind else None


def refuse_too_many_workers(config: pytest.Config, args: Sequence[str]) -> None:
    """On the controller: refuse more workers than devices before any worker starts."""
    workers = getattr(config.option, "numprocesses", None)
    if hasattr(config, "workerinput") or not isinstance(workers, int) or workers < 1:
        return
    from pytest_ascend_llm.devices.workers import accelerator_kind, check_worker_count, visible_devices

    kind = accelerator_kind(requested_device(args))
    if kind is not None:
        try:
            check_worker_count(kind, workers, visible_devices(kind))
        except LLMSetupError as error:
            raise pytest.UsageError(str(error)) from None
