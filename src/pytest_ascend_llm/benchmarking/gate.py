"""A tail-latency regression gate that does not cry wolf: ``p95:10%`` (relative) or ``p95:0.05`` (seconds).

pytest-benchmark's --benchmark-compare-fail knows only min/max/mean/median/stddev/iqr and compares
single numbers. This gate compares distributions: for each case it bootstraps the gated statistic of
the saved samples and of this run's (percentile bootstrap, 4000 resamples, fixed seed, so the verdict
is reproducible) and reads a 99 % confidence interval for the change:

- regressed: the whole interval lies beyond the threshold (only this fails the session);
- improved: the whole interval lies beyond the threshold the other way;
- unchanged: the whole interval lies within the threshold;
- inconclusive: the interval straddles the threshold; the noise is wider than the threshold, and the
  verdict says about how many rounds would decide it;
- not compared: the case or its samples are missing from a run, the statistic is NaN, or the
  percentile rests on too few samples to be more than the maximum (the reason names the option).

On a CPU device both runs carry a host probe per round (``host_probe.py``): round times are then
compared at equal host speed. The verdict keeps both changes (``raw_change`` as measured, ``change`` as
judged) and the host's speed ratio, so a table can show them side by side, slower = positive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pytest_ascend_llm.benchmarking.host_probe import host_adjusted, host_speed_ratio
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.metrics.stats import min_samples

STATISTICS = ("mean", "p50", "p90", "p95", "p99")
PREFIXES = ("", "ttft_", "tpot_", "itl_", "itl_chunk_")
GATED_METRICS = tuple(f"{prefix}{stat}" for prefix in PREFIXES for stat in STATISTICS)
SAMPLE_KEYS = {"": "round_seconds", "ttft_": "ttft", "tpot_": "tpot", "itl_": "itl", "itl_chunk_": "itl_chunk"}
RESAMPLES = 4000
CONFIDENCE = 0.99
Z_CONFIDENCE = 2.575829  # two-sided 99 % normal quantile
CHUNKS = 5
SEED = 20261126
_EXPRESSION = re.compile(r"^(?P<metric>[a-z0-9_]+):(?P<amount>\d+(?:\.\d+)?)(?P<percent>%?)$")

REGRESSED, IMPROVED, UNCHANGED, INCONCLUSIVE, NOT_COMPARED = (
    "regressed",
    "improved",
    "unchanged",
    "inconclusive",
    "not compared",
)


@dataclass(frozen=True)
class GateRule:
    metric: str
    amount: float
    relative: bool

    def __str__(self) -> str:
        return f"{self.metric}:{self.amount:g}{'%' if self.relative else 's'}"

    @property
    def prefix(self) -> str:
        return max((p for p in PREFIXES if self.metric.startswith(p)), key=len)

    @property
    def statistic(self) -> str:
        return self.metric[len(self.prefix) :]

    @property
    def band(self) -> tuple[float, float]:
        """Changes inside (low, high) count as unchanged: ratios for relative rules, seconds otherwise."""
        if self.relative:
            high = 1 + self.amount / 100
            return 1 / high, high
        return -self.amount, self.amount


def parse_rule(text: str) -> GateRule:
    match = _EXPRESSION.match(text.strip().lower())
    if match is None or match["metric"] not in GATED_METRICS:
        raise LLMSetupError(
            f"--llm-compare-fail {text!r}: write METRIC:N% or METRIC:SECONDS, e.g. p95:10% or ttft_p99:0.05, "
            f"with METRIC one of {', '.join(GATED_METRICS)}"
        )
    return GateRule(match["metric"], float(match["amount"]), bool(match["percent"]))


def raw_change(before: float | None, now: float | None, relative: bool) -> float | None:
    """A statistic's change as measured: the ratio now/before (relative rules) or seconds now − before."""
    if not isinstance(before, int | float) or not isinstance(now, int | float):
        return None
    if not relative:
        return now - before
    return now / before if before > 0 else None


@dataclass(frozen=True)
class Verdict:
    """One case under one rule: the statistic before and now, the change with its confidence interval."""

    case: str
    rule: GateRule
    verdict: str
    baseline: float | None = None
    current: float | None = None
    change: float | None = None  # ratio now/before (relative rules) or seconds now − before
    low: float | None = None
    high: float | None = None
    counts: tuple[int, int] = (0, 0)
    note: str = ""
    host_speed: float | None = None  # host probe now/before where the change was judged at equal host speed

    @property
    def fails(self) -> bool:
        return self.verdict == REGRESSED

    @property
    def raw_change(self) -> float | None:
        """The change of the statistic as measured (before any host adjustment), in ``change``'s units."""
        return raw_change(self.baseline, self.current, self.rule.relative)

    @property
    def host_adjusted(self) -> bool:
        """Whether ``change`` (and its interval) is at equal host speed rather than the raw change."""
        return self.host_speed is not None


def _statistic(samples, statistic: str, axis: int | None = None):
    import numpy as np

    if statistic == "mean":
        return np.mean(samples, axis=axis)
    return np.percentile(samples, float(statistic[1:]), axis=axis, method="linear")


