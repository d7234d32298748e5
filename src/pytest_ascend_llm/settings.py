"""Options → one validated Settings object. Every bad-input error is raised here or in session start.

Each option is described once, as a field of ``Settings`` carrying its ``OptionSpec``: its name, how its
text is parsed and checked, its typed default, and a help line that names that default. From the specs
come the command-line flags (``--llm-<name>``), ini keys (``llm_<name>``) and environment variables
(``ASCEND_LLM_<NAME>``), taken in that order of precedence so CI jobs and Ascend boxes can fix them
once. This module imports nothing heavy: pytest validates options with it before torch is imported,
and a bad value names where it came from.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_ascend_llm.devices.detect import DeviceSpec, parse_device
from pytest_ascend_llm.errors import LLMSetupError

if TYPE_CHECKING:
    from pytest_ascend_llm.benchmarking.gate import GateRule

DTYPE_CHOICES = ("auto", "float16", "bfloat16", "float32")  # models.loading.DTYPES maps the last three
TRUE_WORDS = ("1", "true", "yes", "on")
PACKAGE = "pytest_ascend_llm"

Parser = Callable[[Any, str], Any]  # (raw value, where it was set) → typed value; raises LLMSetupError


def truthy(value: str | bool | None) -> bool:
    """An option or variable meant as on: True, or 1/true/yes/on in any case."""
    return value is True or str(value or "").strip().lower() in TRUE_WORDS


def _unset(raw: object) -> bool:
    return raw in (None, "", [], ())


def _text(raw: object, origin: str) -> str | None:
    return None if _unset(raw) else str(raw).strip()


def _flag(raw: object, origin: str) -> bool:
    return truthy(raw)  # type: ignore[arg-type]


def _number(kind: type, minimum: float, maximum: float | None = None) -> Parser:
    """An optional number within bounds; a bad value names where it was set and what it needs."""

    def parse(raw: object, origin: str):
        if _unset(raw):
            return None
        try:
            number = kind(str(raw).strip())
        except ValueError:
            number = None
        if number is None or number < minimum or (maximum is not None and number > maximum):
            what = "whole number" if kind is int else "number"
            bounds = f"of at least {minimum:g}" if maximum is None else f"from {minimum:g} to {maximum:g}"
            raise LLMSetupError(f"{origin} {raw!r}: give a {what} {bounds}")
        return number

    return parse


def _numbers(kind: type) -> Parser:
    """A comma-separated list of positive numbers, e.g. ``--llm-concurrency 1,4,16``."""

    def parse(raw: object, origin: str):
        if _unset(raw):
            return None
        parts = [part.strip() for part in str(raw).split(",") if part.strip()]
        try:
            numbers = tuple(kind(part) for part in parts)
        except ValueError:
            numbers = ()
        if not numbers or min(numbers) <= 0:
            what = "whole numbers" if kind is int else "numbers"
            raise LLMSetupError(f"{origin} {raw!r}: give positive {what}, comma-separated, e.g. 1,4,16")
        return numbers

    return parse


def _choice(choices: tuple[str, ...], what: str | None = None) -> Parser:
    """One of ``choices``, in any case; ``what`` names the kind of value in the error ('dtype')."""

    def parse(raw: object, origin: str):
        if _unset(raw):
            return None
        text = str(raw).strip().lower()
        if text not in choices:
            named = f"{origin}: unknown {what} {text!r}" if what else f"{origin} {text!r}"
            raise LLMSetupError(f"{named}: use one of {', '.join(choices)}")
        return text

    return parse


def _engine(raw: object, origin: str) -> str | None:
    from pytest_ascend_llm.engines.registry import engine_names, is_known_engine

    if _unset(raw):
        return None
    name = str(raw).strip().lower()
    if not is_known_engine(name):
        raise LLMSetupError(f"{origin}: unknown engine {name!r}: use one of {', '.join(engine_names())}")
    return name


def _device(raw: object, origin: str) -> DeviceSpec | None:
    return None if _unset(raw) else parse_device(str(raw), origin)


def check_url(url: str, origin: str) -> str:
    """An http(s) URL with a host, else a one-line error: checked whatever the engine, so a typo never
    passes unnoticed into a run that would not use it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LLMSetupError(f"{origin} {url!r}: give the server's URL, e.g. http://127.0.0.1:8000")
    return url.strip()


def _url(raw: object, origin: str) -> str | None:
    return None if _unset(raw) else check_url(str(raw), origin)


