"""What changed between two runs' stacks: field order, missing fields, differences that do not matter, and secrets."""

from __future__ import annotations

import json

from pytest_ascend_llm.environment import EnvironmentInfo
from pytest_ascend_llm.reporting.changes import StackChanges, stack_changes


def stack(**fields: object) -> dict[str, object]:
    """A stack as EnvironmentInfo.to_dict() saves it, with the given fields changed or added."""
    info = EnvironmentInfo(
        os="Linux",
        kernel="5.10",
        cpu_model="Kunpeng-920",
        cpu_count=192,
        ram_bytes=2**40,
        disk_free_bytes=2**40,
        python="3.11.7",
        torch="2.5.1",
        torch_npu="2.5.1",
        cann="8.0.RC3",
        driver="24.1.rc2",
        transformers="4.51.3",
        device_name="Ascend910B3",
        model_hash="abc123def456",
        dtype="bfloat16",
        engine="transformers",
        torch_threads=24,
        env={"ASCEND_RT_VISIBLE_DEVICES": "0,1"},
    )
    return json.loads(json.dumps(info.to_dict())) | fields  # as read back from a saved run


def test_identical_stacks_change_nothing_and_list_what_is_the_same_in_field_order():
    changes = stack_changes(stack(), stack())
    assert changes.changed == []
    assert [label for label, _ in changes.same] == [
        "device",
        "torch",
        "torch_npu",
        "CANN",
        "driver",
        "transformers",
        "engine",
        "dtype",
        "torch threads",
        "ASCEND_RT_VISIBLE_DEVICES",
        "weights hash",
    ]
    assert changes.line().startswith(
        "changed: nothing; same: device Ascend910B3, torch 2.5.1, torch_npu 2.5.1, CANN 8.0.RC3, driver"
    )


def test_changes_come_first_in_the_line_then_what_stayed():
    changes = stack_changes(stack(dtype="float32"), stack(cann="8.1.RC1"))
    assert changes.changed == [("CANN", "8.0.RC3", "8.1.RC1"), ("dtype", "float32", "bfloat16")]
    assert changes.line() == (
        "changed: CANN 8.0.RC3 → 8.1.RC1, dtype float32 → bfloat16; same: device Ascend910B3, torch 2.5.1, "
        "torch_npu 2.5.1, "
        "driver 24.1.rc2, transformers 4.51.3, engine transformers, torch threads 24, ASCEND_RT_VISIBLE_DEVICES 0,1, "
        "weights hash abc123def456"
    )
    assert changes.to_dict()["changed"][0] == {"field": "CANN", "before": "8.0.RC3", "now": "8.1.RC1"}
    assert {"field": "torch", "value": "2.5.1"} in changes.to_dict()["same"]
    json.dumps(changes.to_dict())


def test_an_old_saved_run_without_the_newer_fields_shows_them_as_missing():
    old = {key: value for key, value in stack().items() if key not in ("torch_threads", "thread_settings", "env")}
    new = stack(graph_mode="compiled", engine_flags=["--enforce-eager"], tokenizer_hash="0fedcba98765")
    changed = stack_changes(old, new).changed
    assert changed == [
        ("graph mode", "-", "compiled"),
        ("engine flags", "-", "--enforce-eager"),
        ("torch threads", "-", "24"),
        ("ASCEND_RT_VISIBLE_DEVICES", "-", "0,1"),
        ("tokenizer hash", "-", "0fedcba98765"),
    ]
    assert [c[0] for c in stack_changes(new, old).changed] == [c[0] for c in changed]
    assert stack_changes(new, old).changed[0] == ("graph mode", "compiled", "-")


def test_fields_missing_from_both_runs_are_left_out():
    labels = {label for label, _ in stack_changes(stack(), stack()).same}
    assert not labels & {"firmware", "sglang", "vllm", "server version", "graph mode", "engine flags", "tokenizer hash"}
    assert "torch_npu" not in {label for label, _ in stack_changes(stack(torch_npu=None), stack(torch_npu="")).same}
    assert stack_changes(stack(torch_npu=None), stack(torch_npu="")).changed == []


