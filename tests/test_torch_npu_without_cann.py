"""A half-installed Ascend box: the real torch-npu wheel without CANN. `.ci/run` runs this file in a
second virtual environment that has torch-npu installed; elsewhere it skips."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch_npu") is None,
    reason="torch_npu is not installed here; .ci/run runs these in a venv with the real torch-npu wheel",
)
SUITE = ("--pyargs", "pytest_ascend_llm.suite", "-rs", "-p", "no:cacheprovider")


def test_plain_import_torch_really_fails_here(monkeypatch):
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    completed = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True)
    assert completed.returncode != 0 and "TORCH_DEVICE_BACKEND_AUTOLOAD=0" in completed.stderr


def test_suite_skips_naming_the_missing_library_and_both_fixes(pytester, monkeypatch):
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    result = pytester.runpytest_subprocess(*SUITE)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*torch_npu * is installed but cannot load (libhccl.so*set_env.sh*export TORCH_DEVICE_BACKEND_AUTOLOAD=0*"]
    )


def test_with_autoload_off_the_reason_only_asks_for_cann(pytester, monkeypatch):
    monkeypatch.setenv("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
    result = pytester.runpytest_subprocess(*SUITE)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*torch_npu * is installed but cannot load (libhccl.so*set_env.sh*to use the NPU*"])
    assert "export TORCH_DEVICE_BACKEND_AUTOLOAD" not in result.stdout.str()


def test_cpu_run_still_works_and_a_conftest_importing_torch_does_not_crash(pytester, monkeypatch):
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    pytester.makeconftest("import torch\n")
    pytester.makepyfile(test_user="def test_device(llm_device):\n    assert llm_device.kind == 'cpu'\n")
    result = pytester.runpytest_subprocess("--llm-device", "cpu")
    result.assert_outcomes(passed=1)


def test_the_whole_compatibility_suite_runs_on_cpu_although_transformers_would_import_torch_npu(pytester, monkeypatch):
    """transformers imports torch_npu unguarded when it is installed; model loading must survive it."""
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    result = pytester.runpytest_subprocess(
        "--pyargs", "pytest_ascend_llm.suite.test_compatibility", "--llm-device", "cpu", "-p", "no:cacheprovider"
    )
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes and outcomes["passed"] >= 12, outcomes


def test_asking_for_the_npu_is_a_one_line_usage_error(pytester, monkeypatch):
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    result = pytester.runpytest_subprocess(*SUITE, "--llm-device", "npu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llm-device npu: no NPU device is usable (torch_npu * cannot load*"])
    assert "Traceback" not in result.stderr.str()


def test_importing_the_package_routes_a_later_plain_import_torch_the_safe_way(monkeypatch):
    """The package imports no torch itself; the first `import torch` by anyone afterwards still works
    here, and torch keeps its own module spec."""
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    code = (
        "import sys, pytest_ascend_llm\n"
        "assert 'torch' not in sys.modules\n"
        "import torch, torch.nn\n"
        "print(torch.__spec__.origin.endswith('torch/__init__.py'))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "True"


def test_the_doctor_is_not_ok_where_torch_npu_cannot_load(monkeypatch):
    """On a host that is otherwise fine (an idle /proc), a torch_npu that cannot load blocks benchmarking."""
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    idle = Path(__file__).parent / "data" / "hosts" / "idle"
    code = "from pytest_ascend_llm.cli import main; raise SystemExit(main(['doctor', '--json', '--host-root', %r]))"
    completed = subprocess.run([sys.executable, "-c", code % str(idle)], capture_output=True, text=True)
    assert completed.returncode == 1, completed.stdout[-2000:] + completed.stderr[-2000:]
    diagnosis = json.loads(completed.stdout)
    [broken] = [line for line in diagnosis["blocking"] if "torch_npu is installed but cannot load" in line]
    assert "libhccl.so" in broken and diagnosis["device_kind"] == "cpu"


def test_device_ci_that_requires_the_npu_stops_in_one_line(pytester, monkeypatch):
    """`-m npu` alone skips here (right for ordinary CI); with --llm-require-device npu it is an error."""
    monkeypatch.delenv("TORCH_DEVICE_BACKEND_AUTOLOAD", raising=False)
    result = pytester.runpytest_subprocess(*SUITE, "-m", "npu", "--llm-require-device", "npu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --llm-require-device npu: this run would use cpu (torch_npu * cannot load*"])
    assert "Traceback" not in result.stderr.str()
