"""Capacity planner and deployment commands, checked against numbers worked out by hand for Qwen2.5-14B."""

import json
import shlex

import pytest
import torch
import transformers

from pytest_ascend_llm.cli import main
from pytest_ascend_llm.devices.spec_sheets import SPEC_TABLE, known_names
from pytest_ascend_llm.planning import (
    CapacityError,
    check_concurrency,
    parameter_count,
    plan_capacity,
    sglang_command,
    shell_line,
    transformers_settings,
)

# Qwen2.5-14B-Instruct's config.json (the fields the planner reads).
QWEN25_14B = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 5120,
    "intermediate_size": 13824,
    "num_attention_heads": 40,
    "num_hidden_layers": 48,
    "num_key_value_heads": 8,
    "vocab_size": 152064,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
}

# By hand: embeddings and lm_head V×H; per layer q (H×40·128 + bias), k and v (H×8·128 + bias), o (40·128×H),
# MLP 3·H×I, two RMSNorms; one final norm.
EMBEDDINGS = 152064 * 5120
PER_LAYER = (5120 * 5120 + 5120) + 2 * (5120 * 1024 + 1024) + 5120 * 5120 + 3 * 5120 * 13824 + 2 * 5120
PARAMETERS = 2 * EMBEDDINGS + 48 * PER_LAYER + 5120
WEIGHT_BYTES = PARAMETERS * 2  # bfloat16
KV_PER_TOKEN = 2 * 48 * 8 * 128 * 2  # K and V × layers × KV heads × head_dim × bytes


def test_hand_arithmetic_itself():
    assert PARAMETERS == 14_770_033_664
    assert abs(PARAMETERS - 14.77e9) / 14.77e9 < 0.005
    assert WEIGHT_BYTES == 29_540_067_328
    assert KV_PER_TOKEN == 196_608 == 192 * 1024


def test_parameter_count_of_qwen25_14b():
    assert parameter_count(QWEN25_14B) == PARAMETERS


@pytest.mark.parametrize(
    "config",
    [
        QWEN25_14B,
        {
            "model_type": "llama",
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "intermediate_size": 96,
            "vocab_size": 100,
            "tie_word_embeddings": True,
            "attention_bias": True,
            "mlp_bias": True,
        },
        {
            "model_type": "qwen3",
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
            "intermediate_size": 96,
            "vocab_size": 100,
            "tie_word_embeddings": False,
        },
    ],
    ids=["qwen2.5-14b", "llama-tied-biases", "qwen3-head-dim"],
)
def test_parameter_count_equals_the_transformers_model(config):
    """The formula against the real module tree, built on the meta device so nothing is allocated."""
    hf_config = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    assert parameter_count(config) == sum(p.numel() for p in model.parameters())


def test_32gb_card_at_tp1_is_refused_in_one_line():
    # 0.9 × 32e9 = 28.8e9 bytes for weights + KV, and the weights alone are 29.54e9.
    assert WEIGHT_BYTES > 28_800_000_000
    with pytest.raises(CapacityError) as caught:
        plan_capacity(QWEN25_14B, "bfloat16", 32_000_000_000, tp_size=1, model_id="Qwen2.5-14B-Instruct")
    message = str(caught.value)
    assert "\n" not in message
    assert "27.51 GiB" in message and "26.82 GiB" in message  # 29.54e9 and 28.8e9 bytes
    assert "tensor parallelism" in message and "smaller dtype" in message and "larger card" in message


