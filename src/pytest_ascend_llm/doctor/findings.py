"""Findings about an environment: one per relevant variable set, plus "not set" advice where the docs give some.

Why a pure function of a mapping: the doctor runs before torch is imported (importing torch_npu already reads most of
these variables), and tests inject environments as plain dicts instead of patching ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pytest_ascend_llm.doctor.rule_types import Context, Level, Variable, Verdict
from pytest_ascend_llm.doctor.rules_allocator import recommend_expandable_segments
from pytest_ascend_llm.doctor.variables import BY_NAME, TIMING_DISTORTING, UNDOCUMENTED, VARIABLES

_SEVERITY: dict[str, int] = {"ok": 0, "info": 1, "warn": 2, "error": 3}


@dataclass(frozen=True)
class Finding:
    """One conclusion: ``topic`` is the variable's name, ``source`` the page or source file that backs the message."""

    level: Level
    topic: str
    message: str
    source: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merge(variable: Variable, verdicts: list[Verdict]) -> Finding:
    """One finding per variable: messages by severity, each naming its own source where it differs.

    The level is the worst one, except that context notes ("info") do not demote a sound value ("ok").
    """
    ordered = sorted(verdicts, key=lambda verdict: -_SEVERITY[verdict.level])
    level = ordered[0].level
    if level == "info" and any(verdict.level == "ok" for verdict in verdicts):
        level = "ok"
    source = ordered[0].source or variable.source
    parts = [ordered[0].message]
    for verdict in ordered[1:]:
        cited = verdict.source or variable.source
        parts.append(verdict.message if cited == source else f"{verdict.message} [{cited}]")
    return Finding(level, variable.name, "; ".join(parts), source)


def _check(variable: Variable, value: str, ctx: Context) -> Finding:
    if ctx.device_kind is not None and ctx.device_kind not in variable.applies_to:
        readers = "/".join(sorted(variable.applies_to))
        message = f"{variable.name}={value!r} is read only on {readers}: no effect on a {ctx.device_kind} run"
        return Finding("info", variable.name, message, variable.source)
    return _merge(variable, variable.check(value, ctx))


def _not_set(environ: Mapping[str, str], device_kind: str | None) -> list[Finding]:
    """Advice the docs give for NPU runs when a variable is absent."""
    if device_kind != "npu":
        return []
    findings = []
    if "PYTORCH_NPU_ALLOC_CONF" not in environ and "PYTORCH_ALLOC_CONF" not in environ:
        advice = _merge(BY_NAME["PYTORCH_NPU_ALLOC_CONF"], recommend_expandable_segments())
        findings.append(Finding("info", advice.topic, f"not set: {advice.message}", advice.source))
    if "TASK_QUEUE_ENABLE" not in environ and "ASCEND_LAUNCH_BLOCKING" not in environ:
        message = "not set: level 1 is used; torch_npu's docs recommend 2 (at the cost of a higher memory peak)"
        findings.append(Finding("info", "TASK_QUEUE_ENABLE", message, BY_NAME["TASK_QUEUE_ENABLE"].source))
    return findings


def _undocumented(environ: Mapping[str, str]) -> list[Finding]:
    findings = []
    for entry in UNDOCUMENTED:
        if entry.name in environ:
            intended = BY_NAME.get(entry.intended)
            message = (
                f"{entry.name} is not a documented variable, so the Ascend stack ignores it ({entry.checked}); "
                f"did you mean {entry.intended}?"
            )
            findings.append(Finding("warn", entry.name, message, intended.source if intended else None))
    return findings


def check_environment(environ: Mapping[str, str], device_kind: str | None = None) -> list[Finding]:
    """Findings for the documented variables set in ``environ`` (table order), undocumented names, missing advice.

    ``device_kind`` is "npu", "cuda", "cpu" or None (unknown: every check runs as if it could apply).
    """
    ctx = Context(environ, device_kind)
    findings = [_check(variable, environ[variable.name], ctx) for variable in VARIABLES if variable.name in environ]
    return findings + _undocumented(environ) + _not_set(environ, device_kind)


def meaningless_for_benchmarks(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that make timings unrepresentative (launch blocking, debug logging, no allocator cache).

    The doctor exits non-zero on these; errors (invalid values) are the caller's separate concern.
    """
    return [finding for finding in findings if finding.level == "warn" and finding.topic in TIMING_DISTORTING]
