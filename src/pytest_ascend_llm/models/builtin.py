"""The built-in model: a tiny Qwen2 and a 1-layer draft, made offline from a recipe with a fixed seed.

Random weights are fine for every check except quality; the initializer is large enough that greedy
output varies from token to token, so equality checks between code paths prove something.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError

BUILTIN_MARKER = "pytest_ascend_llm_builtin.json"
CACHE_VARIABLE = "PYTEST_ASCEND_LLM_CACHE"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

BUILTIN_SERVED_NAME = "builtin-tiny-qwen2"  # the name a launched server serves it under
RECIPE: dict[str, object] = {
    "recipe_version": 2,
    "seed": 20261125,
    "hidden_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 4,
    "intermediate_size": 384,
    "max_position_embeddings": 4096,
    "initializer_range": 0.5,
    "tokenizer_vocab_size": 4096,
    "draft_layers": 1,
    "deep_layer_residual_scale": 0.1,
}


@dataclass(frozen=True)
class BuiltinModel:
    """Where the built-in target and draft models live on disk."""

    target: Path
    draft: Path


def cache_root() -> Path:
    """Cache folder: $PYTEST_ASCEND_LLM_CACHE, else $XDG_CACHE_HOME/pytest-ascend-llm, else ~/.cache."""
    explicit = os.environ.get(CACHE_VARIABLE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pytest-ascend-llm"


def _corpus() -> str:
    return resources.files("pytest_ascend_llm.models").joinpath("corpus.txt").read_text(encoding="utf-8")


def recipe_key() -> str:
    """Short hash of everything that determines the files: the recipe and the tokenizer corpus."""
    digest = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode() + _corpus().encode())
    return digest.hexdigest()[:12]


def is_builtin_model(path: Path) -> bool:
    return (Path(path) / BUILTIN_MARKER).is_file()


# Qwen2's own pre-tokenization. transformers' AutoTokenizer rebuilds a qwen2 model's tokenizer with it
# whatever tokenizer.json says, so training with the same split keeps one loading path for every model.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _train_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=int(RECIPE["tokenizer_vocab_size"]),
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus().splitlines(keepends=True), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        chat_template=CHATML_TEMPLATE,
    )


def _qwen2_config(vocab_size: int, layers: int, eos_id: int, pad_id: int):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=RECIPE["hidden_size"],
        intermediate_size=RECIPE["intermediate_size"],
        num_hidden_layers=layers,
        num_attention_heads=RECIPE["num_attention_heads"],
        num_key_value_heads=RECIPE["num_key_value_heads"],
        max_position_embeddings=RECIPE["max_position_embeddings"],
        initializer_range=RECIPE["initializer_range"],
        tie_word_embeddings=False,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        bos_token_id=None,
        dtype="float32",
    )


def _write(folder: Path) -> None:
    from transformers import Qwen2ForCausalLM
    from transformers.utils import logging as hf_logging

    from pytest_ascend_llm.torch_backend import torch

    hf_logging.disable_progress_bar()
    tokenizer = _train_tokenizer()
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    torch.manual_seed(int(RECIPE["seed"]))
    target = Qwen2ForCausalLM(_qwen2_config(len(tokenizer), int(RECIPE["num_hidden_layers"]), eos_id, pad_id))
    # Layers after the first add smaller residual updates, so the 1-layer draft agrees with the target
    # about half the time (measured: acceptance ~0.5 at 4 proposed tokens), as a trained draft would.
    with torch.no_grad():
        for layer in target.model.layers[1:]:
            layer.self_attn.o_proj.weight.mul_(RECIPE["deep_layer_residual_scale"])
            layer.mlp.down_proj.weight.mul_(RECIPE["deep_layer_residual_scale"])
    # The draft is the target truncated to its first layer: same embeddings, head and tokenizer, so
    # its proposals agree with the target often enough for speculative decoding to be meaningful.
    draft = Qwen2ForCausalLM(_qwen2_config(len(tokenizer), int(RECIPE["draft_layers"]), eos_id, pad_id))
    draft.load_state_dict(target.state_dict(), strict=False)
    marker = json.dumps({"recipe": RECIPE, "key": recipe_key()}, indent=2)
    for name, model in (("target", target), ("draft", draft)):
        model.generation_config.eos_token_id = eos_id
        model.generation_config.pad_token_id = pad_id
        model.save_pretrained(folder / name)
        tokenizer.save_pretrained(folder / name)
        (folder / name / BUILTIN_MARKER).write_text(marker)


def ensure_builtin_model(root: Path | None = None) -> BuiltinModel:
    """Build the model into the cache on first use (about a second), then reuse it; never downloads."""
    folder = (root or cache_root()) / f"builtin-qwen2-{recipe_key()}"
    if not (folder / "draft" / BUILTIN_MARKER).is_file():
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
        except OSError as error:
            raise LLMSetupError(
                f"cannot build the built-in model in {folder.parent} ({error.strerror or error}): set "
                f"{CACHE_VARIABLE} to a writable folder, or pass --llm-model DIR"
            ) from None
        try:
            _write(staging)
            try:
                staging.rename(folder)  # atomic: a concurrent builder either wins or finds it done
            except OSError:
                if not (folder / "draft" / BUILTIN_MARKER).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return BuiltinModel(target=folder / "target", draft=folder / "draft")
