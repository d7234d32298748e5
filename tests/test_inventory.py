"""Device inventory from npu-smi / nvidia-smi: recorded real outputs, layout differences, and the tool runner.

The npu-smi files under tests/data/npu_smi are real outputs from public issues and docs (see SOURCES.md);
every expected value below was read off the file by eye. `read_inventory` is exercised through the
stand-in scripts in tests/data/bin, put first on PATH and run as real subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pytest_ascend_llm.inventory.npu_smi import parse_npu_smi_info, parse_npu_smi_power, parse_npu_smi_usages
from pytest_ascend_llm.inventory.nvidia_smi import parse_nvidia_smi
from pytest_ascend_llm.inventory.reading import read_inventory, read_npu_usages
from pytest_ascend_llm.inventory.records import Card, DeviceProcess, Inventory, InventoryUnavailable

DATA = Path(__file__).parent / "data"
NPU = DATA / "npu_smi"
NVIDIA = DATA / "nvidia_smi"
BIN = DATA / "bin"

# file -> (version, cards, {name}, {health}, first card (used MB, total MB, kind), process rows, busy labels)
EXPECTED = {
    "910a_20.2.2_8x_a1_no_hugepages.txt": ("20.2.2.spc001", 8, {"910A"}, {"OK"}, (0, 32768, "HBM"), 0, []),
    "910b_a1_24.1.0_8x_ddr_and_hbm.txt": ("24.1.0", 8, {"910B"}, {"OK"}, (1365, 32768, "HBM"), 0, []),
    "910b2_23.0.7_8x_hbm_used_no_procs.txt": ("23.0.7", 8, {"910B2"}, {"OK"}, (29954, 65536, "HBM"), 0, []),
    "910b2c_23.0.2.1_2x_one_process.txt": ("23.0.2.1", 2, {"910B2C"}, {"OK"}, (20701, 65536, "HBM"), 1, ["card 0"]),
    "310b4_23.0.0_alarm.txt": ("23.0.0", 1, {"310B4"}, {"Alarm"}, (3628, 15609, "DDR"), 0, []),
    "910b3_24.1.0.3_8x_no_process_table.txt": ("24.1.0.3", 8, {"910B3"}, {"OK"}, (3382, 65536, "HBM"), 0, []),
    "310p3_24.1.0.1_duo_mindie.txt": (
        "24.1.0.1",
        4,
        {"310P3"},
        {"OK"},
        (16302, 44280, "DDR"),
        4,
        ["card 1 chip 0", "card 1 chip 1", "card 2 chip 0", "card 2 chip 1"],
    ),
    "910b4-1_25.2.2_2x_full.txt": ("25.2.2", 2, {"910B4-1"}, {"OK"}, (61825, 65536, "HBM"), 2, ["card 0", "card 1"]),
    "a3_ascend910_25.2.3_16chips_processes.txt": (
        "25.2.3",
        16,
        {"Ascend910"},
        {"OK"},
        (53444, 65536, "HBM"),
        14,
        [f"card {card} chip {chip}" for card in (0, 1, 6, 7) for chip in (0, 1)],
    ),
    "310p3_25.3.rc1_duo_large_ids.txt": (
        "25.3.rc1",
        8,
        {"310P3"},
        {"OK"},
        (35552, 44278, "DDR"),
        3,
        ["card 0 chip 0", "card 0 chip 1"],
    ),
    "910b1_23.0.rc3.3_2x_full_busy.txt": (
        "23.0.rc3.3",
        2,
        {"910B1"},
        {"OK"},
        (65099, 65536, "HBM"),
        2,
        ["card 0", "card 1"],
    ),
    "910b4_26.0.rc1_1x_container_pid_column.txt": ("26.0.rc1", 1, {"910B4"}, {"OK"}, (2871, 32768, "HBM"), 0, []),
}


def npu(name: str) -> Inventory:
    return parse_npu_smi_info((NPU / name).read_text())


def test_every_recorded_file_has_expectations():
    assert sorted(path.name for path in NPU.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_output(name):
    version, count, names, healths, (used, total, kind), process_rows, busy = EXPECTED[name]
    inventory = npu(name)
    assert inventory.tool == "npu-smi" and inventory.tool_version == version
    assert len(inventory.cards) == count
    assert {card.name for card in inventory.cards} == names
    assert {card.health for card in inventory.cards} == healths
    first = inventory.cards[0]
    assert (first.memory_used_mb, first.memory_total_mb, first.memory_kind) == (used, total, kind)
    assert all(card.kind == "npu" for card in inventory.cards)
    assert len(inventory.processes) == process_rows
    assert [inventory.label(card) for card in inventory.busy_cards()] == busy
    assert inventory.raw_text == (NPU / name).read_text()


def test_old_910_without_hugepages_column_reads_power_temperature_and_bus():
    cards = npu("910a_20.2.2_8x_a1_no_hugepages.txt").cards
    assert [card.index for card in cards] == list(range(8))
    assert (cards[3].power_w, cards[3].temperature_c, cards[3].bus_id) == (65.7, 37.0, "0000:01:00.0")
    assert cards[7].utilization_pct == 0.0


def test_first_generation_910_prefers_hbm_over_its_ddr():
    card = npu("910b_a1_24.1.0_8x_ddr_and_hbm.txt").cards[4]
    assert (card.memory_used_mb, card.memory_total_mb, card.memory_kind) == (3, 32768, "HBM")


def test_memory_used_by_another_container_shows_without_processes():
    inventory = npu("910b2_23.0.7_8x_hbm_used_no_procs.txt")
    assert [card.memory_used_mb for card in inventory.cards] == [29954, 29951, 29950, 29951, 3347, 3350, 3347, 3347]
    assert inventory.busy_cards() == ()


def test_310b4_alarm_has_no_bus_id_and_ddr_only():
    card = npu("310b4_23.0.0_alarm.txt").cards[0]
    assert (card.health, card.power_w, card.temperature_c, card.bus_id) == ("Alarm", 0.0, 65.0, None)


def test_full_card_written_without_space_before_slash():
    inventory = npu("910b4-1_25.2.2_2x_full.txt")
    assert [(c.memory_used_mb, c.memory_total_mb) for c in inventory.cards] == [(61825, 65536), (61825, 65536)]
    assert inventory.processes == (
        DeviceProcess(card_index=0, chip=0, pid=19334, name="VLLMWorker_TP", memory_mb=58472),
        DeviceProcess(card_index=1, chip=0, pid=19341, name="VLLMWorker_TP", memory_mb=58472),
    )


def test_busy_910b1_reads_aicore_and_power():
    cards = npu("910b1_23.0.rc3.3_2x_full_busy.txt").cards
    assert [(c.utilization_pct, c.power_w, c.memory_used_mb) for c in cards] == [
        (55.0, 271.1, 65099),
        (66.0, 275.0, 65098),
    ]


def test_a3_lists_two_chips_per_npu_and_dash_power_on_the_second():
    inventory = npu("a3_ascend910_25.2.3_16chips_processes.txt")
    assert [(card.index, card.chip) for card in inventory.cards[:4]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert (inventory.cards[0].power_w, inventory.cards[1].power_w) == (232.5, None)
    assert inventory.cards[15].bus_id == "0000:83:00.0"
    assert inventory.cards[15].memory_used_mb == 50242


def test_a3_processes_have_empty_names_and_share_chips():
    inventory = npu("a3_ascend910_25.2.3_16chips_processes.txt")
    first_chip = inventory.processes_on(inventory.cards[0])
    assert [(p.pid, p.memory_mb) for p in first_chip] == [
        (3325989, 50128),
        (3330598, 132),
        (3328327, 133),
        (3333165, 132),
    ]
    assert all(process.name is None for process in inventory.processes)
    assert {process.card_index for process in inventory.processes} == {0, 1, 6, 7}


def test_300i_duo_large_npu_ids_and_two_chips_per_card():
    inventory = npu("310p3_25.3.rc1_duo_large_ids.txt")
    assert [(card.index, card.chip) for card in inventory.cards] == [
        (0, 0),
        (0, 1),
        (96, 0),
        (96, 1),
        (32768, 0),
        (32768, 1),
        (32896, 0),
        (32896, 1),
    ]
    assert all(card.power_w is None and card.memory_kind == "DDR" for card in inventory.cards)
    assert [(p.card_index, p.chip, p.pid, p.memory_mb) for p in inventory.processes] == [
        (0, 0, 326429, 33842),
        (0, 0, 326430, 108),
        (0, 1, 326430, 34086),
    ]


def test_300i_duo_mindie_processes():
    inventory = npu("310p3_24.1.0.1_duo_mindie.txt")
    assert [(p.card_index, p.chip, p.name, p.memory_mb) for p in inventory.processes] == [
        (1, 0, "mindie_llm_back", 14513),
        (1, 1, "mindie_llm_back", 14513),
        (2, 0, "mindie_llm_back", 34207),
        (2, 1, "mindie_llm_back", 33740),
    ]


def test_26x_wide_layout_with_container_pid_column_and_truncated_end():
    card = npu("910b4_26.0.rc1_1x_container_pid_column.txt").cards[0]
    assert (card.name, card.power_w, card.temperature_c, card.bus_id) == ("910B4", 82.6, 32.0, "0000:C1:00.0")


def test_950_layout_with_npu_id_column_and_npu_util():
    """Constructed in the layout npu-smi 25.7.rc1 prints on Ascend 950 (no citable real output was found)."""
    text = """\