def _slo(raw: object, origin: str) -> str | None:
    from pytest_ascend_llm.serving.slo import parse_slo

    text = _text(raw, origin)
    if text is not None:
        parse_slo(text, origin)
    return text


def _files(raw: object, origin: str) -> tuple[str, ...] | None:
    """Repeated flags arrive as a list; a variable or ini key holds the paths comma-separated (the
    preflight checks that each can be read)."""
    if _unset(raw):
        return None
    texts = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return tuple(str(text).strip() for text in texts if str(text).strip()) or None


def _gate_rules(raw: object, origin: str) -> tuple[GateRule, ...] | None:
    """Repeated flags arrive as a list; a variable or ini key holds the rules comma-separated."""
    from pytest_ascend_llm.benchmarking.gate import parse_rule

    if _unset(raw):
        return None
    texts = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return tuple(parse_rule(text) for text in texts if str(text).strip())


@dataclass(frozen=True)
class OptionSpec:
    """One user-facing option: ``--llm-<name>``, ini ``llm_<name>``, env ``ASCEND_LLM_<NAME>``."""

    name: str
    about: str
    parse: Parser
    default: object = None
    shown_default: str | None = None  # the help's wording of a default that depends on the machine
    flag: bool = False
    repeatable: bool = False
    metavar: str | None = None
    attribute: str = ""  # the Settings field, set from the field itself

    @property
    def cli(self) -> str:
        return "--llm-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "llm_" + self.name

    @property
    def env(self) -> str:
        return "ASCEND_LLM_" + self.name.upper()

    @property
    def help(self) -> str:
        """The help line, naming the default as the value it is (flags are off unless given)."""
        if self.flag:
            return self.about
        if self.shown_default is not None:
            return f"{self.about} (default: {self.shown_default})"
        if self.default is None:
            return self.about
        shown = ",".join(f"{v:g}" for v in self.default) if isinstance(self.default, tuple) else self.default
        shown = f"{shown:g}" if isinstance(shown, float) else shown
        return f"{self.about} (default: {shown})"

    def value(self, raw: object, origin: str) -> object:
        parsed = self.parse(raw, origin)
        return self.default if parsed is None else parsed


def option(name: str | None = None, about: str = "", parse: Parser = _text, default: object = None, **spec) -> Any:
    """A Settings field that is a user option: the field's default is the option's typed default."""
    described = OptionSpec(name or "", about, parse, default, **spec)
    return field(default=default, metadata={"option": described})