def _wander(samples) -> float:
    """How far the run's level wanders within it: the spread (log scale) of the medians of CHUNKS
    consecutive slices. Rounds on a shared host are not independent (load comes and goes), and the
    level of the next session moves about as much; resampling single rounds cannot see that."""
    import numpy as np

    if len(samples) < 2 * CHUNKS:
        return 0.0
    medians = [float(np.median(part)) for part in np.array_split(np.asarray(samples, dtype=float), CHUNKS)]
    return float(np.std(np.log(medians), ddof=1)) if min(medians) > 0 else 0.0


def _bootstrap(before: list[float], now: list[float], rule: GateRule) -> tuple[float, float, float, float, float]:
    """The statistic before and now, and the point estimate and CONFIDENCE interval of its change (ratio
    or difference): the bootstrap's spread plus each run's level wander, combined on a log scale."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    a, b = np.asarray(before, dtype=float), np.asarray(now, dtype=float)
    stat_a = _statistic(a[rng.integers(0, a.size, (RESAMPLES, a.size))], rule.statistic, axis=1)
    stat_b = _statistic(b[rng.integers(0, b.size, (RESAMPLES, b.size))], rule.statistic, axis=1)
    point_a, point_b = float(_statistic(a, rule.statistic)), float(_statistic(b, rule.statistic))
    if min(point_a, point_b, float(stat_a.min()), float(stat_b.min())) <= 0:
        return point_a, point_b, float("nan"), float("nan"), float("nan")
    spread = float(np.std(np.log(stat_b) - np.log(stat_a)))
    wander = math.sqrt((_wander(a) ** 2 + _wander(b) ** 2) / CHUNKS)
    half = Z_CONFIDENCE * math.hypot(spread, wander)  # on the log scale
    ratio = point_b / point_a
    if rule.relative:
        return point_a, point_b, ratio, ratio * math.exp(-half), ratio * math.exp(half)
    scale = math.sqrt(point_a * point_b)  # the log-scale half width, in seconds at the runs' level
    change = point_b - point_a
    return point_a, point_b, change, change - half * scale, change + half * scale


def _rounds_to_decide(point: float, low: float, high: float, band: tuple[float, float], count: int) -> str:
    """The interval narrows about as 1/sqrt(n): the rounds at which it would clear the nearest boundary."""
    half = (high - low) / 2
    distance = min(abs(point - band[0]), abs(point - band[1]))
    if distance <= half * 1e-3:
        return "the change sits on the threshold: no number of rounds decides it"
    needed = math.ceil(count * (half / distance) ** 2)
    return f"about {needed} rounds per run would decide it (--llm-rounds {needed})"


def judge(case: str, rule: GateRule, before: Mapping[str, object] | None, now: Mapping[str, object]) -> Verdict:
    """The verdict for one case: ``before``/``now`` are the saved flat metrics with their ``samples``."""
    if before is None:
        return Verdict(case, rule, NOT_COMPARED, note="the case is not in the compared run")
    key = SAMPLE_KEYS[rule.prefix]
    samples_before = (before.get("samples") or {}).get(key)
    samples_now = (now.get("samples") or {}).get(key)
    if not samples_before or not samples_now:
        which = "the compared run" if not samples_before else "this run"
        return Verdict(case, rule, NOT_COMPARED, note=f"{which} has no {key} samples for {rule.metric}")
    counts = (len(samples_before), len(samples_now))
    bounded = _stopped_by_bound(before, now)
    if rule.statistic != "mean":
        need = min_samples(float(rule.statistic[1:]))
        if min(counts) < need and bounded:
            return Verdict(
                case,
                rule,
                INCONCLUSIVE,
                counts=counts,
                note=f"{bounded}: {need} rounds per run would decide {rule.metric} (--llm-rounds {need}, or a "
                "larger bound)",
            )
        if min(counts) < need:
            return Verdict(
                case,
                rule,
                NOT_COMPARED,
                counts=counts,
                note=f"{rule.metric} rests on {min(counts)} samples, and needs {need} to be more than the maximum: "
                f"raise --llm-rounds to {need} in both runs, or gate on a lower percentile",
            )
    adjusted_before, adjusted_now, host = _at_equal_host_speed(rule, before, now, samples_before, samples_now)
    _, _, point, low, high = _bootstrap(adjusted_before, adjusted_now, rule)
    base, current = float(_statistic(samples_before, rule.statistic)), float(_statistic(samples_now, rule.statistic))
    if any(math.isnan(x) or math.isinf(x) for x in (point, low, high)):
        return Verdict(case, rule, NOT_COMPARED, base, current, counts=counts, note=f"{rule.metric} is not a number")
    band = rule.band
    if low > band[1]:
        verdict, note = REGRESSED, _contention(case, rule, before, now)
        if note:
            verdict = INCONCLUSIVE
    elif high < band[0] or (low >= band[0] and high <= band[1]):
        verdict, note = (IMPROVED if high < band[0] else UNCHANGED), ""
        contended = _contended_run(before, now)
        if contended:  # a preempted run's wall times can hide a regression as well as fake one
            verdict, note = INCONCLUSIVE, f"a run was contended ({contended}): rerun on a quiet host"
    else:
        verdict, note = INCONCLUSIVE, _rounds_to_decide(point, low, high, band, min(counts))
    client = client_bound_runs(before, now)
    if client:  # the client's own delays are in these latencies: no verdict on the server
        verdict, note = INCONCLUSIVE, client
    note = "; ".join(part for part in (_host_note(host), note, bounded) if part)
    return Verdict(case, rule, verdict, base, current, point, low, high, counts, note, host)


def client_bound_runs(before: Mapping[str, object], now: Mapping[str, object]) -> str:
    """'this run was client-bound (…)' for whichever run's load generator was the bottleneck."""
    lines = [
        f"{label} was client-bound ({run['client_bound']})"
        for label, run in (("the compared run", before), ("this run", now))
        if run.get("client_bound")
    ]
    return "; ".join(lines)