+-------------------------------------------------------------------------------------------------+
| npu-smi 25.7.rc1                                 Version: 25.7.rc1                              |
+--------+------------------+---------------+-----------------------------------------------------+
| NPU ID | Name             | Health        | Power(W)    Temp(C)           Hugepages-Usage(page) |
|        |                  | Bus-Id        | NPU Util(%) Memory-Usage(MB)  HBM-Usage(MB)         |
+========+==================+===============+=====================================================+
| 0      | Ascend950PR      | Critical      | 205.7       71                0     / 0             |
|        |                  | 0000:71:00.0  | 100         0    / 0          90633 / 114688        |
+========+==================+===============+=====================================================+
+---------------------------+---------------+-----------------------------------------------------+
| NPU ID                    | Process id    | Process name             | Process memory(MB)       |
+===========================+===============+=====================================================+
| 0                         | 1530715       | python                   | 4724                     |
+===========================+===============+=====================================================+
"""
    inventory = parse_npu_smi_info(text)
    card = inventory.cards[0]
    assert (card.index, card.chip, card.health, card.utilization_pct) == (0, None, "Critical", 100.0)
    assert (card.memory_used_mb, card.memory_total_mb) == (90633, 114688)
    assert inventory.processes == (DeviceProcess(card_index=0, pid=1530715, name="python", memory_mb=4724),)
    assert "health Critical" in inventory.summary_line()


@pytest.mark.parametrize(
    "text, names",
    [
        ("", "the output is empty"),
        ("dcmi model initialized failed, because the device is used. ret is -8020\n", "no card table"),
        ("| NPU   Name | Health | Power(W) |\n", "missing its second row"),
    ],
)
def test_garbage_raises_value_error_naming_it(text, names):
    with pytest.raises(ValueError, match=names):
        parse_npu_smi_info(text)


def test_a_card_row_with_a_missing_value_names_the_row():
    lines = (NPU / "910b2_23.0.7_8x_hbm_used_no_procs.txt").read_text().splitlines()
    lines[10] = lines[10].replace("29951/ 65536", "")
    with pytest.raises(ValueError, match=r"expected 3 values.*0000:01:00\.0"):
        parse_npu_smi_info("\n".join(lines))


def test_mangled_outputs_raise_only_value_error():
    """Cut, shuffled or damaged tables must fail as ValueError (what read_inventory reports), never IndexError."""
    for path in sorted(NPU.glob("*.txt")):
        lines = path.read_text().splitlines()
        for at in range(0, len(lines), 3):
            variants = [lines[:at], lines[:at] + lines[at + 1 :], lines[:at] + [lines[at][: len(lines[at]) // 2]]]
            variants.append(lines[:at] + [lines[at].replace("|", " ", 2)] + lines[at + 1 :])
            for variant in variants:
                try:
                    parse_npu_smi_info("\n".join(variant))
                except ValueError:
                    pass


def test_summary_line_for_a_report_header():
    assert npu("910b2_23.0.7_8x_hbm_used_no_procs.txt").summary_line() == (
        "npu-smi 23.0.7: 8x 910B2 (health OK, 0 processes, most used: HBM 29.3/64.0 GB on card 0)"
    )
    assert npu("a3_ascend910_25.2.3_16chips_processes.txt").summary_line() == (
        "npu-smi 25.2.3: 8x Ascend910 in 16 chips "
        "(health OK, 8 processes on 8 chips, most used: HBM 52.2/64.0 GB on card 0 chip 0)"
    )
    assert npu("310b4_23.0.0_alarm.txt").summary_line() == (
        "npu-smi 23.0.0: 1x 310B4 (health Alarm, 0 processes, most used: DDR 3.5/15.2 GB on card 0)"
    )


def test_summary_line_names_unhealthy_cards_and_empty_inventory():
    good = Card("npu", 0, 0, "910B3", "OK", 90.0, 40.0, 0.0, 3000, 65536, "0000:C1:00.0", "HBM")
    bad = Card("npu", 1, 0, "910B3", "Warning", 90.0, 40.0, 0.0, 3000, 65536, "0000:C2:00.0", "HBM")
    line = Inventory(tool="npu-smi", cards=(good, bad)).summary_line()
    assert line.startswith("npu-smi: 2x 910B3 (health 1 OK, 1 Warning; not OK: card 1, 0 processes")
    assert (
        Inventory(tool="npu-smi", cards=(), tool_version="25.2.0").summary_line() == "npu-smi 25.2.0: no cards listed"
    )


def test_to_dict_is_json_ready():
    data = npu("910b4-1_25.2.2_2x_full.txt").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["busy_cards"] == ["card 0", "card 1"]
    assert data["cards"][0]["memory_used_mb"] == 61825 and data["processes"][0]["pid"] == 19334


def test_usages_910b1():
    (usage,) = parse_npu_smi_usages((NPU / "usages" / "usages_910b1_23.0.rc2_i0.txt").read_text())
    assert (usage.npu_id, usage.chip_id, usage.hbm_capacity_mb, usage.hbm_usage_pct) == (0, 0, 65536, 4.0)
    assert (usage.aicore_pct, usage.hbm_bandwidth_pct, usage.npu_utilization_pct) == (0.0, 0.0, None)
    assert usage.values["Ctrlcpu Usage Rate(%)"] == "0"


def test_usages_first_generation_910_has_ddr_and_hbm():
    (usage,) = parse_npu_smi_usages((NPU / "usages" / "usages_910a1_ddr_hbm_i0.txt").read_text())
    assert (usage.ddr_capacity_mb, usage.hbm_capacity_mb, usage.values["DDR Usage Rate(%)"]) == (13553, 32768, "6")
    assert "Aivector Usage Rate(%)" not in usage.values


def test_power_from_common_listing_and_missing_power():
    assert parse_npu_smi_power((NPU / "usages" / "common_910b1_23.0.rc2_i1.txt").read_text()) == 93.4
    assert parse_npu_smi_power("NPU ID : 0\nPower Dissipation(W) : NA\n") is None
    with pytest.raises(ValueError, match="no power reading"):
        parse_npu_smi_power((NPU / "usages" / "usages_910b1_23.0.rc2_i0.txt").read_text())
    with pytest.raises(ValueError, match="no 'key : value' usage lines"):
        parse_npu_smi_usages("Error: device 9 does not exist\n")


def test_nvidia_csv_with_processes():
    inventory = parse_nvidia_smi(
        (NVIDIA / "gpus_2x_h100_one_busy.csv").read_text(), (NVIDIA / "apps_2x_h100_one_busy.csv").read_text()
    )
    first = inventory.cards[0]
    assert (first.kind, first.index, first.name, first.health) == ("cuda", 0, "NVIDIA H100 80GB HBM3", None)
    assert (first.memory_used_mb, first.memory_total_mb, first.utilization_pct) == (71235, 81559, 97.0)
    assert (first.power_w, first.power_limit_w, first.temperature_c, first.bus_id) == (
        512.47,
        700.0,
        63.0,
        "00000000:18:00.0",
    )
    assert [(p.card_index, p.pid, p.name, p.memory_mb) for p in inventory.processes] == [
        (0, 48213, "/usr/bin/python3", 70842),
        (0, 48391, "VLLM::EngineCore", 356),
    ]
    assert [inventory.label(card) for card in inventory.busy_cards()] == ["card 0"]
    assert inventory.summary_line() == (
        "nvidia-smi: 2x NVIDIA H100 80GB HBM3 (2 processes on 1 chip, most used: memory 69.6/79.6 GB on card 0)"
    )


def test_nvidia_placeholders_read_as_none():
    inventory = parse_nvidia_smi(
        (NVIDIA / "gpus_1x_rtx3090_na_fields.csv").read_text(), (NVIDIA / "apps_1x_rtx3090_na_fields.csv").read_text()
    )
    card = inventory.cards[0]
    assert (card.utilization_pct, card.power_w, card.power_limit_w, card.temperature_c) == (None, None, None, 45.0)
    assert inventory.processes == (DeviceProcess(card_index=0, pid=2211, name="python", memory_mb=None),)


@pytest.mark.parametrize(
    "gpus, apps, message",
    [
        ("0, NVIDIA A10, GPU-1, 1, 2\n", "", "expected 10 fields"),
        ("", "", "listed no GPUs"),
        ((NVIDIA / "gpus_2x_h100_one_busy.csv").read_text(), "GPU-unknown, 1, python, 10\n", "did not list"),
    ],
)
def test_nvidia_garbage_raises_value_error(gpus, apps, message):
    with pytest.raises(ValueError, match=message):
        parse_nvidia_smi(gpus, apps)


@pytest.fixture
def stand_ins(monkeypatch):
    """The stand-in npu-smi and nvidia-smi first on PATH, with no FAKE_* settings left from the caller."""
    for name in (
        "FAKE_NPU_SMI_FILE",
        "FAKE_NPU_SMI_USAGES_FILE",
        "FAKE_NPU_SMI_EXIT",
        "FAKE_NPU_SMI_STDERR",
        "FAKE_NPU_SMI_SLEEP",
        "FAKE_NVIDIA_SMI_GPUS_FILE",
        "FAKE_NVIDIA_SMI_APPS_FILE",
        "FAKE_NVIDIA_SMI_EXIT",
        "FAKE_NVIDIA_SMI_STDERR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return monkeypatch


def test_read_inventory_npu_through_the_tool(stand_ins):
    stand_ins.setenv("FAKE_NPU_SMI_FILE", str(NPU / "a3_ascend910_25.2.3_16chips_processes.txt"))
    inventory = read_inventory("npu")
    assert len(inventory.cards) == 16 and len(inventory.busy_cards()) == 8
    assert inventory.summary_line().startswith("npu-smi 25.2.3: 8x Ascend910 in 16 chips")


def test_read_inventory_cuda_through_the_tool(stand_ins):
    stand_ins.setenv("FAKE_NVIDIA_SMI_GPUS_FILE", str(NVIDIA / "gpus_2x_h100_one_busy.csv"))
    stand_ins.setenv("FAKE_NVIDIA_SMI_APPS_FILE", str(NVIDIA / "apps_none.csv"))
    inventory = read_inventory("cuda")
    assert [card.index for card in inventory.cards] == [0, 1] and inventory.busy_cards() == ()


def test_tool_missing_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    for kind, tool in (("npu", "npu-smi"), ("cuda", "nvidia-smi")):
        with pytest.raises(InventoryUnavailable) as caught:
            read_inventory(kind)
        assert str(caught.value) == f"{tool} is not on PATH"


def test_tool_failing_names_exit_code_and_first_stderr_line(stand_ins):
    stand_ins.setenv("FAKE_NPU_SMI_EXIT", "255")
    stand_ins.setenv("FAKE_NPU_SMI_STDERR", "dcmi module initialize failed. ret is -8005\nsecond line")
    with pytest.raises(InventoryUnavailable) as caught:
        read_inventory("npu")
    assert str(caught.value) == "npu-smi info failed with exit code 255: dcmi module initialize failed. ret is -8005"


def test_nvidia_failing_names_exit_code(stand_ins):
    stand_ins.setenv("FAKE_NVIDIA_SMI_EXIT", "9")
    stand_ins.setenv("FAKE_NVIDIA_SMI_STDERR", "NVIDIA-SMI has failed because it couldn't communicate with the driver.")
    with pytest.raises(InventoryUnavailable, match=r"^nvidia-smi --query-gpu=\S+ failed with exit code 9: NVIDIA-SMI"):
        read_inventory("cuda")


def test_garbage_output_is_reported_not_raised(stand_ins, tmp_path):
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("Segmentation fault\n")
    stand_ins.setenv("FAKE_NPU_SMI_FILE", str(garbage))
    with pytest.raises(InventoryUnavailable) as caught:
        read_inventory("npu")
    message = str(caught.value)
    assert message.startswith("npu-smi info output not understood: no card table") and "Segmentation fault" in message
    assert "\n" not in message


def test_timeout_is_reported(stand_ins):
    stand_ins.setenv("FAKE_NPU_SMI_SLEEP", "5")
    with pytest.raises(InventoryUnavailable, match=r"^npu-smi info timed out after 0\.2 s$"):
        read_inventory("npu", timeout=0.2)


def test_injected_runner_and_unknown_kind():
    def hanging(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs["timeout"])

    with pytest.raises(InventoryUnavailable, match="timed out after 3 s"):
        read_inventory("npu", run=hanging, timeout=3)
    with pytest.raises(ValueError, match="unknown device kind 'tpu'"):
        read_inventory("tpu")


def test_usages_through_the_tool(stand_ins, tmp_path):
    stand_ins.setenv("FAKE_NPU_SMI_USAGES_FILE", str(NPU / "usages" / "usages_910b1_23.0.rc2_i0.txt"))
    assert read_npu_usages(0)[0].hbm_capacity_mb == 65536
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    stand_ins.setenv("FAKE_NPU_SMI_USAGES_FILE", str(empty))
    with pytest.raises(InventoryUnavailable, match="usages output not understood"):
        read_npu_usages(0)
