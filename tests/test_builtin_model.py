"""The built-in model: offline, deterministic, loaded through the same path as any user model."""

import json
import shutil

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from pytest_ascend_llm.models.builtin import RECIPE, ensure_builtin_model, is_builtin_model
from pytest_ascend_llm.models.source import inspect_model_dir
from pytest_ascend_llm.suite.prompts import corpus_text


def test_builds_the_same_weights_from_the_recipe_in_a_fresh_folder(tmp_path):
    fresh = ensure_builtin_model(tmp_path)
    cached = ensure_builtin_model()
    a, b = load_file(fresh.target / "model.safetensors"), load_file(cached.target / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    config = json.loads((fresh.target / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["hidden_size"] == RECIPE["hidden_size"]
    assert config["num_key_value_heads"] == 2 and config["num_attention_heads"] == 4


def test_draft_is_one_layer_sharing_the_targets_tokenizer_and_embeddings():
    model = ensure_builtin_model()
    draft_config = json.loads((model.draft / "config.json").read_text())
    assert draft_config["num_hidden_layers"] == 1
    assert (model.draft / "tokenizer.json").read_bytes() == (model.target / "tokenizer.json").read_bytes()
    target, draft = (
        load_file(model.target / "model.safetensors"),
        load_file(model.draft / "model.safetensors"),
    )
    assert torch.equal(target["model.embed_tokens.weight"], draft["model.embed_tokens.weight"])


def test_loaded_tokenizer_encodes_exactly_like_the_trained_one(engine):
    """AutoTokenizer swaps in Qwen2's pre-tokenizer for qwen2 configs; the ids must not change."""
    source = inspect_model_dir(None)
    raw = Tokenizer.from_file(str(source.path / "tokenizer.json"))
    text = corpus_text() + "  Hello   world\r\n 你好 12345 don't"
    assert engine.encode(text) == raw.encode(text).ids
    assert len(engine.tokenizer) == source.config["vocab_size"]


def test_builtin_marker_is_detected_and_a_copy_without_it_is_a_user_model(tmp_path):
    source = inspect_model_dir(None)
    assert source.builtin and is_builtin_model(source.path)
    for item in source.path.iterdir():
        if item.name != "pytest_ascend_llm_builtin.json":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    assert not inspect_model_dir(tmp_path).builtin


def test_a_named_copy_of_the_builtin_model_is_reported_by_its_folder(tmp_path):
    copy = tmp_path / "my-tiny"
    shutil.copytree(inspect_model_dir(None).path, copy)
    source = inspect_model_dir(copy)
    assert source.builtin, "its weights are random: quality probes must still skip"
    assert source.model_id == "my-tiny (built-in recipe)"
    assert inspect_model_dir(None).model_id == "builtin:tiny-qwen2"
