"""The environment record: Ascend version files, JSON-ready capture, secrets, stack diffs, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pytest_ascend_llm.ascend_versions import read_cann_version, read_driver_version
from pytest_ascend_llm.devices import open_device
from pytest_ascend_llm.environment import (
    EnvironmentInfo,
    capture_environment,
    model_fingerprint,
    redact_secrets,
)

TOOLKIT_INSTALL_INFO = """\
package_name=Ascend-cann-toolkit
version=8.0.RC2
innerversion=V100R001C18SPC001B210
compatible_version=[V100R001C15],[V100R001C17],[V100R001C18]
arch=aarch64
os=linux
path=/usr/local/Ascend/ascend-toolkit/8.0.RC2/aarch64-linux
"""

TOOLKIT_VERSION_CFG = """\
# version: 1.0
runtime_running_version=[7.6.0.1.220:8.0.0]
compiler_running_version=[7.6.0.1.220:8.0.0]
toolkit_running_version=[7.6.0.1.220:8.0.0]
runtime_upgrade_version=[7.6.0.1.220:8.0.0]
"""

DRIVER_VERSION_INFO = """\
Version=24.1.rc2
ascendhal_version=7.35.23
aicpu_version=1.0
tdt_version=1.0
Innerversion=V100R001C18SPC001B213
compatible_version=[V100R001C15],[V100R001C18]
compatible_version_fw=[7.0.0,7.5.99]
package_version=24.1.rc2
"""


@pytest.fixture
def ascend_home(tmp_path: Path) -> Path:
    """A toolkit home laid out like /usr/local/Ascend/ascend-toolkit/latest."""
    home = tmp_path / "ascend-toolkit" / "latest"
    (home / "aarch64-linux").mkdir(parents=True)
    (home / "aarch64-linux" / "ascend_toolkit_install.info").write_text(TOOLKIT_INSTALL_INFO)
    return home


def test_cann_version_from_toolkit_install_info(ascend_home):
    assert read_cann_version(ascend_home) == "8.0.RC2"


def test_cann_version_from_the_toolkit_home_variable(ascend_home, monkeypatch):
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(ascend_home))
    assert read_cann_version() == "8.0.RC2"


def test_cann_version_from_version_cfg(tmp_path):
    (tmp_path / "version.cfg").write_text(TOOLKIT_VERSION_CFG)
    assert read_cann_version(tmp_path) == "8.0.0"


def test_cann_version_from_a_version_section(tmp_path):
    (tmp_path / "version.cfg").write_text("[version]\nVersion=8.1.RC1\n")
    assert read_cann_version(tmp_path) == "8.1.RC1"


def test_no_cann_files_means_no_version(tmp_path):
    assert read_cann_version(tmp_path / "missing") is None


def test_driver_version_from_file_folder_or_variable(tmp_path, monkeypatch):
    driver = tmp_path / "driver"
    driver.mkdir()
    (driver / "version.info").write_text(DRIVER_VERSION_INFO)
    assert read_driver_version(driver / "version.info") == "24.1.rc2"
    assert read_driver_version(driver) == "24.1.rc2"
    monkeypatch.setenv("ASCEND_DRIVER_PATH", str(driver))
    assert read_driver_version() == "24.1.rc2"
    assert read_driver_version(tmp_path / "absent") is None


def test_capture_on_cpu_is_json_ready(tmp_path, monkeypatch, ascend_home):
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(ascend_home))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    model_dir = _model(tmp_path / "model")
    info = capture_environment(open_device("cpu"), model_dir=model_dir, model_id="tiny", dtype="float32")
    data = json.loads(json.dumps(info.to_dict()))
    assert data["torch"] == torch.__version__
    assert data["device_kind"] == "cpu" and data["device_count"] == 1
    assert data["device_memory_bytes"] > 0 and data["ram_bytes"] > 0 and data["cpu_count"] > 0
    assert data["model_hash"] == model_fingerprint(model_dir)
    assert data["env"]["ASCEND_TOOLKIT_HOME"] == str(ascend_home)
    assert set(data["env"]) <= {
        "ASCEND_RT_VISIBLE_DEVICES",
        "CUDA_VISIBLE_DEVICES",
        "ASCEND_HOME_PATH",
        "ASCEND_TOOLKIT_HOME",
        "TORCH_DEVICE_BACKEND_AUTOLOAD",
        "HF_HUB_OFFLINE",
    }
    if not hasattr(torch.version, "cann") and data["torch_npu"] is None:
        assert data["cann"] == "8.0.RC2"  # no torch_npu here: CANN comes from the toolkit files
    assert info.stack_summary().startswith(f"torch {torch.__version__}, torch_npu ")
    assert "CANN" in info.stack_summary() and "sglang" in info.stack_summary()


def test_secrets_never_reach_the_record(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("ASCEND_HOME_PATH", "/opt/ascend?token=hf_secretvalue123")
    text = json.dumps(capture_environment(model_id="org/model OPENAI_API_KEY=sk-secret").to_dict())
    assert "hf_secretvalue123" not in text and "sk-secret" not in text


def test_redact_secrets_keeps_ordinary_text():
    assert redact_secrets("tokenizers=0.20 /data/hf_cache/qwen") == "tokenizers=0.20 /data/hf_cache/qwen"
    assert redact_secrets("API_KEY=abc123 Bearer xyz") == "API_KEY=*** ***"
    assert redact_secrets("use sk-abcdef123 or hf_abcdefghijkl") == "use *** or ***"


def _info(**stack) -> EnvironmentInfo:
    machine = dict(os="Linux", kernel="6", cpu_model="x", cpu_count=1, ram_bytes=1, disk_free_bytes=1)
    return EnvironmentInfo(**machine, python="3.12", **stack)


def test_differences_name_each_changed_stack_field():
    saved = _info(cann="8.0.RC2", torch="2.5.1", dtype="bfloat16").to_dict()
    now = _info(cann="8.1.RC1", torch="2.5.1", dtype="bfloat16", sglang="0.4.6")
    assert now.differences(saved) == ["CANN 8.0.RC2 → 8.1.RC1", "sglang - → 0.4.6"]
    assert now.differences(now.to_dict()) == []


def test_stack_summary_marks_absent_packages():
    info = _info(torch="2.13.0+cpu", transformers="5.24.0")
    expected = "torch 2.13.0+cpu, torch_npu -, CANN -, driver -, transformers 5.24.0, sglang -"
    assert info.stack_summary() == expected


def _model(folder: Path, hidden: int = 4, layers: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": hidden, "num_hidden_layers": layers}))
    save_file({"embed.weight": torch.zeros(8, hidden)}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({"lm_head.weight": torch.zeros(8, hidden)}, str(folder / "model-00002-of-00002.safetensors"))
    return folder


def test_fingerprint_is_stable_and_twelve_hex_chars(tmp_path):
    first = model_fingerprint(_model(tmp_path / "a"))
    assert first == model_fingerprint(_model(tmp_path / "b"))  # same content elsewhere: same hash
    assert len(first) == 12 and int(first, 16) >= 0


def test_fingerprint_of_a_large_file_reads_a_sample_of_its_tensor_bytes(tmp_path):
    """A 4 MiB tensor: a change at the start of its data changes the hash; so does one in the last 64 KiB."""
    model_dir = tmp_path / "big"
    model_dir.mkdir()
    weights = torch.zeros(2**20)
    save_file({"w": weights}, str(model_dir / "model.safetensors"))
    before = model_fingerprint(model_dir)
    for position in (0, 2**20 - 1):
        changed = weights.clone()
        changed[position] = 1.0
        save_file({"w": changed}, str(model_dir / "model.safetensors"))
        assert model_fingerprint(model_dir) != before, position


def test_fingerprint_changes_with_the_config(tmp_path):
    model_dir = _model(tmp_path)
    before = model_fingerprint(model_dir)
    (model_dir / "config.json").write_text(json.dumps({"hidden_size": 4, "num_hidden_layers": 3}))
    assert model_fingerprint(model_dir) != before


def test_fingerprint_changes_with_a_safetensors_header(tmp_path):
    model_dir = _model(tmp_path)
    before = model_fingerprint(model_dir)
    shard = model_dir / "model-00002-of-00002.safetensors"
    save_file({"lm_head.weight": torch.zeros(8, 4, dtype=torch.float16)}, str(shard))  # dtype in header
    assert model_fingerprint(model_dir) != before


def test_fingerprint_samples_tensor_bytes_and_uses_the_index(tmp_path):
    model_dir = _model(tmp_path)
    before = model_fingerprint(model_dir)
    save_file({"embed.weight": torch.ones(8, 4)}, str(model_dir / "model-00001-of-00002.safetensors"))
    changed = model_fingerprint(model_dir)
    assert changed != before  # same header, other weights (a fine-tune): the sampled bytes tell them apart
    before = changed
    index = {"weight_map": {"embed.weight": "model-00001-of-00002.safetensors"}}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    with_index = model_fingerprint(model_dir)
    assert with_index != before
    index["weight_map"]["lm_head.weight"] = "model-00002-of-00002.safetensors"
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    assert model_fingerprint(model_dir) != with_index
