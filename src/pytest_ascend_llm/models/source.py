"""Validate a model directory before anything is loaded, so a bad path fails in one line at start."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.models.builtin import BUILTIN_SERVED_NAME, ensure_builtin_model, is_builtin_model

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


@dataclass(frozen=True)
class ModelSource:
    """A model directory that has a config and readable weight files."""

    path: Path | None
    config: dict = field(repr=False)
    weight_files: tuple[Path, ...]
    builtin: bool
    draft_path: Path | None = None
    named_by_user: bool = True
    served_as: str | None = None  # a model known only by the name a server answers to

    @property
    def model_id(self) -> str:
        """'builtin:tiny-qwen2' for the default; a folder the user named is reported by its name, and a
        copy of the built-in model says so (its weights are random, so quality checks still skip)."""
        if self.served_as is not None:
            return self.served_as
        if self.builtin and not self.named_by_user:
            return "builtin:tiny-qwen2"
        return f"{self.path.name} (built-in recipe)" if self.builtin else self.path.name

    @property
    def max_positions(self) -> int:
        return int(self.config.get("max_position_embeddings") or 2048)


def remote_source(served_as: str, max_model_len: int | None = None) -> ModelSource:
    """A model behind a server with no local folder: its name, and its context length where the server
    reports one. The built-in model served under its own name is recognised, so quality checks skip."""
    config = {"max_position_embeddings": int(max_model_len)} if max_model_len else {}
    return ModelSource(None, config, (), served_as == BUILTIN_SERVED_NAME, served_as=served_as)


def _check_safetensors(path: Path) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as error:  # safetensors raises its own SafetensorError and OSError
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LLMSetupError(
            f"model weights {path} are unreadable or corrupt ({detail}): re-download or re-save the model"
        ) from None


def _weight_files(path: Path) -> tuple[Path, ...]:
    for pattern in WEIGHT_PATTERNS:
        files = tuple(sorted(path.glob(pattern)))
        if files:
            return files
    return ()


def inspect_model_dir(path: str | Path | None, origin: str = "--llm-model") -> ModelSource:
    """Check a model directory (None means the built-in model); raises LLMSetupError naming the option
    that gave the path (``origin``) and the fix."""
    if path is None or str(path) in ("", "builtin"):
        builtin = ensure_builtin_model()
        source = inspect_model_dir(builtin.target)
        return ModelSource(source.path, source.config, source.weight_files, True, builtin.draft, named_by_user=False)
    path = Path(path).expanduser()
    if not path.exists():
        raise LLMSetupError(f"{origin}: model path {path} does not exist: pass a local model directory")
    if not path.is_dir():
        raise LLMSetupError(f"{origin}: model path {path} is not a directory: pass the folder holding config.json")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise LLMSetupError(
            f"{origin}: {path} holds no model (config.json missing): pass the folder that save_pretrained wrote"
        )
    try:
        config = json.loads(config_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LLMSetupError(f"{config_file} is not valid JSON ({error}): re-download the model") from None
    weights = _weight_files(path)
    if not weights:
        raise LLMSetupError(f"{origin}: {path} has config.json but no weights (*.safetensors or pytorch_model*.bin)")
    index_file = path / "model.safetensors.index.json"
    if index_file.is_file():
        try:
            shards = set(json.loads(index_file.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError) as error:
            raise LLMSetupError(f"{index_file} is unreadable ({error}): re-download the model") from None
        missing = sorted(name for name in shards if not (path / name).is_file())
        if missing:
            raise LLMSetupError(f"{path} is missing weight shards {', '.join(missing)}: re-download the model")
    for weight_file in weights:
        if weight_file.suffix == ".safetensors":
            _check_safetensors(weight_file)
    return ModelSource(path=path, config=config, weight_files=weights, builtin=is_builtin_model(path))
