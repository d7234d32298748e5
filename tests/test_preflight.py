"""Bad input is refused before torch loads, and an option the chosen engine ignores is a warning, in real
pytest processes (``-X importtime`` shows what was imported before the one-line error)."""

from __future__ import annotations

import fnmatch
import subprocess
import sys

import pytest

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.preflight import check_before_torch, unused_options
from pytest_ascend_llm.settings import Settings


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--llm-engine", "openai"],
            "ERROR: --llm-engine openai needs --llm-endpoint URL (e.g. http://127.0.0.1:8000)",
        ),
        (["--llm-model", "/nonexistent"], "ERROR: --llm-model: model path /nonexistent does not exist: *"),
        (["--llm-model", "{empty}"], "ERROR: --llm-model: * holds no model (config.json missing): *"),
        (["--llm-endpoint", "not-a-url"], "ERROR: --llm-endpoint 'not-a-url': give the server's URL, e.g. http*"),
        (["--llm-device", "tpu"], "ERROR: --llm-device: unknown device 'tpu'*"),
    ],
    ids=["openai-without-endpoint", "missing-model", "empty-model-folder", "endpoint-not-a-url", "unknown-device"],
)
def test_bad_input_is_one_line_before_torch_is_imported(tmp_path, args, error):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [arg.format(empty=empty) for arg in args]
    command = [sys.executable, "-X", "importtime", "-m", "pytest", "--pyargs", "pytest_ascend_llm.suite", *args]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time")]
    assert "torch._C" not in imported and "pytest_ascend_llm.session" not in imported
    messages = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("import time")]
    assert len(messages) == 1 and fnmatch.fnmatch(messages[0], error), messages


def test_options_the_engine_does_not_use_are_warnings_naming_the_engine_that_would():
    settings = Settings.from_values(
        {"endpoint": "http://127.0.0.1:8000", "server_args": "--enforce-eager", "soak_window": "5"},
        {"endpoint": "--llm-endpoint", "server_args": "ASCEND_LLM_SERVER_ARGS", "soak_window": "--llm-soak-window"},
    )
    assert unused_options(settings) == [
        "--llm-endpoint has no effect with --llm-engine transformers: it is for --llm-engine openai",
        "ASCEND_LLM_SERVER_ARGS has no effect with --llm-engine transformers: it is for --llm-engine vllm-server or "
        "sglang-server",
        "--llm-soak-window has no effect without --llm-soak-seconds S",
    ]
    served = Settings.from_values({"engine": "openai", "endpoint": "http://h:1"}, {"endpoint": "--llm-endpoint"})
    assert check_before_torch(served) == []
    with pytest.raises(LLMSetupError, match="does not exist"):
        check_before_torch(Settings.from_values({"draft_model": "/nonexistent"}))


def test_the_warning_is_in_the_header_of_a_real_run(pytester):
    result = pytester.runpytest(
        "--pyargs", "pytest_ascend_llm.suite", "--llm-device", "cpu", "--llm-endpoint", "http://127.0.0.1:9",
        "-k", "stack", "-p", "no:cacheprovider",
    )  # fmt: skip
    warning = "ascend-llm: warning: --llm-endpoint has no effect with --llm-engine transformers: it is for --llm-engine"
    result.stdout.fnmatch_lines([f"{warning} openai"])


def test_requiring_a_device_this_host_lacks_stops_the_run_in_one_line(pytester):
    result = pytester.runpytest("--pyargs", "pytest_ascend_llm.suite", "-m", "npu", "--llm-require-device", "npu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --llm-require-device npu: this run would use cpu (torch_npu is not installed*"]
    )
    done = pytester.runpytest("--pyargs", "pytest_ascend_llm.suite", "-k", "stack", "--llm-require-device", "cpu")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    done.stderr.fnmatch_lines(["ERROR: --llm-require-device 'cpu': use one of npu, cuda, accelerator"])
