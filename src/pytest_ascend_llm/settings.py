"""Options → one validated Settings object. Every bad-input error is raised here or in session start.

Each option is settable on the command line, in ini and by an environment variable (in that order of
precedence), so CI jobs and Ascend boxes can fix them once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pytest_ascend_llm.devices.detect import DeviceSpec, parse_device
from pytest_ascend_llm.errors import LLMSetupError

DTYPE_CHOICES = ("auto", "float16", "bfloat16", "float32")  # models.loading.DTYPES maps the last three
TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class OptionSpec:
    """One user-facing option: ``--llm-<name>``, ini ``llm_<name>``, env ``ASCEND_LLM_<NAME>``."""

    name: str
    help: str
    default: str | None = None
    flag: bool = False

    @property
    def cli(self) -> str:
        return "--llm-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "llm_" + self.name

    @property
    def env(self) -> str:
        return "ASCEND_LLM_" + self.name.upper()


OPTIONS = (
    OptionSpec("model", "local model directory (default: the built-in tiny Qwen2, built offline)"),
    OptionSpec("draft_model", "draft model directory for speculative decoding (default: the built-in draft)"),
    OptionSpec("device", "auto, npu, npu:N, cuda, cuda:N or cpu (default: auto)", "auto"),
    OptionSpec("dtype", "auto, float16, bfloat16 or float32 (auto: the model's dtype; float32 on CPU)", "auto"),
    OptionSpec("engine", "inference engine (default: transformers)", "transformers"),
    OptionSpec("trust_remote_code", "allow the model's own Python code to run (off by default)", flag=True),
    OptionSpec("long_context", "prompt tokens of the long-context check (default: min(8192, model maximum))"),
    OptionSpec("parity_force", "run the CPU float32 parity check even if host memory looks too small", flag=True),
    OptionSpec("rounds", "timed rounds per benchmark case (default: 20 on an accelerator, 5 on CPU)"),
    OptionSpec("warmup", "untimed warm-up rounds per benchmark case (default: 3 on an accelerator, 1 on CPU)"),
    OptionSpec("peak_bandwidth", "peak memory bandwidth in GB/s for the roofline (default: the device table)"),
    OptionSpec("device_specs", "JSON file of device peaks overriding the built-in table"),
    OptionSpec(
        "spec_tolerance",
        "float16/bfloat16: fraction of speculative output that must match plain greedy before the first "
        "divergence (float32 must match exactly; default 0.5)",
    ),
    OptionSpec(
        "capacity_memory",
        "device memory in GiB the capacity check plans for (default: all of an accelerator; 1 GiB on CPU)",
    ),
)


@dataclass(frozen=True)
class Settings:
    """What the user asked for, validated but not yet resolved against the machine."""

    model: str | None = None
    draft_model: str | None = None
    device: DeviceSpec = DeviceSpec("auto", None)
    dtype: str = "auto"
    engine: str = "transformers"
    trust_remote_code: bool = False
    long_context: int | None = None
    parity_force: bool = False
    rounds: int | None = None
    warmup: int | None = None
    peak_bandwidth_gbps: float | None = None
    device_specs: str | None = None
    spec_tolerance: float = 0.5
    capacity_memory_gib: float | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, str | bool | None]) -> Settings:
        """Build from raw strings; raises LLMSetupError with the option name and accepted values."""
        from pytest_ascend_llm.engines.registry import engine_names

        dtype = str(values.get("dtype") or "auto").strip().lower()
        if dtype not in DTYPE_CHOICES:
            raise LLMSetupError(f"unknown dtype {dtype!r}: use one of {', '.join(DTYPE_CHOICES)} (--llm-dtype)")
        engine = str(values.get("engine") or "transformers").strip().lower()
        if engine not in engine_names():
            raise LLMSetupError(f"unknown engine {engine!r}: use one of {', '.join(engine_names())} (--llm-engine)")
        return cls(
            model=str(values["model"]) if values.get("model") else None,
            draft_model=str(values["draft_model"]) if values.get("draft_model") else None,
            device=parse_device(str(values.get("device") or "auto")),
            dtype=dtype,
            engine=engine,
            trust_remote_code=_truthy(values.get("trust_remote_code")),
            long_context=_number(values, "long_context", int, minimum=1),
            parity_force=_truthy(values.get("parity_force")),
            rounds=_number(values, "rounds", int, minimum=1),
            warmup=_number(values, "warmup", int, minimum=0),
            peak_bandwidth_gbps=_number(values, "peak_bandwidth", float, minimum=1e-9),
            device_specs=str(values["device_specs"]) if values.get("device_specs") else None,
            spec_tolerance=_number(values, "spec_tolerance", float, minimum=0.0) or 0.5,
            capacity_memory_gib=_number(values, "capacity_memory", float, minimum=1e-6),
        )


def _number(values: Mapping[str, object], name: str, kind: type, minimum: float):
    """An optional numeric option; a bad value names the option and what it needs."""
    raw = values.get(name)
    if raw in (None, ""):
        return None
    try:
        number = kind(str(raw))
    except ValueError:
        number = None
    if number is None or number < minimum:
        flag = "--llm-" + name.replace("_", "-")
        what = "whole number" if kind is int else "number"
        raise LLMSetupError(f"{flag} {raw!r}: give a {what} of at least {minimum:g}")
    return number


def _truthy(value: str | bool | None) -> bool:
    return value is True or str(value or "").strip().lower() in TRUE_WORDS


def collect_values(cli: Callable[[str], object], ini: Callable[[str], object]) -> dict[str, object]:
    """Merge the three sources per option: command line, then environment, then ini, then default."""
    values: dict[str, object] = {}
    for option in OPTIONS:
        value = cli(option.name)
        if value in (None, False):
            value = os.environ.get(option.env) or ini(option.ini) or option.default
        values[option.name] = value
    return values
