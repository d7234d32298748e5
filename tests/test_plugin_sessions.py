"""Real pytest sessions (pytester) over the shipped suite and over user-written tests."""

import json
import shutil
import subprocess
import sys

import pytest

from pytest_ascend_llm.models.source import inspect_model_dir
from pytest_ascend_llm.settings import Settings

SUITE = ("--pyargs", "pytest_ascend_llm.suite")


def _output(result) -> str:
    return "\n".join(result.outlines + result.errlines)


def test_default_run_without_an_npu_skips_the_suite_with_the_reason(pytester):
    result = pytester.runpytest(*SUITE, "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes["skipped"] >= 15 and "passed" not in outcomes and "failed" not in outcomes
    skipped = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skipped) == 1, "one reason, one line, however many tests it covers"
    assert "no usable Ascend NPU: torch_npu is not installed" in skipped[0] and "--llm-device cpu" in skipped[0]
    assert skipped[0].startswith(f"SKIPPED [{outcomes['skipped']}]")
    assert result.ret == 0


def test_cpu_run_passes_every_check_and_header_says_it_is_not_an_npu(pytester):
    result = pytester.runpytest("--pyargs", "pytest_ascend_llm.suite.test_compatibility", "--llm-device", "cpu", "-rs")
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes and outcomes["passed"] >= 12, outcomes
    result.stdout.fnmatch_lines(
        [
            "ascend-llm: device cpu (*; not an NPU, --llm-device given), model builtin:tiny-qwen2 *dtype float32*",
            "ascend-llm stack: torch *transformers*",
            "*quality probes need a trained model*",
        ]
    )
    skipped = [line for line in result.outlines if line.startswith("SKIPPED")]
    expected = ("quality probes", "torch_npu is not installed", "card health is read from npu-smi", "CPU fallback is")
    assert all(any(reason in line for reason in expected) for line in skipped), skipped