@dataclass(frozen=True)
class Settings:
    """What the user asked for, validated but not yet resolved against the machine."""

    model: str | None = option(about="local model directory (default: the built-in tiny Qwen2, built offline)")
    draft_model: str | None = option(
        about="draft model directory for speculative decoding (default: the built-in draft)"
    )
    device: DeviceSpec = option(
        about="auto, npu, npu:N, cuda, cuda:N or cpu",
        parse=_device,
        default=DeviceSpec("auto", None),
        shown_default="auto",
    )
    require_device: str | None = option(
        about="npu, cuda or accelerator: the run stops at start, in one line, unless it will run on that device "
        "(device CI: a broken torch_npu must not pass as a run of skips)",
        parse=_choice(("npu", "cuda", "accelerator")),
        shown_default="off: device tests skip where the device is missing, right for ordinary CI",
    )
    dtype: str = option(
        about="auto, float16, bfloat16 or float32 (auto: the model's dtype; float32 on CPU)",
        parse=_choice(DTYPE_CHOICES, "dtype"),
        default="auto",
    )
    engine: str = option(
        about="inference engine: transformers, openai (a running server), vllm-server or sglang-server (launched "
        "for the session), sglang (in-process)",
        parse=_engine,
        default="transformers",
    )
    endpoint: str | None = option(about="URL of a running OpenAI-compatible server for --llm-engine openai", parse=_url)
    api_key_env: str | None = option(
        about="environment variable holding the server's API key (never logged)", default="OPENAI_API_KEY"
    )
    served_model: str | None = option(about="model name to request from the server (default: the first it lists)")
    server_python: str | None = option(about="Python that runs a launched vLLM/SGLang server (default: this one)")
    server_args: str | None = option(about="extra arguments for a launched server, one shell-quoted string")
    server_timeout: float = option(
        about="seconds a launched server may take to become healthy", parse=_number(float, 1.0), default=900.0
    )
    request_timeout: float = option(
        about="seconds one server request may take", parse=_number(float, 0.01), default=600.0
    )
    tp_size: int = option(about="tensor-parallel size of a launched server", parse=_number(int, 1), default=1)
    concurrency: tuple[int, ...] = option(
        about="concurrent streams of the serving sweep, comma-separated", parse=_numbers(int), default=(1, 2, 4, 8, 16)
    )
    request_rate: tuple[float, ...] = option(
        about="request rates in req/s (Poisson arrivals) of the serving rate cases",
        parse=_numbers(float),
        default=(1.0, 4.0),
    )
    serving_requests: int | None = option(
        about="requests per serving case", parse=_number(int, 1), shown_default="4 per stream, at least 16"
    )
    input_len: int | None = option(
        about="serving: prompt tokens per request (vLLM's --random-input-len)",
        parse=_number(int, 1),
        shown_default="1024 on an accelerator, 96 on CPU, cut to the model's context",
    )
    output_len: int | None = option(
        about="serving: output tokens per request (vLLM's --random-output-len; every request runs to it, ignore_eos)",
        parse=_number(int, 1),
        shown_default="128 on an accelerator, 24 on CPU",
    )
    range_ratio: float = option(
        about="serving: lengths drawn uniformly from [L·(1 − r), L·(1 + r)] around --llm-input-len and "
        "--llm-output-len (vLLM's --random-range-ratio)",
        parse=_number(float, 0.0, 0.99),
        default=0.0,
    )
    client_workers: int | None = option(
        about="serving: client processes that share the streams (each its own event loop, one time base)",
        parse=_number(int, 1),
        shown_default="one per usable core",
    )
    busy_device: str = option(
        about="what performance cases do when the card under test is not idle (another process, memory in use, "
        "utilisation): skip, fail or ignore",
        parse=_choice(("skip", "fail", "ignore")),
        default="skip",
    )
    collective_min_fraction: float = option(
        about="share of the interconnect's peak bus bandwidth the largest all-reduce must reach",
        parse=_number(float, 1e-6, 1.0),
        default=0.5,
    )
    results: str | None = option(
        about="results file, a JSON line per finished test, fsynced as it is written",
        shown_default="ascend-llm-results.jsonl in the folder pytest runs in",
    )
    report: str | None = option(
        about="write a report folder (Markdown, HTML, PNG plots) here at the end of the session"
    )
    slo: str = option(
        about="goodput SLO: an MLPerf preset (mlperf-llama3.1-8b, …-interactive, mlperf-llama2-70b, …) or limits "
        "in ms like ttft=500,tpot=30,e2e=20000",
        parse=_slo,
        default="mlperf-llama3.1-8b",
    )
    trust_remote_code: bool = option(
        about="allow the model's own Python code to run (off by default)", parse=_flag, default=False, flag=True
    )
    long_context: int | None = option(
        about="prompt tokens of the long-context check", parse=_number(int, 1), shown_default="min(8192, model maximum)"
    )
    parity_force: bool = option(
        about="run the CPU float32 parity check even if host memory looks too small",
        parse=_flag,
        default=False,
        flag=True,
    )
    rounds: int | None = option(
        about="fixed timed rounds per benchmark case",
        parse=_number(int, 1),
        shown_default="adaptive, until the tracked percentile is within ±5 percent or the case's time budget is spent",
    )
    case_seconds: float | None = option(
        about="a bound on each benchmark case's seconds (warm-up included) that the case respects: it stops there, "
        "keeps what it measured and marks the percentiles it could not resolve",
        parse=_number(float, 0.0),
        shown_default="no bound; adaptive rounds stop after 20 s on an accelerator, 1.5 s on CPU once the tracked "
        "percentile exists",
    )
    max_minutes: float | None = option(
        about="a bound on the whole run's benchmark minutes: cases past it stop or skip, keeping what they measured",
        parse=_number(float, 0.0),
        shown_default="no bound",
    )
    warmup: int | None = option(
        about="untimed warm-up rounds per benchmark case",
        parse=_number(int, 0),
        shown_default="3 on an accelerator, 1 on CPU",
    )
    peak_bandwidth_gbps: float | None = option(
        "peak_bandwidth",
        about="peak memory bandwidth in GB/s for the roofline",
        parse=_number(float, 1e-9),
        shown_default="the device table",
    )
    device_specs: str | None = option(about="JSON file of device peaks overriding the built-in table")
    spec_tolerance: float = option(
        about="float16/bfloat16: fraction of speculative output that must match plain greedy before the first "
        "divergence (float32 must match exactly)",
        parse=_number(float, 0.0, 1.0),
        default=0.5,
    )
    capacity_memory_gib: float | None = option(
        "capacity_memory",
        about="device memory in GiB the capacity check plans for",
        parse=_number(float, 1e-6),
        shown_default="all of an accelerator; 1 GiB on CPU",
    )
    cpu_threads: int | None = option(
        about="torch CPU threads for --llm-device cpu",
        parse=_number(int, 1),
        shown_default="half the usable cores, at least 1: a second busy process then cannot stall every kernel",
    )
    compare_fail: tuple[GateRule, ...] = option(
        about="fail when a case regressed against --benchmark-compare: p95:10% (relative) or p95:0.05 (seconds); "
        "metrics p50..p99, ttft_*, tpot_*, itl_*; repeatable (comma-separated in the variable or ini key)",
        parse=_gate_rules,
        default=(),
        repeatable=True,
        metavar="METRIC:LIMIT",
    )
    compare_strict: bool = option(
        about="with --llm-compare-fail: a case that could not be compared (missing from a run, too few samples, "
        "NaN) fails the session too",
        parse=_flag,
        default=False,
        flag=True,
    )
    drift_tolerance: float = option(
        about="output fingerprints: the largest logprob difference (nats) that still counts as 'within tolerance', "
        "and the top-2 margin below which a changed token is a 'tie flip'",
        parse=_number(float, 0.0),
        default=0.05,
    )
    drift_fail: str = option(
        about="output fingerprints: 'on' fails a case whose outputs drifted from the compared run; 'off' only reports",
        parse=_choice(("on", "off")),
        default="on",
    )
    drift_across_models: bool = option(
        about="compare fingerprints with a run of other weights (a quantized copy, a fine-tune); tokenizers must match",
        parse=_flag,
        default=False,
        flag=True,
    )
    eval: str | None = option(
        about="accuracy: a JSONL question set (GSM8K's question/answer '#### N', or prompt/answer)",
        shown_default="a built-in, seeded, generated arithmetic set (skipped on random-weight models)",
    )
    eval_shots: int = option(
        about="accuracy: few-shot examples taken from the set's first lines and never scored",
        parse=_number(int, 0),
        default=0,
    )
    eval_limit: int | None = option(
        about="accuracy: score at most this many questions", parse=_number(int, 1), shown_default="all"
    )
    eval_baseline: float | None = option(
        about="accuracy: the expected accuracy (0-1); with --llm-eval-tolerance the case fails when its 95% interval "
        "lies wholly outside baseline ± tolerance",
        parse=_number(float, 0.0, 1.0),
    )
    eval_tolerance: float = option(
        about="accuracy: the band around --llm-eval-baseline", parse=_number(float, 0.0, 1.0), default=0.02
    )
    eval_concurrency: int = option(
        about="accuracy: questions in flight at once on a server engine", parse=_number(int, 1), default=16
    )
    graph_mode: str | None = option(
        about="eager, compiled (transformers: torch.compile; a launched vLLM / SGLang server: its graph capture) or "
        "both (the fingerprints run in each mode and are compared)",
        parse=_choice(("eager", "compiled", "both")),
        shown_default="each engine's own: transformers eager, a launched server as it starts by default",
    )
    compile_backend: str = option(
        about="torch.compile backend of --llm-graph-mode compiled for transformers: auto (torchair's NPU backend on an "
        "NPU, inductor elsewhere), torchair, or any torch.compile backend name (inductor, eager, aot_eager, ...)",
        default="auto",
    )
    soak_seconds: float | None = option(
        about="soak: seconds of steady serving load (-k soak), sampled in windows for memory growth, latency drift "
        "and errors",
        parse=_number(float, 1.0),
        shown_default="off: the soak case skips until given, e.g. 3600",
    )
    soak_window: float | None = option(
        about="soak: seconds per sampling window",
        parse=_number(float, 0.5),
        shown_default="a tenth of the soak, at least 2",
    )
    soak_concurrency: int = option(
        about="soak: concurrent streams of the steady load (with --llm-soak-rate: the cap)",
        parse=_number(int, 1),
        default=4,
    )
    soak_rate: float | None = option(
        about="soak: Poisson arrivals at this many requests per second instead of a closed loop of streams",
        parse=_number(float, 1e-6),
    )
    soak_max_growth: float = option(
        about="soak: the memory growth, MiB per hour, beyond which the case fails (when the slope's whole 95% interval "
        "lies above it)",
        parse=_number(float, 0.0),
        default=32.0,
    )
    soak_max_drift: float = option(
        about="soak: the latency drift, last window's P95 over the first's minus 1, beyond which the case fails (when "
        "the ratio's whole 95% interval lies above it)",
        parse=_number(float, 0.0),
        default=0.25,
    )
    saturation_max: int = option(
        about="saturation: the most concurrent streams the search tries (-k saturation)", parse=_number(int, 1),
        default=256,
    )  # fmt: skip
    saturation_rate_start: float = option(
        about="saturation: the request rate, req/s, the rate search starts from (and doubles)",
        parse=_number(float, 1e-3),
        default=1.0,
    )
    saturation_max_rate: float = option(
        about="saturation: the highest request rate, req/s, the rate search tries", parse=_number(float, 1e-3),
        default=256.0,
    )  # fmt: skip
    saturation_resolution: float = option(
        about="saturation: how close the knee is pinned, a fraction of the load (streams: never finer than 1)",
        parse=_number(float, 0.01, 1.0),
        default=0.1,
    )
    trace: tuple[str, ...] = option(
        about="trace replay: a Mooncake JSONL trace (timestamp ms, input_length, output_length, hash_ids) replayed at "
        "its recorded times with real shared prefixes, one serving case per file (-k trace); repeatable",
        parse=_files,
        default=(),
        repeatable=True,
        metavar="FILE",
        shown_default="none: the trace case skips",
    )
    trace_speed: float = option(
        about="trace replay: how many times faster than recorded the trace is sent (2: twice as fast)",
        parse=_number(float, 1e-6),
        default=1.0,
    )
    trace_requests: int | None = option(
        about="trace replay: replay only the first N requests of each trace", parse=_number(int, 1),
        shown_default="all",
    )  # fmt: skip
    trace_block: int = option(
        about="trace replay: prompt tokens per hash id (Mooncake's traces use 512)", parse=_number(int, 1),
        default=512,
    )  # fmt: skip
    floors: str | None = option(
        about="a TOML file of fixed floors per case and device (min tok/s, max TTFT/TPOT percentiles, min accuracy)"
    )
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_values(cls, values: Mapping[str, object], sources: Mapping[str, str] | None = None) -> Settings:
        """Build from raw values keyed by option name; raises LLMSetupError naming the option (or variable,
        or ini key) that was wrong, and what it accepts. ``sources`` maps an option name to where its value
        came from."""
        sources = dict(sources or {})
        typed = {
            spec.attribute: spec.value(values.get(spec.name), sources.get(spec.name) or spec.cli) for spec in OPTIONS
        }
        if typed["graph_mode"] is not None and typed["engine"] == "openai":
            raise LLMSetupError(
                f"{sources.get('graph_mode') or '--llm-graph-mode'} needs an engine this session starts "
                "(transformers, sglang, vllm-server or sglang-server): an endpoint runs as it was started"
            )
        return cls(**typed, sources=sources)

    def source_of(self, name: str) -> str:
        """Where an option's value came from, for error messages ('--llm-model', 'ASCEND_LLM_MODEL')."""
        return self.sources.get(name) or OPTIONS_BY_NAME[name].cli


