"""The plugin as a guest in other people's pytest runs: inert until asked for, nothing written or printed,
safe under in-process pytester runs, pytest-benchmark users unaffected."""

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "numpy", "transformers", "safetensors", "tokenizers", "psutil", "matplotlib", "markdown")
PLAIN_TESTS = "def test_a():\n    assert 1\n\ndef test_b():\n    assert 2\n\ndef test_c():\n    assert 3\n"
REPORT_HEAVY_MODULES = f"""
import json, sys

def pytest_sessionfinish(session):
    heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)
    with open("heavy_modules.json", "w") as handle:
        json.dump(heavy, handle)
"""


def _on_cpu(keyword: str, *suite_modules: str) -> tuple[str, ...]:
    """Arguments running the shipped suite's ``suite_modules`` cases selected by ``keyword`` on CPU."""
    modules = [f"pytest_ascend_llm.suite.{name}" for name in suite_modules]
    return ("--pyargs", *modules, "-k", keyword, "--llm-device", "cpu", "-p", "no:cacheprovider")


def _plugin_lines(result) -> list[str]:
    return [line for line in result.outlines + result.errlines if line.lstrip("=* ").startswith("ascend-llm")]


@pytest.fixture
def fresh_home(pytester, monkeypatch):
    """No cache location but HOME, as on a newcomer's machine: the built-in model would land there."""
    for name in ("PYTEST_ASCEND_LLM_CACHE", "XDG_CACHE_HOME", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    home = pytester.path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def test_loading_the_plugin_imports_nothing_heavy():
    code = (
        f"import sys, pytest_ascend_llm.plugin.hooks\nprint(sorted(name for name in {HEAVY!r} if name in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]", completed.stdout


def test_a_project_that_does_not_ask_for_it_sees_nothing_of_it(pytester, fresh_home):
    pytester.makepyfile(test_plain=PLAIN_TESTS)
    pytester.makeconftest(REPORT_HEAVY_MODULES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert not _plugin_lines(result), "a run that never asked for the plugin prints nothing of it"
    assert json.loads((pytester.path / "heavy_modules.json").read_text()) == []
    assert list(fresh_home.iterdir()) == [], "nothing may be written for a run that never used the plugin"


def test_an_unwritable_cache_only_matters_to_runs_that_use_the_model(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_ASCEND_LLM_CACHE", "/proc/self/no-such-cache")
    pytester.makepyfile(test_plain=PLAIN_TESTS)
    pytester.runpytest().assert_outcomes(passed=3)
    pytester.makepyfile(test_model="def test_model(llm_engine):\n    assert llm_engine\n")
    result = pytester.runpytest("test_model.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: cannot build the built-in model in /proc/self*set PYTEST_ASCEND_LLM_CACHE*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_test_asking_for_a_fixture_wakes_the_session_and_prints_the_header(pytester):
    pytester.makepyfile(
        test_plain=PLAIN_TESTS, test_uses=("def test_tokenizer(llm_tokenizer):\n    assert llm_tokenizer('hi')\n")
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["collected 4 items", "ascend-llm: device cpu (*; not an NPU, auto), model builtin:tiny-qwen2*"]
    )


INNER_USER_TEST = """
import os

def test_generates(llm_engine, llm_session):
    from pytest_ascend_llm.engines import SamplingParams
    assert str(llm_session.source.path).startswith(os.environ["HOME"])
    assert llm_engine.generate(["Hello"], SamplingParams(max_new_tokens=3, ignore_eos=True))[0].output_tokens == 3
"""

OUTER_TESTS = f"""
import pytest

INNER = {INNER_USER_TEST!r}

@pytest.mark.parametrize("run", [1, 2])
def test_inner_session(pytester, run):
    pytester.makepyfile(test_inner=INNER)
    pytester.runpytest_inprocess("--llm-device", "cpu", "-p", "no:cacheprovider").assert_outcomes(passed=1)
"""


def test_two_in_process_sessions_with_fresh_homes_in_one_process_both_pass(pytester, fresh_home):
    """What pytest-xdist's and pytest-json-report's own suites do: several in-process pytest runs in one
    interpreter. The outer process never imports torch itself; each inner run builds the built-in model
    under its own HOME and imports torch and transformers, which pytester then drops from sys.modules."""
    pytester.makepyfile(test_outer=OUTER_TESTS)
    result = pytester.runpytest_subprocess("-p", "pytester", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


GETITEM_USER_TEST = """
pytest_plugins = "pytester"


def test_getitem(pytester):
    item = pytester.getitem("def test_func(): pass")
    assert item.name == "test_func"
"""


def test_a_project_calling_pytester_getitem_passes(pytester):
    """pytest-xdist's own looponfail tests: ``pytester.getitem`` calls the session-finish hook on a session
    that never set ``exitstatus``; the plugin reads the hook's arguments, not that attribute."""
    pytester.makepyfile(test_project=GETITEM_USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "AttributeError" not in result.stdout.str() + result.stderr.str()


def test_plain_pytest_benchmark_users_get_what_they_always_got(pytester):
    pytester.makepyfile(test_bench="def test_sum(benchmark):\n    benchmark(sum, range(100))\n")
    storage = pytester.path / "storage"
    where = f"--benchmark-storage=file://{storage}"
    first = pytester.runpytest(where, "--benchmark-save=one", "-p", "no:cacheprovider")
    first.assert_outcomes(passed=1)
    assert not _plugin_lines(first)
    [saved] = storage.rglob("0001_one.json")
    run = json.loads(saved.read_text())
    assert "llm_stack" not in run["machine_info"]
    run["machine_info"]["node"] = "another-host"
    saved.write_text(json.dumps(run))
    compared = pytester.runpytest_subprocess(where, "--benchmark-compare=0001", "-p", "no:cacheprovider")
    compared.assert_outcomes(passed=1)
    warned = "Benchmark machine_info is different" in compared.stdout.str() + compared.stderr.str()
    assert warned, "pytest-benchmark's own warning stays"
    assert not _plugin_lines(compared)


def test_xdist_runs_compatibility_and_performance_cases_to_the_end(pytester):
    keyword = "stack or inference or generation_end_to_end and short_qa or prefill and ctx128"
    result = pytester.runpytest_subprocess(*_on_cpu(keyword, "test_compatibility", "test_performance"), "-n", "2")
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes and outcomes["passed"] >= 8, outcomes
    assert result.ret == 0
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_benchmark_disable_runs_every_case_once_as_a_check(pytester):
    result = pytester.runpytest(
        *_on_cpu("generation_end_to_end or decode_step", "test_performance"), "--benchmark-disable"
    )
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes and outcomes["passed"] >= 10, outcomes
    result.stdout.fnmatch_lines(["*benchmarking is off*: * performance case(s) ran once as correctness checks*"])
    assert "latency tails" not in result.stdout.str() and "was not used at all" not in result.stdout.str()


def test_python_api_still_imports_torch_the_safe_way():
    """Importing a computing module from plain Python brings torch in through prepare_torch."""
    code = (
        "import sys, pytest_ascend_llm.torch_backend as backend\n"
        "from pytest_ascend_llm.devices.base import Device\n"
        "print(backend._status is not None, 'torch' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert completed.stdout.split() == ["True", "True"]
