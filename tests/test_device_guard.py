"""The busy-device guard, card health and power sampling, on recorded real npu-smi outputs and through
the stand-in npu-smi on PATH (a real subprocess each time)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_ascend_llm.inventory.guard import busy_reason, physical_index, unhealthy
from pytest_ascend_llm.inventory.npu_smi import parse_npu_smi_info
from pytest_ascend_llm.inventory.power import PowerSampler, joules_per_token

DATA = Path(__file__).parent / "data"


def recorded(name: str):
    return parse_npu_smi_info((DATA / "npu_smi" / name).read_text())


@pytest.fixture
def stand_in_npu_smi(monkeypatch):
    monkeypatch.setenv("PATH", f"{DATA / 'bin'}:{__import__('os').environ['PATH']}")
    return monkeypatch


def test_another_process_on_the_card_is_named_with_its_memory():
    inventory = recorded("910b1_23.0.rc3.3_2x_full_busy.txt")
    busy = [p for p in inventory.processes if p.card_index == 0]
    reason = busy_reason(inventory, 0, ours=set())
    assert reason and f"process {busy[0].pid}" in reason and f"{busy[0].memory_mb} MB" in reason
    assert "card 0" in reason and "\n" not in reason


def test_this_sessions_own_processes_and_memory_do_not_count():
    inventory = recorded("910b1_23.0.rc3.3_2x_full_busy.txt")
    ours = {p.pid for p in inventory.processes}
    mine = sum(p.memory_mb or 0 for p in inventory.processes if p.card_index == 0)
    card = next(c for c in inventory.cards if c.index == 0)
    reason = busy_reason(inventory, 0, ours, own_memory_mb=mine)
    leftover = (card.memory_used_mb or 0) - mine
    assert reason is None or ("process" not in reason and str(leftover) in reason)


def test_memory_held_without_a_listed_process_is_not_idle():
    """Eight 910B2 cards with 29.9 GB of HBM in use and no process listed (a container the tool cannot
    see): a benchmark there would share the card."""
    reason = busy_reason(recorded("910b2_23.0.7_8x_hbm_used_no_procs.txt"), 3, ours=set())
    assert reason and "card 3 has 29" in reason and "not this session's" in reason


def test_card_health_that_is_not_ok_is_reported_with_its_state():
    assert unhealthy(recorded("310b4_23.0.0_alarm.txt")) == ["card 0 (310B4): Alarm"]
    assert unhealthy(recorded("910b2_23.0.7_8x_hbm_used_no_procs.txt")) == []


def test_visible_devices_renumber_cards_the_tool_does_not():
    assert physical_index("npu", 1, {"ASCEND_RT_VISIBLE_DEVICES": "4,6"}) == 6
    assert physical_index("cuda", 0, {"CUDA_VISIBLE_DEVICES": "3"}) == 3
    assert physical_index("npu", 2, {}) == 2 and physical_index("npu", None, {}) == 0


def test_power_is_sampled_in_the_background_from_the_tool(stand_in_npu_smi):
    stand_in_npu_smi.setenv("FAKE_NPU_SMI_FILE", str(DATA / "npu_smi" / "910b2_23.0.7_8x_hbm_used_no_procs.txt"))
    usages = DATA / "npu_smi" / "usages" / "usages_910b1_23.0.rc2_i0.txt"
    stand_in_npu_smi.setenv("FAKE_NPU_SMI_USAGES_FILE", str(usages))
    with PowerSampler("npu", 1, interval=0.05) as power:
        deadline = time.monotonic() + 30
        while len(power.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(power.samples) >= 3 and {watts for _, watts in power.samples} == {98.7}
    assert power.mean_watts == pytest.approx(98.7) and power.problem is None
    from pytest_ascend_llm.inventory.npu_smi import parse_npu_smi_usages

    expected = parse_npu_smi_usages(usages.read_text())[0]
    assert power.usages and {(a, b) for _, a, b in power.usages} == {(expected.aicore_pct, expected.hbm_bandwidth_pct)}
    assert joules_per_token(98.7, 2.0, 100) == pytest.approx(1.974)
    assert joules_per_token(None, 2.0, 100) is None and joules_per_token(98.7, 2.0, 0) is None


def test_a_failing_tool_stops_the_sampler_with_a_one_line_reason(stand_in_npu_smi):
    from pytest_ascend_llm.benchmarking.results import CaseResult
    from pytest_ascend_llm.plugin.bench import power_figures

    stand_in_npu_smi.setenv("FAKE_NPU_SMI_EXIT", "3")
    stand_in_npu_smi.setenv("FAKE_NPU_SMI_STDERR", "dcmi module initialize failed. ret is -8005")
    with PowerSampler("npu", 0, interval=0.05) as power:
        deadline = time.monotonic() + 30
        while power.problem is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert power.samples == [] and "exit code 3: dcmi module initialize failed" in power.problem
    figures = power_figures(power, CaseResult("c", [1.0], [10]))
    assert figures == {"power": f"no power reading: {power.problem}"}


def test_the_report_draws_power_over_each_case(tmp_path):
    """Power samples saved with a case become the report's power timeline."""
    from pytest_ascend_llm.reporting.plots import power_timeline

    samples = [[0.5 * i, 300.0 + 10 * (i % 3)] for i in range(12)]
    records = [{"nodeid": "suite.py::test_perf_prefill[ctx128]", "metrics": {"power_samples": samples}}]
    assert power_timeline(records, tmp_path) == "power-timeline.png"
    assert (tmp_path / "power-timeline.png").stat().st_size > 10_000
    assert power_timeline([{"nodeid": "x::y", "metrics": {}}], tmp_path) is None
