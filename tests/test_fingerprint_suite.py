"""The shipped fingerprint cases in real pytest sessions on the built-in model (CPU): a saved run, unchanged
reruns in fresh processes (identical), another dtype (drifted, or reported only), other weights (refused
unless asked), compiled against eager, and the what-changed line on every compare."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from pytest_ascend_llm.models.source import inspect_model_dir

SUITE = ("--pyargs", "pytest_ascend_llm.suite.test_fingerprint", "-p", "no:cacheprovider", "-p", "no:randomly")
CPU = ("--llm-device", "cpu")
SUBSET = ("-k", "fingerprint and (capital or arithmetic)")
COMPARE = "--benchmark-compare=0001"
PROMPTS = 6  # five fixed prompts and the long-context one
DIVERGENCE = re.compile(r"first divergence at output token \d+: '.*' before, '.*' now \(saved top-2 margin [\d.e+-]+\)")


def _summary(result, against: str = "eager vs compared run") -> str:
    lines = [line for line in result.outlines if f"ascend-llm outputs, {against}: " in line]
    assert len(lines) == 1, result.stdout.str()[-3000:]
    return lines[0].split(f"{against}: ", 1)[1]


def _changes(result) -> str:
    lines = [line for line in result.outlines if line.startswith("ascend-llm: against the compared run: ")]
    assert len(lines) == 1, result.stdout.str()[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A float32 run of every fingerprint case saved as 0001 (in its own process), for each test to compare
    with; comparing saves nothing, so the storage keeps this one run."""
    folder = tmp_path_factory.mktemp("fingerprints")
    storage = folder / "runs"
    command = [sys.executable, "-m", "pytest", *SUITE, *CPU, f"--benchmark-storage=file://{storage}"]
    done = subprocess.run([*command, "--benchmark-save=base"], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [run] = [json.loads(path.read_text()) for path in storage.rglob("*.json")]
    return storage, run


def _storage(pytester, saved) -> str:
    """A copy of the saved run under the test's own folder, so each test's compare reads its own copy."""
    copy = pytester.path / "runs"
    shutil.copytree(saved[0], copy)
    return f"--benchmark-storage=file://{copy}"


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    """Another checkpoint with the built-in model's tokenizer: a wider MLP, so other weights (and shapes)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from pytest_ascend_llm.torch_backend import torch

    builtin = inspect_model_dir(None)
    folder = tmp_path_factory.mktemp("other-weights")
    config = Qwen2Config.from_pretrained(builtin.path)
    config.intermediate_size *= 2
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(builtin.path / name, folder / name)
    return folder


def test_the_saved_run_holds_every_prompts_fingerprint(saved):
    _, run = saved
    outputs = {bench["name"]: bench["extra_info"]["llm_outputs"] for bench in run["benchmarks"]}
    assert len(outputs) == PROMPTS
    for name, output in outputs.items():
        [(mode, fingerprint)] = output["fingerprints"].items()
        assert mode == "eager", name
        assert len(fingerprint["tokens"]) == len(fingerprint["logprobs"]) == len(fingerprint["top"]) == 24, name
        assert all(
            len(top) == 5 and top[0][0] == token for top, token in zip(fingerprint["top"], fingerprint["tokens"])
        )
    assert run["machine_info"]["llm_stack"]["tokenizer_hash"] and run["machine_info"]["llm_stack"]["dtype"]


def test_unchanged_reruns_in_fresh_processes_are_identical(pytester, saved):
    """Twice, each in a fresh process: once from a copy under the test's folder, once from the saved run's
    own folder outside it (pytest-benchmark's compare warning once crashed on such a storage path)."""
    for storage in (_storage(pytester, saved), f"--benchmark-storage=file://{saved[0]}"):
        rerun = pytester.runpytest_subprocess(*SUITE, *CPU, storage, COMPARE)
        assert rerun.ret == 0, rerun.stdout.str()[-3000:]
        rerun.assert_outcomes(passed=PROMPTS)
        assert _summary(rerun).startswith(f"{PROMPTS} prompt(s): {PROMPTS} identical, 0 within tolerance, 0 tie flip")
        assert _summary(rerun).endswith("0 drifted; largest logprob difference 0")
        changes = _changes(rerun)
        assert changes.startswith("ascend-llm: against the compared run: changed: nothing; same: ")
        assert "dtype float32" in changes and "weights hash " in changes and "tokenizer hash " in changes


def test_another_dtype_drifts_and_fails_naming_where(pytester, saved):
    storage = _storage(pytester, saved)
    result = pytester.runpytest(*SUITE, *CPU, storage, COMPARE, "--llm-dtype", "bfloat16")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    changes = _changes(result)
    assert changes.startswith("ascend-llm: against the compared run: changed: dtype float32 → bfloat16; same: ")
    first = next(i for i, line in enumerate(result.outlines) if line.startswith("ascend-llm: against the compared"))
    assert first < next(i for i, line in enumerate(result.outlines) if "test session starts" in line)
    failures = [line for line in result.outlines if line.startswith("outputs drifted: ")]
    failed = result.parseoutcomes()["failed"]
    assert failed >= 1 and len(failures) == failed, result.stdout.str()[-3000:]
    assert all(re.match(r"outputs drifted: \w+: drifted, largest logprob difference ", line) for line in failures)
    assert any(DIVERGENCE.search(line) for line in failures), failures
    summary = re.fullmatch(
        r"6 prompt\(s\): 0 identical, (\d+) within tolerance, (\d+) tie flip, (\d+) drifted; .*", _summary(result)
    )
    assert summary is not None and int(summary[3]) == failed, _summary(result)


def test_drift_is_reported_but_does_not_fail_with_drift_fail_off(pytester, saved):
    storage = _storage(pytester, saved)
    result = pytester.runpytest(
        *SUITE, *CPU, *SUBSET, storage, COMPARE, "--llm-dtype", "bfloat16", "--llm-drift-fail", "off"
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert result.parseoutcomes()["passed"] == 2
    summary = re.fullmatch(
        r"2 prompt\(s\): 0 identical, 0 within tolerance, (\d) tie flip, (\d) drifted; .*", _summary(result)
    )
    assert summary is not None and int(summary[2]) >= 1, _summary(result)
    assert "outputs drifted" not in result.stdout.str()


def test_other_weights_are_not_compared_unless_asked(pytester, saved, other_weights):
    storage = _storage(pytester, saved)
    model = ("--llm-model", str(other_weights))
    refused = pytester.runpytest(*SUITE, *CPU, *SUBSET, storage, COMPARE, *model)
    assert refused.ret == 0, refused.stdout.str()[-3000:]
    assert refused.parseoutcomes()["passed"] == 2
    assert re.search(r"changed: weights hash \w+ → \w+; same: .*tokenizer hash", _changes(refused))
    [line] = [line for line in refused.outlines if line.startswith("ascend-llm outputs: not compared: ")]
    assert "the compared run used other weights" in line and "pass --llm-drift-across-models" in line
    assert "eager vs compared run" not in refused.stdout.str()

    across = pytester.runpytest(*SUITE, *CPU, *SUBSET, storage, COMPARE, *model, "--llm-drift-across-models")
    assert across.ret == pytest.ExitCode.TESTS_FAILED
    assert across.parseoutcomes()["failed"] == 2
    assert _summary(across).startswith("2 prompt(s): 0 identical, 0 within tolerance, 0 tie flip, 2 drifted")
    assert "not compared" not in across.stdout.str()
    assert any(DIVERGENCE.search(line) for line in across.outlines if line.startswith("outputs drifted: "))


def test_both_graph_modes_compare_compiled_with_eager_and_record_the_compile_time(pytester):
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        *SUITE, *CPU, "-k", "fingerprint and capital", "--llm-graph-mode", "both", "--llm-compile-backend", "eager",
        "--json-report", f"--json-report-file={report}",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.assert_outcomes(passed=2, deselected=result.parseoutcomes()["deselected"])
    assert _summary(result, "compiled vs eager").startswith("1 prompt(s): ")
    assert "0 drifted" in _summary(result, "compiled vs eager")
    properties = {
        test["nodeid"].rpartition("::")[2]: {
            key: value for entry in test["user_properties"] for key, value in entry.items()
        }
        for test in json.loads(report.read_text())["tests"]
    }
    compiled = properties["test_output_fingerprint_matches_the_compared_run[compiled-capital_question]"]
    eager = properties["test_output_fingerprint_matches_the_compared_run[capital_question]"]
    assert compiled["compile_seconds_compiled"] > 0 and compiled["fingerprint"]["mode"] == "compiled"
    assert eager["fingerprint"]["mode"] == "eager" and "compile_seconds_compiled" not in eager
    assert compiled["drift"]["verdict"] in ("identical", "within tolerance", "tie flip"), compiled["drift"]