def _corrupt_copy(tmp_path):
    source = inspect_model_dir(None)
    folder = tmp_path / "corrupt"
    shutil.copytree(source.path, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder


def _needs_remote_code(tmp_path):
    """A model folder whose config names a model type only its own (absent) Python code defines."""
    folder = _corrupt_copy(tmp_path).with_name("remote")
    shutil.copytree(inspect_model_dir(None).path, folder)
    config = json.loads((folder / "config.json").read_text())
    config |= {"model_type": "my_custom_lm", "auto_map": {"AutoModelForCausalLM": "modeling_my.MyForCausalLM"}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


BAD_INPUTS = {
    "missing_path": (lambda tmp: ["--llm-model", str(tmp / "nope")], "*model path */nope does not exist*"),
    "folder_without_model": (lambda tmp: ["--llm-model", str(tmp)], "*holds no model (config.json missing)*"),
    "corrupt_weights": (lambda tmp: ["--llm-model", str(_corrupt_copy(tmp))], "*unreadable or corrupt*"),
    "unknown_device": (lambda tmp: ["--llm-device", "tpu"], "*unknown device 'tpu': use auto, npu*"),
    "absent_npu": (lambda tmp: ["--llm-device", "npu"], "*--llm-device npu: no NPU device is usable*"),
    "absent_device_index": (lambda tmp: ["--llm-device", "cuda:3"], "*--llm-device cuda:3: no CUDA device is usable*"),
    "missing_draft_model": (
        lambda tmp: ["--llm-device", "cpu", "--llm-draft-model", str(tmp / "nope")],
        "*--llm-draft-model: model path */nope does not exist*",
    ),
    "remote_code_not_trusted": (
        lambda tmp: ["--llm-model", str(_needs_remote_code(tmp)), "--llm-device", "cpu"],
        "*needs its own Python code*off by default: pass --llm-trust-remote-code if you trust that code",
    ),
    "spec_tolerance_above_one": (lambda tmp: ["--llm-spec-tolerance", "1.5"], "*--llm-spec-tolerance '1.5'*0 to 1"),
    "unknown_dtype": (lambda tmp: ["--llm-dtype", "float8"], "*unknown dtype 'float8': use one of auto, float16*"),
    "unknown_engine": (lambda tmp: ["--llm-engine", "mindie"], "*unknown engine 'mindie'*"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_a_usage_error(pytester, tmp_path, case):
    make_args, expected = BAD_INPUTS[case]
    result = pytester.runpytest(*SUITE, *make_args(tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {expected}"])
    assert "Traceback" not in _output(result)
    assert len([line for line in result.errlines if line.startswith("ERROR:")]) == 1


USER_TESTS = """
import pytest
from pytest_ascend_llm.engines import SamplingParams

SEEN = []

@pytest.mark.npu
def test_generates(llm_engine, llm_model):
    SEEN.append(id(llm_model))
    out = llm_engine.generate(["Hello"], SamplingParams(max_new_tokens=4, ignore_eos=True))[0]
    assert out.output_tokens == 4 and out.ttft > 0

@pytest.mark.parametrize("n", [1, 2, 3])
def test_model_is_shared(llm_model, llm_tokenizer, llm_device, n):
    SEEN.append(id(llm_model))
    assert next(llm_model.parameters()).device.type == llm_device.kind
    assert llm_tokenizer("hi")["input_ids"]

def test_one_model_object_across_tests():
    assert len(SEEN) == 4 and len(set(SEEN)) == 1

def test_environment_is_json_ready(llm_env):
    import json
    assert json.loads(json.dumps(llm_env.to_dict()))["torch"]
"""


def test_user_tests_share_one_model_load_across_the_session(pytester):
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("--llm-device", "cpu")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["ascend-llm: model builtin:tiny-qwen2 loaded 1 time(s) on cpu*"])


def test_options_come_from_environment_and_ini(pytester, monkeypatch):
    pytester.makepyfile(test_user=USER_TESTS)
    monkeypatch.setenv("ASCEND_LLM_DEVICE", "cpu")
    pytester.makeini("[pytest]\nllm_dtype = bfloat16\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["ascend-llm: device cpu*dtype bfloat16*"])


def test_markers_are_listed(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.npu: the Ascend device suite*", "@pytest.mark.accelerator:*"])


def test_secrets_in_the_environment_never_reach_the_report(pytester, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_topsecretvalue123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-topsecret456")
    pytester.makepyfile(
        test_env="def test_env(llm_env, record_property):\n    record_property('env', llm_env.to_dict())\n"
    )
    result = pytester.runpytest("--llm-device", "cpu", "--junitxml=report.xml", "-v")
    result.assert_outcomes(passed=1)
    text = _output(result) + (pytester.path / "report.xml").read_text()
    assert "topsecret" not in text


def test_out_of_memory_in_a_test_is_one_line_and_other_results_are_kept(pytester):
    pytester.makepyfile(
        test_oom="""
import torch

def test_fits(llm_engine, record_property):
    record_property("measured", 1.0)

def test_too_big(llm_engine, llm_device):
    torch.empty(2**62, dtype=torch.uint8, device=llm_device.torch_device)  # the real allocator refuses
"""
    )
    result = pytester.runpytest("--llm-device", "cpu", "--junitxml=report.xml")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*out of memory on cpu (peak * GiB before the failure; *): lower the batch size*"])
    assert "Traceback" not in result.stdout.str() and "torch.empty(" not in result.stdout.str()
    assert 'name="measured" value="1.0"' in (pytester.path / "report.xml").read_text()


BAD_VALUES_BY_SOURCE = {
    "environment": ({"ASCEND_LLM_ROUNDS": "abc"}, "", [], "ASCEND_LLM_ROUNDS 'abc': give a whole number of at least 1"),
    "ini": ({}, "[pytest]\nllm_dtype = float8\n", [], "ini llm_dtype: unknown dtype 'float8'*"),
    "command_line": ({"ASCEND_LLM_ROUNDS": "3"}, "", ["--llm-rounds", "0"], "--llm-rounds '0': give a whole*"),
    "device_variable": ({"ASCEND_LLM_DEVICE": "tpu"}, "", [], "ASCEND_LLM_DEVICE: unknown device 'tpu'*"),
}


@pytest.mark.parametrize("case", BAD_VALUES_BY_SOURCE, ids=list(BAD_VALUES_BY_SOURCE))
def test_a_bad_value_names_the_flag_variable_or_ini_key_it_came_from(pytester, monkeypatch, case):
    variables, ini, args, expected = BAD_VALUES_BY_SOURCE[case]
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    if ini:
        pytester.makeini(ini)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {expected}"])


def test_options_are_validated_before_torch_is_imported():
    code = (
        "import sys\n"
        "from pytest_ascend_llm.errors import LLMSetupError\n"
        "from pytest_ascend_llm.settings import Settings\n"
        "for bad in ({'rounds': 'abc'}, {'device': 'tpu'}, {'dtype': 'float8'}, {'engine': 'mindie'}):\n"
        "    try:\n"
        "        Settings.from_values(bad)\n"
        "    except LLMSetupError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit(f'accepted {bad}')\n"
        "print('torch' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"


def test_zero_is_a_valid_speculative_tolerance():
    assert Settings.from_values({"spec_tolerance": "0"}).spec_tolerance == 0.0
    assert Settings.from_values({}).spec_tolerance == 0.5


def test_a_model_that_fails_to_load_errors_once_and_the_other_model_tests_skip(pytester, tmp_path):
    folder = tmp_path / "broken-tokenizer"
    shutil.copytree(inspect_model_dir(None).path, folder)
    (folder / "pytest_ascend_llm_builtin.json").unlink()
    (folder / "tokenizer.json").write_text('{"broken": ')
    pytester.makepyfile(
        test_user="""
import pytest

@pytest.mark.parametrize("n", range(5))
def test_model(llm_engine, n):
    pass

def test_environment_still_works(llm_env):
    assert llm_env.torch
"""
    )
    result = pytester.runpytest("--llm-model", str(folder), "--llm-device", "cpu", "-rs")
    result.assert_outcomes(errors=1, skipped=4, passed=1)
    output = _output(result)
    assert output.count("cannot load the tokenizer of") == 2  # the error, and the one folded skip line
    assert "During handling" not in output and "Traceback" not in output
    result.stdout.fnmatch_lines(["SKIPPED [[]4[]] *not run: the model failed to load earlier in this session*"])
