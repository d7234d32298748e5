"""Roofline arithmetic against hand-computed values for Qwen2.5-14B-Instruct (shared HARDWARE.md),
the device table and its overrides, and a decode case failing when it beats the roofline."""

import json

import pytest

from pytest_ascend_llm.devices.spec_sheets import SPEC_TABLE, load_spec_file, lookup
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.metrics.roofline import decode_roofline
from pytest_ascend_llm.models.arithmetic import kv_bytes_per_token

QWEN25_14B = {
    "hidden_size": 5120,
    "num_attention_heads": 40,
    "num_key_value_heads": 8,
    "num_hidden_layers": 48,
    "intermediate_size": 13824,
    "vocab_size": 152064,
}
WEIGHTS_FP16 = 14_770_000_000 * 2


def test_kv_bytes_per_token_uses_kv_heads():
    assert kv_bytes_per_token(QWEN25_14B, 2) == 2 * 48 * 8 * 128 * 2 == 192 * 1024


@pytest.mark.parametrize(
    ("device", "upper_bound_tokens_per_s"), [("NVIDIA H100 80GB HBM3", 113), ("Ascend910B2", 54), ("Ascend910B4", 27)]
)
def test_batch1_decode_upper_bounds_match_the_hardware_notes(device, upper_bound_tokens_per_s):
    bandwidth = lookup(device).bandwidth_bytes_per_s
    roof = decode_roofline(WEIGHTS_FP16, 0, 192 * 1024, [1], bandwidth, step_seconds=1.0)
    assert 1 / roof.min_step_seconds == pytest.approx(upper_bound_tokens_per_s, rel=0.02)


def test_mbu_and_the_too_fast_verdict():
    bandwidth = 1.6e12
    honest = decode_roofline(WEIGHTS_FP16, 10**9, 192 * 1024, [1024] * 4, bandwidth, step_seconds=0.030)
    assert honest.bytes_per_step == WEIGHTS_FP16 + 4 * 1024 * 192 * 1024
    assert honest.mbu == pytest.approx(honest.bytes_per_step / 0.030 / bandwidth)
    assert 0 < honest.mbu < 1 and not honest.exceeds_roofline
    unsynchronized = decode_roofline(WEIGHTS_FP16, 10**9, 192 * 1024, [1024] * 4, bandwidth, step_seconds=0.004)
    assert unsynchronized.exceeds_roofline and unsynchronized.mbu > 1


def test_device_table_matches_names_exactly_and_user_entries_win(tmp_path):
    assert lookup("Ascend910B3").name == "Ascend 910B3"
    assert lookup("Ascend910A").name == "Ascend 910 (first generation)"
    assert lookup("NVIDIA H100 PCIe").bandwidth_bytes_per_s == 2.0e12
    assert lookup("NVIDIA H100 NVL").bandwidth_bytes_per_s == 3.9e12
    assert lookup("NVIDIA GH200 480GB").name.startswith("NVIDIA GH200")
    assert lookup("Intel(R) Xeon(R) Processor") is None
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps({"Ascend910B2": {"bandwidth_tb_s": 1.2, "memory_gb": 64}}))
    mine = lookup("Ascend910B2", load_spec_file(specs))
    assert mine.bandwidth_bytes_per_s == 1.2e12 and "your spec file" in mine.source
    assert mine.memory_bytes == 64 * 10**9 // 2**20 * 2**20 and "decimal" in mine.memory_source
    specs.write_text(json.dumps({"Ascend910B2": {"bandwidth_tb_s": 1.2, "memory_mib": 65536}}))
    assert lookup("Ascend910B2", load_spec_file(specs)).memory_bytes == 64 * 2**30
    specs.write_text("{not json")
    with pytest.raises(LLMSetupError, match="device spec file .* is unusable"):
        load_spec_file(specs)


@pytest.mark.parametrize(
    "name", ["Ascend910B1", "Ascend910_9391", "Ascend910_9392", "Ascend910B2", "NVIDIA GH200 480GB", "NVIDIA H100 NVL"]
)
def test_a_device_never_takes_the_row_of_another_model(name):
    """The substring bugs: 910B1 planned as a 32 GB 910A, 910_93xx as a 910A, GH200 as H200, NVL as SXM."""
    sheet = lookup(name)
    assert sheet is not None and name in sheet.aliases


@pytest.mark.parametrize("name", ["Ascend910", "Ascend910C", "NVIDIA H20", "NVIDIA GeForce RTX 4090", "910b2"])
def test_unknown_or_partial_names_have_no_table_peak(name):
    assert lookup(name) is None


def test_every_row_says_where_its_figures_come_from():
    for sheet in SPEC_TABLE:
        assert sheet.source and sheet.aliases
        assert sheet.describe().startswith(f"table row {sheet.name!r}")


def test_a_decode_rate_above_the_roofline_fails_the_case_with_the_reason(pytester):
    result = pytester.runpytest(
        "--pyargs",
        "pytest_ascend_llm.suite.test_performance",
        "-k",
        "decode_step and bs1-ctx128",
        "--llm-device",
        "cpu",
        "--llm-rounds",
        "3",
        "--llm-peak-bandwidth",
        "0.001",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(failed=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines(["*faster than the table bandwidth 0.001 GB/s allows*a measurement bug*"])
