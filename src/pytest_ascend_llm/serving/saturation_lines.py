"""What the terminal's saturation block, the report and the per-point progress print, read from the saved
``saturation`` metrics alone, so a report rebuilt from the results file says what the run said."""

from __future__ import annotations

from pytest_ascend_llm.metrics.stats import is_resolved
from pytest_ascend_llm.serving.saturation import AT_BOUND, AT_START, KNEE, Axis
from pytest_ascend_llm.units import format_ms, plain_number

P95 = 95


def axis_of(data: dict) -> Axis:
    return Axis(data["axis"], data["start"], data["bound"], data["resolution"], data.get("bound_option") or "")


def _p95(point: dict, label: str, key: str, count: str) -> str:
    """'TTFT P95 104.2 ms (n 32)'; a P95 its n cannot resolve is marked as the maximum it is."""
    value, n = point.get(key), int(point.get(count) or 0)
    if not isinstance(value, int | float) or value != value:
        return f"{label} P95 - (n {n})"
    shown = f"{format_ms(value)} ms" if is_resolved(P95, n) else f"{format_ms(value)} ms (max: unresolved)"
    return f"{label} P95 {shown} (n {n})"


def figures_text(point: dict) -> str:
    """Goodput, output throughput and the P95s of one point."""
    return (
        f"goodput {plain_number(point.get('goodput_requests_per_s', float('nan')))} req/s, output "
        f"{plain_number(point.get('output_tokens_per_s', float('nan')))} tok/s, "
        f"{_p95(point, 'TTFT', 'ttft_p95', 'ttft_n')}, {_p95(point, 'TPOT', 'tpot_p95', 'tpot_n')}"
    )


def point_line(axis: Axis, point: dict) -> str:
    """The progress line of one measured point."""
    verdict = "held" if point["held"] else "failed"
    return (
        f"saturation {axis.name} {axis.unit(point['load'])}: {verdict} ({point['why']}); "
        f"{point.get('requests', 0)} requests in {point.get('seconds', 0.0):.1f} s, {figures_text(point)}"
    )


def _outcome(axis: Axis, data: dict) -> str:
    knee, failed = data.get("knee"), data.get("failed")
    if data["outcome"] == KNEE:
        return f"holds up to {axis.unit(knee)}, fails at {axis.unit(failed)} (the knee within {axis.resolution_text()})"
    if data["outcome"] == AT_BOUND:
        option = f" ({axis.option})" if axis.option else ""
        return f"holds at every point up to the bound, {axis.unit(axis.bound)}{option}: the knee is above it"
    if data["outcome"] == AT_START:
        return f"fails already at {axis.unit(axis.start)}, the lightest load searched"
    held = f"holds up to {axis.unit(knee)}" if knee is not None else "no point held yet"
    above = f", fails at {axis.unit(failed)}" if failed is not None else ""
    return f"search {data.get('stopped_by') or 'stopped'} after {len(data['points'])} points: {held}{above}"


def _point(data: dict, load: float | None) -> dict | None:
    return next((p for p in data["points"] if p["load"] == load), None) if load is not None else None


def planner_line(data: dict, axis: Axis) -> str:
    """The capacity planner's concurrency for the same device beside the knee, or why it could not run."""
    plan = data.get("planner") or {}
    if "max_running_requests" not in plan:
        return f"not run: {plan.get('problem', 'no plan was made')}"
    return f"--max-running-requests {plan['max_running_requests']} ({plan['line']})"


def saturation_lines(case: str, data: dict) -> list[str]:
    """The block: the outcome, the knee's and the first failure's figures, the planner, what it cost."""
    axis = axis_of(data)
    lines = [f"{case}: SLO {data['slo']}: {_outcome(axis, data)}"]
    knee, failed = _point(data, data.get("knee")), _point(data, data.get("failed"))
    if knee is not None:
        lines.append(f"  {'knee':<10} {axis.unit(knee['load'])}: {figures_text(knee)}")
    if failed is not None:
        lines.append(f"  {'failed at':<10} {axis.unit(failed['load'])}: {failed['why']}")
    lines.append(f"  {'planner':<10} {planner_line(data, axis)}")
    held = ", ".join(f"{p['load']:.3g}" for p in data["points"] if p["held"]) or "none"
    broke = ", ".join(f"{p['load']:.3g}" for p in data["points"] if not p["held"]) or "none"
    lines.append(
        f"  {'search':<10} {len(data['points'])} points (held: {held}; failed: {broke}; in the order measured), "
        f"{data['requests']} requests, {data['seconds']:.1f} s"
    )
    return lines