def test_differences_that_do_not_matter_are_not_changes():
    before = stack(
        dtype="torch.bfloat16",
        cann="8.0.rc3",
        engine_flags={"tp": 2, "mem_fraction": 0.8},
        graph_mode=" eager ",
        env={"ASCEND_RT_VISIBLE_DEVICES": "0,1", "HCCL_BUFFSIZE": "200"},
    )
    now = stack(
        dtype="bfloat16",
        engine_flags={"mem_fraction": 0.8, "tp": 2},
        graph_mode="eager",
        env={"HCCL_BUFFSIZE": "200", "ASCEND_RT_VISIBLE_DEVICES": "0,1"},
    )
    assert stack_changes(before, now).changed == []
    flags = ["--tp-size", "2", "--mem-fraction-static", "0.8", "--enable-cache-report"]
    reordered = ["--enable-cache-report", "--mem-fraction-static=0.8", "--tp-size", "2"]
    assert stack_changes(stack(engine_flags=flags), stack(engine_flags=reordered)).changed == []
    assert stack_changes(stack(engine_flags=" ".join(flags)), stack(engine_flags=reordered)).changed == []


def test_flags_with_another_value_are_a_change():
    before = stack(engine_flags=["--tp-size", "2", "--enable-cache-report"])
    now = stack(engine_flags=["--enable-cache-report", "--tp-size", "4"])
    assert stack_changes(before, now).changed == [
        ("engine flags", "--tp-size 2 --enable-cache-report", "--enable-cache-report --tp-size 4")
    ]


def test_engine_package_and_server_versions():
    before = stack(
        engine="vllm-server", vllm="0.8.4", server={"engine": "vllm-server", "version": {"version": "0.8.4"}}
    )
    now = stack(engine="sglang-server", sglang="0.4.6", server={"get_server_info": {"version": "0.4.6", "x": 1}})
    changed = stack_changes(before, now).changed
    assert changed == [
        ("engine", "vllm-server", "sglang-server"),
        ("sglang", "-", "0.4.6"),
        ("vllm", "0.8.4", "-"),
        ("server version", "0.8.4", "0.4.6"),
    ]


def test_firmware_comes_from_the_cards_where_the_inventory_records_it():
    cards = [{"index": 0, "firmware": "7.5.0.1.129"}, {"index": 1, "firmware": "7.5.0.1.129"}]
    newer = [{"index": 0, "firmware": "7.7.0.1.231"}, {"index": 1, "firmware": "7.5.0.1.129"}]
    changes = stack_changes(stack(inventory={"cards": cards}), stack(inventory={"cards": newer}))
    assert changes.changed == [("firmware", "7.5.0.1.129", "7.5.0.1.129/7.7.0.1.231")]
    no_firmware = {"tool": "npu-smi", "cards": [{"index": 0, "name": "910B3"}]}
    assert "firmware" not in stack_changes(stack(inventory=no_firmware), stack(inventory={"unavailable": "x"})).line()


def test_recorded_variables_follow_the_doctors_order_and_every_name_of_either_run_is_compared():
    before = stack(
        env={"HF_HUB_OFFLINE": "1", "ASCEND_RT_VISIBLE_DEVICES": "0"}, thread_settings={"OMP_NUM_THREADS": "8"}
    )
    now = stack(env={"ASCEND_LAUNCH_BLOCKING": "1", "ASCEND_RT_VISIBLE_DEVICES": "0"}, thread_settings={})
    changes = stack_changes(before, now)
    assert changes.changed == [
        ("ASCEND_LAUNCH_BLOCKING", "-", "1"),
        ("OMP_NUM_THREADS", "8", "-"),
        ("HF_HUB_OFFLINE", "1", "-"),  # not in the doctor's table: after its names
    ]
    assert ("ASCEND_RT_VISIBLE_DEVICES", "0") in changes.same


def test_no_secret_reaches_the_line_or_the_dict(monkeypatch):
    """environment.py records only whitelisted, redacted variables; the comparison adds nothing of its own."""
    secret = "hf_abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("HF_TOKEN", secret)
    before = stack(server={"engine": "openai", "endpoint": "http://h:8000", "api_key": secret, "version": "1.0"})
    now = stack(server={"engine": "openai", "endpoint": "http://h:9000", "api_key": secret, "version": "1.1"})
    changes = stack_changes(before, now)
    text = changes.line() + json.dumps(changes.to_dict())
    assert secret not in text and "HF_TOKEN" not in text
    assert changes.changed == [("server version", "1.0", "1.1")]


def test_a_run_without_changes_or_same_fields_still_reads():
    assert StackChanges([], []).line() == "changed: nothing"
    assert StackChanges([("CANN", "-", "8.1.RC1")], []).line() == "changed: CANN - → 8.1.RC1"
