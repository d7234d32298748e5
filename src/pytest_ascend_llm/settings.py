"""Options → one validated Settings object. Every bad-input error is raised here or in session start.

Each option is settable on the command line, by an environment variable and in ini (in that order of
precedence), so CI jobs and Ascend boxes can fix them once. This module imports nothing heavy: pytest
validates options with it before torch is ever imported, and a bad value names where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

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
    OptionSpec(
        "engine",
        "inference engine: transformers, openai (a running server), vllm-server or sglang-server (launched "
        "for the session), sglang (in-process) (default: transformers)",
        "transformers",
    ),
    OptionSpec("endpoint", "URL of a running OpenAI-compatible server for --llm-engine openai"),
    OptionSpec(
        "api_key_env",
        "environment variable holding the server's API key (default OPENAI_API_KEY; never logged)",
        "OPENAI_API_KEY",
    ),
    OptionSpec("served_model", "model name to request from the server (default: the first it lists)"),
    OptionSpec("server_python", "Python that runs a launched vLLM/SGLang server (default: this one)"),
    OptionSpec("server_args", "extra arguments for a launched server, one shell-quoted string"),
    OptionSpec("server_timeout", "seconds a launched server may take to become healthy (default 900)"),
    OptionSpec("request_timeout", "seconds one server request may take (default 600)"),
    OptionSpec("tp_size", "tensor-parallel size of a launched server (default 1)"),
    OptionSpec("concurrency", "concurrent streams of the serving sweep, comma-separated (default 1,2,4,8,16)"),
    OptionSpec("request_rate", "request rates in req/s (Poisson arrivals) of the serving rate cases (default 1,4)"),
    OptionSpec("serving_requests", "requests per serving case (default: 4 per stream, at least 16)"),
    OptionSpec(
        "busy_device",
        "what performance cases do when the card under test is not idle (another process, memory in use, "
        "utilisation): skip (default), fail or ignore",
        "skip",
    ),
    OptionSpec(
        "collective_min_fraction",
        "share of the interconnect's peak bus bandwidth the largest all-reduce must reach (default 0.5)",
    ),
    OptionSpec(
        "results",
        "results file, a JSON line per finished test, fsynced as it is written "
        "(default: ascend-llm-results.jsonl in the folder pytest runs in)",
    ),
    OptionSpec("report", "write a report folder (Markdown, HTML, PNG plots) here at the end of the session"),
    OptionSpec(
        "slo",
        "goodput SLO: an MLPerf preset (mlperf-llama3.1-8b, …-interactive, mlperf-llama2-70b, …) or limits in "
        "ms like ttft=500,tpot=30,e2e=20000 (default mlperf-llama3.1-8b)",
        "mlperf-llama3.1-8b",
    ),
    OptionSpec("trust_remote_code", "allow the model's own Python code to run (off by default)", flag=True),
    OptionSpec("long_context", "prompt tokens of the long-context check (default: min(8192, model maximum))"),
    OptionSpec("parity_force", "run the CPU float32 parity check even if host memory looks too small", flag=True),
    OptionSpec(
        "rounds",
        "fixed timed rounds per benchmark case (default: adaptive, until the tracked percentile is within ±5 percent "
        "or the case's time budget is spent)",
    ),
    OptionSpec("case_seconds", "time budget of a case's adaptive rounds (default: 20 on an accelerator, 1.5 on CPU)"),
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
    OptionSpec(
        "cpu_threads",
        "torch CPU threads for --llm-device cpu (default: half the usable cores, at least 1: a second busy "
        "process then cannot stall every kernel)",
    ),
)
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


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
    case_seconds: float | None = None
    warmup: int | None = None
    peak_bandwidth_gbps: float | None = None
    device_specs: str | None = None
    spec_tolerance: float = 0.5
    capacity_memory_gib: float | None = None
    cpu_threads: int | None = None
    endpoint: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    served_model: str | None = None
    server_python: str | None = None
    server_args: str | None = None
    server_timeout: float = 900.0
    request_timeout: float = 600.0
    tp_size: int = 1
    concurrency: tuple[int, ...] = (1, 2, 4, 8, 16)
    request_rate: tuple[float, ...] = (1.0, 4.0)
    serving_requests: int | None = None
    slo: str = "mlperf-llama3.1-8b"
    results: str | None = None
    report: str | None = None
    busy_device: str = "skip"
    collective_min_fraction: float = 0.5
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, str | bool | None], sources: Mapping[str, str] | None = None) -> Settings:
        """Build from raw strings; raises LLMSetupError naming the option (or variable, or ini key) that
        was wrong, and what it accepts. ``sources`` maps an option name to where its value came from."""
        from pytest_ascend_llm.engines.registry import engine_names, is_known_engine

        origin = _Origins(sources or {})
        dtype = str(values.get("dtype") or "auto").strip().lower()
        if dtype not in DTYPE_CHOICES:
            raise LLMSetupError(f"{origin('dtype')}: unknown dtype {dtype!r}: use one of {', '.join(DTYPE_CHOICES)}")
        engine = str(values.get("engine") or "transformers").strip().lower()
        if not is_known_engine(engine):
            raise LLMSetupError(
                f"{origin('engine')}: unknown engine {engine!r}: use one of {', '.join(engine_names())}"
            )
        return cls(
            model=str(values["model"]) if values.get("model") else None,
            draft_model=str(values["draft_model"]) if values.get("draft_model") else None,
            device=parse_device(str(values.get("device") or "auto"), origin("device")),
            dtype=dtype,
            engine=engine,
            trust_remote_code=truthy(values.get("trust_remote_code")),
            long_context=_number(values, "long_context", int, origin, minimum=1),
            parity_force=truthy(values.get("parity_force")),
            rounds=_number(values, "rounds", int, origin, minimum=1),
            case_seconds=_number(values, "case_seconds", float, origin, minimum=0.0),
            warmup=_number(values, "warmup", int, origin, minimum=0),
            peak_bandwidth_gbps=_number(values, "peak_bandwidth", float, origin, minimum=1e-9),
            device_specs=str(values["device_specs"]) if values.get("device_specs") else None,
            spec_tolerance=_or_default(_number(values, "spec_tolerance", float, origin, minimum=0.0, maximum=1.0), 0.5),
            capacity_memory_gib=_number(values, "capacity_memory", float, origin, minimum=1e-6),
            cpu_threads=_number(values, "cpu_threads", int, origin, minimum=1),
            endpoint=_text(values, "endpoint"),
            api_key_env=_text(values, "api_key_env"),
            served_model=_text(values, "served_model"),
            server_python=_text(values, "server_python"),
            server_args=_text(values, "server_args"),
            server_timeout=_or_default(_number(values, "server_timeout", float, origin, minimum=1.0), 900.0),
            request_timeout=_or_default(_number(values, "request_timeout", float, origin, minimum=0.01), 600.0),
            tp_size=_or_default(_number(values, "tp_size", int, origin, minimum=1), 1),
            concurrency=_numbers(values, "concurrency", int, origin, (1, 2, 4, 8, 16)),
            request_rate=_numbers(values, "request_rate", float, origin, (1.0, 4.0)),
            serving_requests=_number(values, "serving_requests", int, origin, minimum=1),
            slo=_checked_slo(values, origin),
            results=_text(values, "results"),
            busy_device=_choice(values, "busy_device", ("skip", "fail", "ignore"), origin),
            collective_min_fraction=_or_default(
                _number(values, "collective_min_fraction", float, origin, minimum=1e-6, maximum=1.0), 0.5
            ),
            report=_text(values, "report"),
            sources=dict(sources or {}),
        )

    def source_of(self, name: str) -> str:
        """Where an option's value came from, for error messages ('--llm-model', 'ASCEND_LLM_MODEL')."""
        return _Origins(self.sources)(name)


