"""What the terminal's soak block, the report and the per-window progress print, read from the saved
metrics alone (``judge``), so a report rebuilt from the results file says what the run said."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_ascend_llm.soak import verdicts
from pytest_ascend_llm.soak.trend import Growth

if TYPE_CHECKING:
    from pytest_ascend_llm.soak.plan import SoakPlan
    from pytest_ascend_llm.soak.windows import Window


def context_line(data: dict) -> str | None:
    """Sources shown but not judged (host memory): their slope, and why they are not judged."""
    shown = [Growth.from_dict(g) for g in data.get("context") or ()]
    parts = [f"{g.source} {verdicts.rate_text(g)}" for g in shown if g.per_hour is not None]
    return f"not judged (other processes move it): {'; '.join(parts)}" if parts else None


def soak_lines(case: str, data: dict) -> list[str]:
    """The soak block: the load, whose memory, every check, notes, and the verdict."""
    lines = [
        f"{case}: {data['plan']}; {data['requests']} requests, {data['errors']} errors; "
        f"verdict {data['outcome'].upper()}",
        f"  memory watched: {data['server']}",
    ]
    lines += [f"  {check['outcome']:<12} {check['line']}" for check in data["checks"]]
    context = context_line(data)
    if context:
        lines.append(f"  {'':<12} {context}")
    if data.get("not_sent"):
        lines.append(
            f"  note: {data['not_sent']} Poisson arrivals were still waiting for a free stream at the end (not "
            "sent): the rate is more than the server kept up with"
        )
    lines += [f"  note: {note}" for note in data.get("notes") or ()]
    return lines


def window_line(window: Window, plan: SoakPlan, sources: Sequence[str]) -> str:
    """The progress line of one closed window."""
    mib = ", ".join(f"{name} {window.mib[name]:.1f} MiB" for name in sources if window.mib.get(name) is not None)
    p95 = f"E2E P95 {window.e2e_p95 * 1e3:.1f} ms" if window.e2e_p95 is not None else "no completed request"
    return (
        f"soak window {window.index}/{plan.windows} ({window.end:.1f} s): {window.requests} requests, "
        f"{window.errors} errors, {p95} (n {window.n})" + (f", {mib}" if mib else "")
    )
