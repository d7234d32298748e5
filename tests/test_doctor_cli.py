"""`pytest-ascend-llm doctor` against the stand-in npu-smi / nvidia-smi printing recorded real outputs,
and the CPU-fallback collection in a real pytest run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytest_ascend_llm.cli import main

DATA = Path(__file__).parent / "data"
WATCHED = ("ASCEND_LAUNCH_BLOCKING", "CUDA_LAUNCH_BLOCKING", "TASK_QUEUE_ENABLE", "PYTORCH_NPU_ALLOC_CONF")


@pytest.fixture
def host(monkeypatch):
    """The stand-in tools first on PATH, and none of the variables these tests set left from outside."""
    monkeypatch.setenv("PATH", f"{DATA / 'bin'}:{os.environ['PATH']}")
    for name in WATCHED:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


HOSTS = DATA / "hosts"  # /proc/loadavg of an idle host and of one with a load of 64


def _doctor(capsys, *args: str, root: Path = HOSTS / "idle") -> tuple[int, dict]:
    status = main(["doctor", "--json", "--no-stack", "--host-root", str(root), *args])
    return status, json.loads(capsys.readouterr().out)


def test_an_idle_healthy_host_is_ok_to_benchmark(host, capsys):
    host.setenv("FAKE_NPU_SMI_FILE", str(DATA / "npu_smi" / "910b3_24.1.0.3_8x_no_process_table.txt"))
    host.setenv("PYTORCH_NPU_ALLOC_CONF", "expandable_segments:True")
    status, diagnosis = _doctor(capsys, "--device", "npu")
    assert status == 0 and diagnosis["ok_to_benchmark"] and len(diagnosis["inventory"]["cards"]) == 8
    conf = next(f for f in diagnosis["environment"] if f["topic"] == "PYTORCH_NPU_ALLOC_CONF")
    assert conf["level"] == "ok" and conf["source"].startswith("https://")


def test_a_busy_card_and_launch_blocking_are_named_and_exit_1(host, capsys):
    host.setenv("FAKE_NPU_SMI_FILE", str(DATA / "npu_smi" / "910b1_23.0.rc3.3_2x_full_busy.txt"))
    host.setenv("ASCEND_LAUNCH_BLOCKING", "1")
    status, diagnosis = _doctor(capsys, "--device", "npu")
    assert status == 1 and not diagnosis["ok_to_benchmark"]
    assert any(line.startswith("busy: process ") for line in diagnosis["blocking"])
    assert any("ASCEND_LAUNCH_BLOCKING" in line for line in diagnosis["blocking"])


def test_a_host_loaded_above_its_cores_is_not_ok(host, capsys):
    host.setenv("FAKE_NPU_SMI_FILE", str(DATA / "npu_smi" / "910b3_24.1.0.3_8x_no_process_table.txt"))
    status, diagnosis = _doctor(capsys, "--device", "npu", root=HOSTS / "busy")
    assert status == 1 and not diagnosis["ok_to_benchmark"]
    [busy] = [line for line in diagnosis["blocking"] if line.startswith("busy host: ")]
    assert busy.startswith("busy host: 1-min load average 64.20 on ") and busy.endswith("benchmark on an idle host)")
    assert diagnosis["host_load"]["others_cores"] is None, "an injected root is not this host: no process sample"


def test_another_process_burning_a_core_on_this_host_is_named(capsys):
    import subprocess
    import sys

    from pytest_ascend_llm.doctor.host_load import read_host_load

    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        load = read_host_load(sample_seconds=1.0)
    finally:
        burner.kill()
        burner.wait()
    assert load.others_cores is not None and load.others_cores > 0.5
    assert "other processes use " in load.busy_reason()


def test_an_unhealthy_card_blocks(host, capsys):
    host.setenv("FAKE_NPU_SMI_FILE", str(DATA / "npu_smi" / "310b4_23.0.0_alarm.txt"))
    status, diagnosis = _doctor(capsys, "--device", "npu")
    assert status == 1 and "health: card 0 (310B4): Alarm" in diagnosis["blocking"]


def test_a_failing_npu_smi_is_one_line_and_not_a_crash(host, capsys):
    host.setenv("FAKE_NPU_SMI_EXIT", "255")
    host.setenv("FAKE_NPU_SMI_STDERR", "dcmi module initialize failed. ret is -8005")
    status = main(["doctor", "--no-stack", "--device", "npu", "--host-root", str(HOSTS / "idle")])
    screen = capsys.readouterr().out
    assert status == 0
    assert "cards: unavailable (npu-smi info failed with exit code 255: dcmi module initialize failed" in screen
    assert "OK to benchmark here." in screen


def test_nvidia_cards_through_nvidia_smi(host, capsys):
    gpus = sorted((DATA / "nvidia_smi").glob("*gpus*.csv"))
    apps = sorted((DATA / "nvidia_smi").glob("*apps*.csv"))
    host.setenv("FAKE_NVIDIA_SMI_GPUS_FILE", str(gpus[0]))
    host.setenv("FAKE_NVIDIA_SMI_APPS_FILE", str(apps[0]))
    status, diagnosis = _doctor(capsys, "--device", "cuda")
    assert diagnosis["inventory"]["tool"] == "nvidia-smi" and diagnosis["inventory"]["cards"]
    assert status == (1 if diagnosis["blocking"] else 0)


def test_cpu_fallback_warnings_printed_by_model_tests_are_collected(pytester):
    """torch_npu writes its warning to stderr from C++; the plugin keeps what model tests wrote there."""
    pytester.makepyfile(
        """
        import sys
        from pytest_ascend_llm.doctor.cpu_fallback import fallback_operators

        def test_a_model_test_that_hit_a_fallback(llm_session):
            sys.stderr.write("[W1130 14:02:11.123 VariableFallbackKernel.cpp:250] Warning: CAUTION: The operator "
                             "'aten::fmax.out' is not currently supported on the NPU backend and will fall back to "
                             "run on the CPU. This may have performance implications. (function npu_cpu_fallback)\\n")

        def test_the_session_saw_it(llm_run):
            assert fallback_operators(llm_run.stderr_seen) == ["aten::fmax.out"]
        """
    )
    pytester.runpytest("--llm-device", "cpu", "-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(passed=2)