def _specs() -> tuple[OptionSpec, ...]:
    specs = []
    for described in fields(Settings):
        spec = described.metadata.get("option")
        if spec is not None:
            specs.append(OptionSpec(**{**vars(spec), "name": spec.name or described.name, "attribute": described.name}))
    return tuple(specs)


OPTIONS = _specs()
OPTIONS_BY_NAME = {spec.name: spec for spec in OPTIONS}
OPTION_VARIABLES = frozenset(spec.env for spec in OPTIONS)


@dataclass(frozen=True)
class CollectedOptions:
    """Raw option values keyed by option name, with where each came from."""

    values: dict[str, object]
    sources: dict[str, str]


def collect_values(cli: Callable[[str], object], ini: Callable[[str], object]) -> CollectedOptions:
    """Merge the sources per option: command line, then environment, then ini, then default."""
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for spec in OPTIONS:
        value, source = cli(spec.name), spec.cli
        if _unset(value) or value is False:
            value, source = os.environ.get(spec.env), spec.env
        if _unset(value):
            value, source = ini(spec.ini), f"ini {spec.ini}"
        if _unset(value) or value is False:
            continue
        values[spec.name] = value
        sources[spec.name] = source
    return CollectedOptions(values, sources)


def asks_for_plugin(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """The one rule for "this run asked for the plugin": an ``--llm-*`` option on the command line (or in
    addopts), an ``ASCEND_LLM_*`` option variable, or this package's shipped suite named as a target."""
    named = any(str(arg).startswith("--llm-") or PACKAGE in str(arg) for arg in args)
    return named or any(name in OPTION_VARIABLES for name in environ)