# (memory, tp, context, static bytes, weights per device, KV bytes per token per device, kv tokens, max sequences)
CASES = [
    # 32 GB, TP 2: 0.9 × 32e9 = 28_800_000_000; weights 29_540_067_328 / 2; KV heads 8 / 2 = 4 per device.
    (32e9, 2, 32768, 28_800_000_000, 29_540_067_328 // 2, 2 * 48 * 4 * 128 * 2, 142_720, 4),
    (32e9, 2, 8192, 28_800_000_000, 29_540_067_328 // 2, 2 * 48 * 4 * 128 * 2, 142_720, 17),
    # 64 GB, TP 1: 0.9 × 64e9 = 57_600_000_000; all 8 KV heads on the one device.
    (64e9, 1, 32768, 57_600_000_000, 29_540_067_328, 2 * 48 * 8 * 128 * 2, 142_720, 4),
    (64e9, 1, 8192, 57_600_000_000, 29_540_067_328, 2 * 48 * 8 * 128 * 2, 142_720, 17),
    # 64 GB, TP 2.
    (64e9, 2, 32768, 57_600_000_000, 29_540_067_328 // 2, 2 * 48 * 4 * 128 * 2, 435_688, 13),
    (64e9, 2, 8192, 57_600_000_000, 29_540_067_328 // 2, 2 * 48 * 4 * 128 * 2, 435_688, 53),
]


@pytest.mark.parametrize("memory, tp, context, static, weights, kv_token, kv_tokens, sequences", CASES)
def test_plan_numbers_worked_by_hand(memory, tp, context, static, weights, kv_token, kv_tokens, sequences):
    # The hand arithmetic first: pool = static − weights per device; tokens = pool // KV bytes per token.
    assert (static - weights) // kv_token == kv_tokens
    assert kv_tokens // context == sequences
    plan = plan_capacity(QWEN25_14B, "bfloat16", int(memory), tp_size=tp, context_length=context)
    assert plan.parameter_count == 14_770_033_664
    assert plan.weight_bytes == 29_540_067_328
    assert plan.weight_bytes_per_device == weights
    assert plan.kv_bytes_per_token == 196_608
    assert plan.kv_bytes_per_token_per_device == kv_token
    assert plan.kv_pool_bytes_per_device == static - weights
    assert plan.kv_tokens == kv_tokens
    assert plan.max_concurrent_sequences == sequences
    assert plan.workspace_reserve_bytes == int(memory) - static
    assert plan.context_length == context


def test_context_defaults_to_max_position_embeddings():
    plan = plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000)
    assert plan.context_length == 32768
    assert plan.max_concurrent_sequences == 4


def test_fewer_kv_heads_than_ranks_are_replicated():
    config = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "intermediate_size": 96,
        "vocab_size": 100,
        "max_position_embeddings": 64,
    }
    plan = plan_capacity(config, "float16", 1_000_000, tp_size=4)
    assert plan.kv_heads_per_device == 1
    assert plan.kv_bytes_per_token == 2 * 2 * 2 * 8 * 2
    assert plan.kv_bytes_per_token_per_device == 2 * 2 * 1 * 8 * 2


def test_one_sequence_that_does_not_fit_is_refused():
    with pytest.raises(CapacityError, match="shorter context length"):
        plan_capacity(QWEN25_14B, "bfloat16", 32_000_000_000, tp_size=2, context_length=200_000)


def test_float32_on_64gb_is_refused_and_unknown_dtype_named():
    # 14_770_033_664 × 4 = 59.08e9 bytes (55.02 GiB) > 0.9 × 64e9.
    with pytest.raises(CapacityError, match="55.02 GiB"):
        plan_capacity(QWEN25_14B, "float32", 64_000_000_000)
    with pytest.raises(CapacityError, match="float16, bfloat16, float32"):
        plan_capacity(QWEN25_14B, "int3", 64_000_000_000)


def test_tp_must_divide_attention_heads():
    with pytest.raises(CapacityError, match="40 attention heads"):
        plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000, tp_size=3)


def test_concurrency_beyond_the_kv_cache_is_refused():
    plan = plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000, tp_size=2, context_length=8192)
    check_concurrency(plan, 53)  # 53 × 8192 = 434_176 ≤ 435_688
    with pytest.raises(CapacityError, match="442368 tokens exceeds the KV cache of 435688"):
        check_concurrency(plan, 54)  # 54 × 8192 = 442_368


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_sglang_command_for_npu():
    plan = plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000, tp_size=2, context_length=8192)
    argv = sglang_command(plan, "/models/Qwen2.5-14B-Instruct")
    assert argv[:3] == ["python", "-m", "sglang.launch_server"]
    assert _flag(argv, "--model-path") == "/models/Qwen2.5-14B-Instruct"
    assert _flag(argv, "--device") == "npu"
    assert _flag(argv, "--attention-backend") == "ascend"
    assert _flag(argv, "--tp-size") == "2"
    assert _flag(argv, "--mem-fraction-static") == "0.9"
    assert _flag(argv, "--context-length") == "8192"
    assert _flag(argv, "--max-running-requests") == "53"
    assert _flag(argv, "--dtype") == "bfloat16"
    assert _flag(argv, "--host") == "127.0.0.1"
    assert _flag(argv, "--port") == "30000"
    assert shlex.split(shell_line(argv)) == argv


