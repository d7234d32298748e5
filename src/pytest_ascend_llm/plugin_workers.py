"""pytest-xdist: one worker per device. ``-n auto`` starts one worker per visible NPU (or GPU), each
worker sees only its own device (ASCEND_RT_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES, set before any
conftest imports torch, within any list the user set), and more workers than devices is refused.

Only runs that ask for this plugin (an --llm-* option, an ASCEND_LLM_* variable, or this package's
suite on the command line) are touched: other projects' xdist runs on a GPU host keep their devices.
"""

from __future__ import annotations

import os

import pytest

from pytest_ascend_llm.errors import LLMSetupError


def _asks_for_us(args: list[str]) -> bool:
    named = any(str(arg).startswith("--llm-") or "pytest_ascend_llm" in str(arg) for arg in args)
    return named or any(name.startswith("ASCEND_LLM_") for name in os.environ)


def _requested_device(args: list[str]) -> str | None:
    for index, arg in enumerate(args):
        if arg.startswith("--llm-device="):
            return arg.split("=", 1)[1]
        if arg == "--llm-device" and index + 1 < len(args):
            return args[index + 1]
    return os.environ.get("ASCEND_LLM_DEVICE")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """In an xdist worker, before conftests (and torch) load: narrow the visible devices to this worker's."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or not _asks_for_us(args):
        return
    from pytest_ascend_llm.devices.workers import VISIBLE, accelerator_kind, device_for_worker, visible_devices

    kind = accelerator_kind(_requested_device(args))
    if kind is None:
        return
    devices = visible_devices(kind)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    try:
        os.environ[VISIBLE[kind]] = device_for_worker(kind, worker, workers, devices)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per visible device of the kind this run uses (None: xdist's own rule)."""
    if not _asks_for_us(config.invocation_params.args):
        return None
    from pytest_ascend_llm.devices.workers import accelerator_kind, visible_devices

    kind = accelerator_kind(_requested_device(list(config.invocation_params.args)))
    return len(visible_devices(kind)) or None if kind else None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """On the controller: refuse more workers than devices before any worker starts."""
    workers = getattr(config.option, "numprocesses", None)
    args = list(config.invocation_params.args)
    if hasattr(config, "workerinput") or not isinstance(workers, int) or workers < 1 or not _asks_for_us(args):
        return
    from pytest_ascend_llm.devices.workers import accelerator_kind, check_worker_count, visible_devices

    kind = accelerator_kind(_requested_device(args))
    if kind is not None:
        try:
            check_worker_count(kind, workers, visible_devices(kind))
        except LLMSetupError as error:
            raise pytest.UsageError(str(error)) from None
