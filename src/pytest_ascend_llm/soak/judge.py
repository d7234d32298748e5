"""A soak judged: every check on the run, and the whole as the case's saved metrics
(``case.extra["soak"]``, plain JSON), from which ``lines`` prints the terminal's block and the report."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_ascend_llm.soak import verdicts
from pytest_ascend_llm.soak.drift import Drift, latency_drift
from pytest_ascend_llm.soak.driver import SoakRun
from pytest_ascend_llm.soak.locate import ServerWhere
from pytest_ascend_llm.soak.probes import Probes
from pytest_ascend_llm.soak.trend import Growth, memory_growth


def growths(run: SoakRun, sources: Sequence[str]) -> list[Growth]:
    """Each source's growth over the readings from the end of the first window on."""
    times = [s.time for s in run.samples]
    done = [s.done for s in run.samples]
    after = run.plan.window_s if run.plan.windows > 1 else float("inf")
    return [memory_growth(name, times, done, [s.mib.get(name) for s in run.samples], after) for name in sources]


def checks_of(
    run: SoakRun, judged: Sequence[Growth], where: ServerWhere, max_growth: float, max_drift: float
) -> tuple[list[verdicts.Check], Drift | None]:
    """Growth per judged source (or why memory is not judged), the drift, the errors; and the drift."""
    checks = [verdicts.growth_check(growth, max_growth) for growth in judged] or [verdicts.not_judged(where.line)]
    drift = latency_drift(run.windows[0].e2e, run.windows[-1].e2e, run.plan.seed) if len(run.windows) > 1 else None
    if drift is not None:
        checks.append(verdicts.drift_check(drift, max_drift))
    else:
        checks.append(verdicts.Check("latency drift", verdicts.INCONCLUSIVE, "latency drift: one window: inconclusive"))
    return [*checks, verdicts.errors_check(run.finished, run.windows)], drift


def judge(run: SoakRun, probes: Probes, where: ServerWhere, max_growth: float, max_drift: float) -> dict:
    """Every check on the run, and the whole as JSON-ready metrics."""
    judged = growths(run, probes.judged)
    checks, drift = checks_of(run, judged, where, max_growth, max_drift)
    return {
        "plan": run.plan.describe(),
        "seconds": run.duration,
        "window_s": run.plan.window_s,
        "server": where.line,
        "notes": list(probes.notes),
        "requests": len(run.finished),
        "errors": sum(w.errors for w in run.windows),
        "not_sent": run.not_sent,
        "windows": [w.to_dict() for w in run.windows],
        "judged": probes.judged,
        "samples": [{"time": round(s.time, 3), "done": s.done, "mib": s.mib} for s in run.samples],
        "growth": [g.to_dict() for g in judged],
        "context": [g.to_dict() for g in growths(run, [p.name for p in probes.probes if not p.judged])],
        "drift": drift.to_dict() if drift is not None else None,
        "checks": [c.to_dict() for c in checks],
        "outcome": verdicts.overall(checks),
        "max_growth_mib_per_h": max_growth,
        "max_drift": max_drift,
    }