def test_sglang_command_for_cuda_leaves_out_the_ascend_flags():
    plan = plan_capacity(QWEN25_14B, "bfloat16", 80_000_000_000)
    argv = sglang_command(plan, "/m o/del", host="0.0.0.0", port=8000, device="cuda")
    assert "--device" not in argv and "--attention-backend" not in argv
    assert _flag(argv, "--host") == "0.0.0.0" and _flag(argv, "--port") == "8000"
    assert "'/m o/del'" in shell_line(argv)


def test_transformers_settings():
    plan = plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000, context_length=8192)
    settings = transformers_settings(plan, "/models/q", "npu")
    assert settings == {
        "model_path": "/models/q",
        "dtype": "bfloat16",
        "device_map": "npu:0",
        "max_batch_size": 17,
        "max_length": 8192,
    }
    two = plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000, tp_size=2)
    assert transformers_settings(two, "/models/q", "npu")["device_map"] == "auto"


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "Qwen2.5-14B-Instruct"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(QWEN25_14B))
    return folder


def test_cli_prints_plan_and_command(model_dir, capsys):
    code = main(["plan", "--model", str(model_dir), "--device-memory", "64GB", "--tp", "2", "--context-length", "8192"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Qwen2.5-14B-Instruct: 14.77 B parameters" in out
    assert "435688 tokens" in out
    assert f"python -m sglang.launch_server --model-path {model_dir} --device npu --attention-backend ascend" in out
    assert "--tp-size 2 --mem-fraction-static 0.9 --context-length 8192 --max-running-requests 53" in out
    assert "--host 127.0.0.1 --port 30000" in out


def test_cli_refused_plan_is_one_line_and_exit_2(model_dir, capsys):
    code = main(["plan", "--model", str(model_dir), "--device-memory", "32e9"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1
    assert "Traceback" not in captured.err and "27.51 GiB" in captured.err


def test_cli_concurrency_refused(model_dir, capsys):
    code = main(["plan", "--model", str(model_dir), "--device-memory", "64GB", "--concurrency", "5"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: concurrency 5 x context 32768")


def test_cli_device_name_from_the_table(model_dir, capsys):
    code = main(["plan", "--model", str(model_dir), "--device-name", "Ascend910B2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "device 64.00 GiB" in out  # npu-smi's 65536 MB (MiB), not the datasheet's 64e9 bytes (59.60 GiB)
    # 0.9 x 64 GiB - 27.51 GiB of weights = 164324 tokens of KV at 192 KiB: 5 sequences of 32768, not 4.
    assert "--tp-size 1" in out and "--max-running-requests 5" in out


def test_cli_unknown_device_name(model_dir, capsys):
    assert main(["plan", "--model", str(model_dir), "--device-name", "Gaudi9"]) == 2
    assert "pass --device-memory" in capsys.readouterr().err


def test_an_unknown_device_name_is_refused_with_what_it_may_mean_and_every_known_name(model_dir, capsys):
    assert main(["plan", "--model", str(model_dir), "--device-name", "910B3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: device '910B3' is not in the device table")
    assert "did you mean Ascend910B3?" in err
    assert all(name in err for name in known_names()) and "Ascend910B2, " in err and "NVIDIA H200, " in err


@pytest.mark.parametrize(
    ("device", "mib", "tool"),
    [
        ("Ascend910B2", 65536, "npu-smi"),
        ("Ascend910B4", 32768, "npu-smi"),
        ("Ascend910B4-1", 65536, "npu-smi"),
        ("NVIDIA H100 80GB HBM3", 81559, "nvidia-smi"),
        ("NVIDIA H200", 143771, "nvidia-smi"),
    ],
)
def test_a_named_card_is_planned_from_the_mib_its_vendor_tool_reports(capsys, device, mib, tool):
    code = main(["plan", "--device-name", device, "--json"])  # the built-in model fits every card
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["plan"]["device_memory_bytes"] == mib * 2**20
    assert (
        document["device_memory_source"].startswith(f"{mib} MiB per device")
        and tool in document["device_memory_source"]
    )
    main(["plan", "--device-name", device])
    assert f"device memory: {mib} MiB per device (table row" in capsys.readouterr().out


def test_every_table_memory_names_where_it_was_read():
    for sheet in SPEC_TABLE:
        if sheet.memory_bytes:
            assert sheet.memory_bytes % 2**20 == 0 and sheet.memory_source, sheet.name
            assert any(word in sheet.memory_source for word in ("npu-smi", "nvidia-smi", "datasheet")), sheet.name


def test_cli_json(model_dir, capsys):
    code = main(["plan", "--model", str(model_dir), "--device-memory", "32GB", "--tp", "2", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert document["plan"]["kv_tokens"] == 142_720
    assert document["plan"]["max_concurrent_sequences"] == 4
    assert document["plan"]["device_memory_bytes"] == 32_000_000_000
    assert _flag(document["sglang"]["argv"], "--tp-size") == "2"
    assert document["transformers"]["device_map"] == "auto"


@pytest.mark.parametrize("text, expected", [("32GiB", 32 * 2**30), ("80e9", 80_000_000_000), ("64000000000", 64e9)])
def test_cli_memory_sizes(model_dir, capsys, text, expected):
    assert main(["plan", "--model", str(model_dir), "--device-memory", text, "--tp", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plan"]["device_memory_bytes"] == expected


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["plan", "--device-memory", "lots"]) == 2
    assert main(["plan", "--model", str(tmp_path), "--device-memory", "64GB"]) == 2
    assert main(["plan"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors)
    assert "config.json" in errors[1] and "--device-memory" in errors[2]


def test_cli_default_is_the_builtin_model(capsys):
    assert main(["plan", "--device-memory", "32GB"]) == 0
    assert "builtin:tiny-qwen2" in capsys.readouterr().out


def test_a_plan_with_no_room_for_activations_is_refused_with_the_reason(model_dir, capsys):
    with pytest.raises(CapacityError, match="nothing is left for them"):
        plan_capacity(QWEN25_14B, "bfloat16", 64_000_000_000, mem_fraction_static=1.0)
    code = main(["plan", "--model", str(model_dir), "--device-memory", "64GB", "--mem-fraction-static", "1.0"])
    assert code == 2 and "between 0 and 1, exclusive" in capsys.readouterr().err


@pytest.mark.parametrize(("device", "ceiling"), [("Ascend910B2", "54.2"), ("NVIDIA H100 80GB HBM3", "113.4")])
def test_plan_prints_the_batch1_decode_ceiling_from_the_table_row(model_dir, capsys, device, ceiling):
    # 1.6e12 / 29_540_067_328 = 54.16 tok/s; 3.35e12 / 29_540_067_328 = 113.4 (shared HARDWARE.md: 54 and 113).
    code = main(["plan", "--model", str(model_dir), "--device-name", device, "--context-length", "8192"])
    out = capsys.readouterr().out
    assert code == 0 and f"batch-1 decode ceiling: {ceiling} tok/s at context 0" in out and "table row" in out


def test_plan_without_a_bandwidth_says_the_ceiling_is_unknown_and_how_to_get_it(model_dir, capsys):
    main(["plan", "--model", str(model_dir), "--device-memory", "80GB", "--context-length", "8192"])
    assert "decode ceiling: unknown (no bandwidth): pass --peak-bandwidth" in capsys.readouterr().out
    main(
        [
            "plan",
            "--model",
            str(model_dir),
            "--device-memory",
            "80GB",
            "--context-length",
            "8192",
            "--peak-bandwidth",
            "1600",
        ]
    )
    assert "54.2 tok/s at context 0" in capsys.readouterr().out