@dataclass(frozen=True)
class _Origins:
    """Option name → the flag, variable or ini key the user set (the flag when unknown)."""

    sources: Mapping[str, str]

    def __call__(self, name: str) -> str:
        return self.sources.get(name) or OPTIONS_BY_NAME[name].cli


def _or_default(value, default):
    return default if value is None else value


def _number(
    values: Mapping[str, object],
    name: str,
    kind: type,
    origin: Callable[[str], str],
    minimum: float,
    maximum: float | None = None,
):
    """An optional numeric option; a bad value names where it was set and what it needs."""
    raw = values.get(name)
    if raw in (None, ""):
        return None
    try:
        number = kind(str(raw).strip())
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        what = "whole number" if kind is int else "number"
        bounds = f"of at least {minimum:g}" if maximum is None else f"from {minimum:g} to {maximum:g}"
        raise LLMSetupError(f"{origin(name)} {raw!r}: give a {what} {bounds}")
    return number


def _text(values: Mapping[str, object], name: str) -> str | None:
    raw = values.get(name)
    return str(raw).strip() if raw not in (None, "") else None


def _numbers(values: Mapping[str, object], name: str, kind: type, origin: Callable[[str], str], default: tuple):
    """A comma-separated list of positive numbers, e.g. ``--llm-concurrency 1,4,16``."""
    raw = values.get(name)
    if raw in (None, ""):
        return default
    parts = [part.strip() for part in str(raw).split(",") if part.strip()]
    try:
        numbers = tuple(kind(part) for part in parts)
    except ValueError:
        numbers = ()
    if not numbers or min(numbers) <= 0:
        what = "whole numbers" if kind is int else "numbers"
        raise LLMSetupError(f"{origin(name)} {raw!r}: give positive {what}, comma-separated, e.g. 1,4,16")
    return numbers


def _choice(values: Mapping[str, object], name: str, choices: tuple[str, ...], origin: Callable[[str], str]) -> str:
    text = (_text(values, name) or choices[0]).lower()
    if text not in choices:
        raise LLMSetupError(f"{origin(name)} {text!r}: use one of {', '.join(choices)}")
    return text


def _checked_slo(values: Mapping[str, object], origin: Callable[[str], str]) -> str:
    from pytest_ascend_llm.serving.slo import parse_slo

    text = _text(values, "slo") or "mlperf-llama3.1-8b"
    parse_slo(text, origin("slo"))
    return text


def truthy(value: str | bool | None) -> bool:
    """An option or variable meant as on: True, or 1/true/yes/on in any case."""
    return value is True or str(value or "").strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class CollectedOptions:
    """Raw option values with where each came from; ``given`` lists those set on the command line or
    by environment variable, the signal that this run asked for the plugin."""

    values: dict[str, object]
    sources: dict[str, str]
    given: tuple[str, ...]


def collect_values(cli: Callable[[str], object], ini: Callable[[str], object]) -> CollectedOptions:
    """Merge the sources per option: command line, then environment, then ini, then default."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    given: list[str] = []
    for option in OPTIONS:
        value, source = cli(option.name), option.cli
        if value in (None, False):
            value, source = os.environ.get(option.env), option.env
        if value in (None, ""):
            value, source = ini(option.ini), f"ini {option.ini}"
        if value in (None, "", False, []):
            value, source = option.default, ""
        elif source != f"ini {option.ini}":
            given.append(source)
        values[option.name] = value
        if source:
            sources[option.name] = source
    return CollectedOptions(values, sources, tuple(given))