def _stopped_by_bound(before: Mapping[str, object], now: Mapping[str, object]) -> str:
    """'this run stopped by --llm-case-seconds 2 after 7 round(s); …' for whichever run a bound cut short."""
    lines = []
    for label, run in (("the compared run", before), ("this run", now)):
        stopped = run.get("stopped_by")
        if isinstance(stopped, dict) and stopped.get("line"):
            lines.append(f"{label} {stopped['line']}")
    return "; ".join(lines)


def _at_equal_host_speed(
    rule: GateRule, before: Mapping[str, object], now: Mapping[str, object], rounds_before, rounds_now
) -> tuple[list[float], list[float], float | None]:
    """Both runs' round times at the compared run's host speed, and the host probe's ratio now/before,
    where both carry a host probe per round; else the samples unchanged and None."""
    probes_before = (before.get("samples") or {}).get("host_probe_seconds")
    probes_now = (now.get("samples") or {}).get("host_probe_seconds")
    if rule.prefix != "" or not probes_before or not probes_now:
        return rounds_before, rounds_now, None
    if len(probes_before) != len(rounds_before) or len(probes_now) != len(rounds_now):
        return rounds_before, rounds_now, None
    reference = float(_statistic(probes_before, "p50"))
    host = float(host_speed_ratio(probes_before, probes_now))
    adjusted = host_adjusted(rounds_before, probes_before, reference), host_adjusted(rounds_now, probes_now, reference)
    return *adjusted, host


def _host_note(host: float | None) -> str:
    """'the host ran 2.01x slower than for the compared run (host probe)': why the two changes differ."""
    if host is None:
        return ""
    pace = f"{host:.2f}x slower" if host >= 1 else f"{1 / host:.2f}x faster"
    return f"the host ran {pace} than for the compared run (host probe)"


def _contention(case: str, rule: GateRule, before: Mapping[str, object], now: Mapping[str, object]) -> str:
    """Why a slowdown on a CPU device may be the host's, not the build's; '' when it is the build's.
    Round times: the process's CPU time per round must have grown clearly too (preemption adds wall
    time, not CPU time). Per-request metrics: neither run may have been contended."""
    cpu_before = (before.get("samples") or {}).get("round_cpu_seconds")
    cpu_now = (now.get("samples") or {}).get("round_cpu_seconds")
    if rule.prefix == "" and cpu_before and cpu_now:
        cpu = judge(case, rule, {"samples": {"round_seconds": cpu_before}}, {"samples": {"round_seconds": cpu_now}})
        if cpu.verdict == REGRESSED:
            return ""
        return (
            f"wall time grew but the process's CPU time per round did not clearly ({cpu.verdict}): another "
            "process took the cores; rerun on a quiet host"
        )
    contended = _contended_run(before, now)
    return f"a run was contended ({contended}): rerun on a quiet host" if contended else ""


def _contended_run(before: Mapping[str, object], now: Mapping[str, object]) -> str:
    """The first 'contended (CPU 62% of wall)' note of either run, or ''."""
    notes = [n for run in (before, now) for n in (run.get("noise") or ()) if str(n).startswith("contended")]
    return str(notes[0]) if notes else ""


def apply_gate(
    current: Mapping[str, Mapping[str, object]],
    baseline: Mapping[str, Mapping[str, object]],
    rules: Iterable[GateRule],
) -> list[Verdict]:
    """A verdict for every case of either run under every rule (cases of only one run: not compared)."""
    verdicts = []
    for rule in rules:
        for case in sorted(set(current) | set(baseline)):
            if case not in current:
                verdicts.append(Verdict(case, rule, NOT_COMPARED, note="the case did not run in this session"))
            else:
                verdicts.append(judge(case, rule, baseline.get(case), current[case]))
    return verdicts


def per_round_percentiles(rules: Iterable[GateRule]) -> list[float]:
    """The percentiles the rules gate that rest on one sample per round (p95 → 95.0): whole-round time,
    and TTFT (one per request). TPOT and ITL rest on per-token samples, so one round resolves them."""
    return [float(rule.statistic[1:]) for rule in rules if rule.prefix in ("", "ttft_") and rule.statistic != "mean"]
