"""Each option is described once: a Settings field carrying its spec (parser, typed default, help, env
and ini names), and one rule says whether a run asked for the plugin."""

from __future__ import annotations

from dataclasses import fields

import pytest

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.settings import OPTIONS_BY_NAME, Settings, asks_for_plugin, collect_values


def test_every_setting_is_an_option_with_its_names_derived_once():
    attributes = {spec.attribute for spec in OPTIONS_BY_NAME.values()}
    assert attributes == {f.name for f in fields(Settings)} - {"sources"}
    gate = OPTIONS_BY_NAME["compare_fail"]
    assert (gate.cli, gate.env, gate.ini) == ("--llm-compare-fail", "ASCEND_LLM_COMPARE_FAIL", "llm_compare_fail")
    assert OPTIONS_BY_NAME["peak_bandwidth"].attribute == "peak_bandwidth_gbps"


def test_the_typed_default_is_the_one_the_help_names_and_the_one_settings_get():
    assert Settings.from_values({}) == Settings()
    assert Settings().server_timeout == 900.0 and "(default: 900)" in OPTIONS_BY_NAME["server_timeout"].help
    assert Settings().concurrency == (1, 2, 4, 8, 16) and "(default: 1,2,4,8,16)" in OPTIONS_BY_NAME["concurrency"].help
    assert Settings().slo == "mlperf-llama3.1-8b" and "(default: mlperf-llama3.1-8b)" in OPTIONS_BY_NAME["slo"].help


def test_gate_rules_come_from_repeated_flags_or_a_comma_separated_variable(monkeypatch):
    monkeypatch.setenv("ASCEND_LLM_COMPARE_FAIL", "p95:10%, ttft_p99:0.05")
    from_env = collect_values(lambda name: [] if name == "compare_fail" else None, lambda name: None)
    rules = Settings.from_values(from_env.values, from_env.sources).compare_fail
    assert [str(rule) for rule in rules] == ["p95:10%", "ttft_p99:0.05s"]
    from_cli = collect_values(lambda name: ["p50:5%"] if name == "compare_fail" else None, lambda name: None)
    assert [str(r) for r in Settings.from_values(from_cli.values, from_cli.sources).compare_fail] == ["p50:5%"]


def test_a_bad_gate_rule_in_the_variable_names_the_variable(monkeypatch):
    monkeypatch.setenv("ASCEND_LLM_COMPARE_STRICT", "yes")
    collected = collect_values(lambda name: None, lambda name: None)
    assert Settings.from_values(collected.values, collected.sources).compare_strict is True
    with pytest.raises(LLMSetupError, match="p97"):
        Settings.from_values({"compare_fail": "p97:10%"}, {"compare_fail": "ASCEND_LLM_COMPARE_FAIL"})


@pytest.mark.parametrize(
    ("args", "environ", "asked"),
    [
        ([], {}, False),
        (["tests", "-q"], {"ASCEND_LLM_TEST_VLLM_PYTHON": "/x/python"}, False),  # not an option's variable
        (["--llm-device", "cpu"], {}, True),
        (["--llm-compare-fail=p95:10%", "--benchmark-compare"], {}, True),
        (["--pyargs", "pytest_ascend_llm.suite"], {}, True),
        ([], {"ASCEND_LLM_DEVICE": "cpu"}, True),
    ],
)
def test_one_rule_says_whether_a_run_asked_for_the_plugin(args, environ, asked):
    assert asks_for_plugin(args, environ) is asked
