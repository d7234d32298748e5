"""What the plugin prints: the header (device, model, stack, host, roofline, cards, round policy) and
the end-of-session summary (capacity plan, loads, the latency table, the collective sweep, the gate's verdicts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.plugin import benchmark_adapter as adapter
from pytest_ascend_llm.plugin.bench import rounds_for
from pytest_ascend_llm.plugin.gate import measured_cases
from pytest_ascend_llm.plugin.state import PluginState
from pytest_ascend_llm.units import format_bytes

if TYPE_CHECKING:
    from pytest_ascend_llm.session import LLMSession


def header_lines(llm: LLMSession) -> list[str]:
    env = llm.environment
    return (
        [
            f"ascend-llm: device {llm.describe_device()}, model {llm.source.model_id} [{env.model_hash}], "
            f"dtype {llm.dtype_name}, engine {llm.settings.engine}",
            f"ascend-llm stack: {env.stack_summary()}" + (f"; NPU: {llm.npu_problem}" if llm.npu_problem else ""),
            f"ascend-llm host: {env.host_summary()}",
            f"ascend-llm roofline: {llm.roofline_basis()}",
        ]
        + _cards_line(llm)
        + [f"ascend-llm: warning: {line}" for line in llm.warnings]
    )


def _cards_line(llm: LLMSession) -> list[str]:
    """What npu-smi / nvidia-smi says of the cards, or why it could not say (accelerators only)."""
    if llm.inventory is not None:
        return [f"ascend-llm cards: {llm.inventory.summary_line()}"]
    return [f"ascend-llm cards: unavailable ({llm.inventory_problem})"] if llm.inventory_problem else []


def report_header(config: pytest.Config, state: PluginState) -> list[str]:
    """The header, when the session woke before the run started: with the round policy's line."""
    if state.llm is None:
        return []
    state.run.header_shown = True
    return header_lines(state.llm) + _rounds_line(config, state)


def _rounds_line(config: pytest.Config, state: PluginState) -> list[str]:
    if not config.pluginmanager.hasplugin("benchmark"):
        return []
    plan = rounds_for(state.llm, state.tracked_percentile)
    settings = state.settings
    bounds = [f"--llm-case-seconds {settings.case_seconds:g} per case"] if settings.case_seconds is not None else []
    bounds += [f"--llm-max-minutes {settings.max_minutes:g} for the run"] if settings.max_minutes is not None else []
    rounds = plan.policy.describe(bool(bounds)) if plan.policy else f"{plan.fixed} timed rounds (--llm-rounds)"
    bounded = f"; bounded by {' and '.join(bounds)}" if bounds else ""
    return [
        f"ascend-llm benchmark: {rounds}, after {plan.warmup} warm-up round(s) per llm_bench case{bounded}; "
        "pytest-benchmark's min_rounds/warmup defaults above do not apply to them"
    ]


def write_header(config: pytest.Config, state: PluginState) -> None:
    """The header of a session woken by its tests, printed once collection says what it woke for."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if state.llm is not None and not state.run.header_shown and reporter is not None:
        state.run.header_shown = True
        for line in header_lines(state.llm):
            reporter.write_line(line)


def write_session_lines(terminalreporter, state: PluginState) -> None:
    """The capacity plan a check made, and how often and how fast the model loaded."""
    llm = state.llm
    plan = state.run.capacity_plan
    if plan is not None:
        from pytest_ascend_llm.planning.launch import sglang_command, shell_line

        terminalreporter.section("ascend-llm capacity plan for this device")
        for line in plan.summary_lines():
            terminalreporter.write_line(line)
        command = sglang_command(plan, str(llm.source.path), device=llm.device.kind)
        terminalreporter.write_line("SGLang: " + shell_line(command))
    costs = llm.graph_costs()
    if costs:
        shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in costs.items())
        terminalreporter.write_line(
            f"ascend-llm graph modes: {shown} (compile: first compiled call; startup: launch to healthy)"
        )
    if llm.load_count:
        loaded = llm.loaded
        terminalreporter.write_line(
            f"ascend-llm: model {llm.source.model_id} loaded {llm.load_count} time(s) on {llm.device} "
            f"in {loaded.load_seconds:.2f} s ({format_bytes(loaded.device_bytes_loaded)} of weights)"
        )


def write_changes(config: pytest.Config, state: PluginState, saved: dict, now: dict) -> None:
    """What differs between the compared run and this one, before any verdict rests on the comparison."""
    from pytest_ascend_llm.reporting.changes import stack_changes

    changes = stack_changes(saved, now)
    state.run.compared_stack, state.run.changes = saved, changes.to_dict()
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"ascend-llm: against the compared run: {changes.line()}", yellow=bool(changes.changed))


def write_outputs(terminalreporter, state: PluginState, records: list[dict]) -> None:
    """One line per comparison of outputs: prompts identical / within tolerance / tie flip / drifted."""
    from pytest_ascend_llm.outputs.drift import Drift, summary_line

    outputs = [r["outputs"] for r in records if r.get("outputs")] or list(state.run.outputs.values())
    by_comparison: dict[str, list[Drift]] = {}
    refused = sorted({o["refused"] for o in outputs if o.get("refused")})
    for output in outputs:
        for against, drift in (output.get("drift") or {}).items():
            by_comparison.setdefault(against, []).append(Drift(**drift))
    for against, drifts in by_comparison.items():
        failed = any(d.fails for d in drifts)
        terminalreporter.write_line(f"ascend-llm outputs, {against}: {summary_line(drifts)}", red=failed)
    for reason in refused:
        terminalreporter.write_line(f"ascend-llm outputs: not compared: {reason}", yellow=True)
    from pytest_ascend_llm.evaluation.scoring import Accuracy

    for output in outputs:
        for key, label in (("accuracy", ""), ("compiled_accuracy", " (compiled)")):
            if output.get(key):
                terminalreporter.write_line(f"ascend-llm{label} {Accuracy.from_dict(output[key]).line()}")
        for against, paired in (output.get("paired") or {}).items():
            terminalreporter.write_line(f"ascend-llm accuracy {_against(against)}: {paired['line']}")


def _against(label: str) -> str:
    """'against the compared run', or a pair of graph modes as it is ('compiled vs eager')."""
    return label if " vs " in label else f"against the {label}"


def write_startup(terminalreporter, state: PluginState) -> None:
    """The start-up block: one line per graph mode, and against a compared run the single-shot figures
    before → now, without a verdict (the gate judges the warm rounds)."""
    from pytest_ascend_llm.benchmarking.startup_lines import BASIS, compared_line, is_startup, summary_line

    starts = {name: metrics for name, metrics in measured_cases(state).items() if is_startup(metrics)}
    if not starts:
        return
    terminalreporter.section("ascend-llm start-up and the first request")
    terminalreporter.write_line(f"basis: {BASIS}")
    for metrics in starts.values():
        terminalreporter.write_line(summary_line(metrics))
    compared = adapter.compared_cases(terminalreporter.config)
    for name, metrics in starts.items():
        if is_startup(compared.get(name)):
            terminalreporter.write_line(compared_line(compared[name], metrics))


def write_soak(terminalreporter, state: PluginState) -> None:
    """The soak block: per case its load, whose memory, each verdict with its numbers, and the outcome."""
    soaks = {name: metrics["soak"] for name, metrics in measured_cases(state).items() if metrics.get("soak")}
    if not soaks:
        return
    from pytest_ascend_llm.soak.lines import soak_lines

    failed = any(soak["outcome"] == "failed" for soak in soaks.values())
    terminalreporter.section("ascend-llm soak: memory growth, latency drift, errors", red=failed, green=not failed)
    for name, soak in soaks.items():
        for line in soak_lines(name.split("::")[-1], soak):
            terminalreporter.write_line(line, red=" failed " in line, yellow=" inconclusive" in line)


def write_saturation(terminalreporter, state: PluginState) -> None:
    """The saturation block: per search the knee, its figures, the first failure, the planner and the cost."""
    searches = {name: m["saturation"] for name, m in measured_cases(state).items() if m.get("saturation")}
    if not searches:
        return
    from pytest_ascend_llm.serving.saturation_lines import saturation_lines

    terminalreporter.section("ascend-llm saturation: the highest load within the SLO")
    for name, data in searches.items():
        for line in saturation_lines(name.split("::")[-1], data):
            terminalreporter.write_line(line)


def write_collective(terminalreporter, records: list[dict]) -> None:
    """The collective group's sweep as nccl-tests prints it, from the records the results file holds
    (on an xdist controller, the workers'): otherwise the figures are only in the file."""
    from pytest_ascend_llm.collective.table import basis_line, collective_results, collective_table

    results = collective_results(records)
    if not results:
        return
    terminalreporter.section("ascend-llm collective bandwidth")
    for line in collective_table(results):
        terminalreporter.write_line(line)
    terminalreporter.write_line(basis_line(results))


def write_measurements(terminalreporter, state: PluginState) -> None:
    """The latency table (on an xdist controller, from the workers' records) and the gate's verdicts."""
    llm = state.llm
    if llm is not None and state.run.unbenchmarked:
        terminalreporter.write_line(
            f"ascend-llm: benchmarking is off (--benchmark-disable): {len(state.run.unbenchmarked)} "
            "performance case(s) ran once as correctness checks, without latency figures"
        )
    cases = measured_cases(state)
    if cases:
        _write_tails(terminalreporter, state, cases)
    _write_gate(terminalreporter, state)


def _write_tails(terminalreporter, state: PluginState, cases: dict[str, dict]) -> None:
    from pytest_ascend_llm.benchmarking.table import latency_table

    llm = state.llm

    noisy = [name for name, metrics in cases.items() if metrics.get("noise")]
    if noisy:
        terminalreporter.write_line(
            f"ascend-llm: warning: {len(noisy)} of {len(cases)} cases ran on a busy host or scattered "
            "(see their 'host noise' column): rerun on an idle host, or lower --llm-cpu-threads",
            yellow=True,
        )
    terminalreporter.section("ascend-llm latency tails (device-synchronized rounds)")
    for line in latency_table({name.split("::")[-1]: metrics for name, metrics in cases.items()}):
        terminalreporter.write_line(line)
    if llm is not None and "measured_bandwidth" in vars(llm):  # measured only when a decode case ran
        terminalreporter.write_line(
            f"roofline: {llm.device.name()} measured copy bandwidth {llm.measured_bandwidth / 1e9:.1f} GB/s; "
            f"{llm.roofline_basis()}. MBU = bytes a decode step must read / step time / bandwidth"
        )


def _write_gate(terminalreporter, state: PluginState) -> None:
    verdicts = state.run.verdicts or []
    if verdicts:
        from pytest_ascend_llm.benchmarking.table import verdict_table

        failed = any(v.fails for v in verdicts)
        terminalreporter.section("ascend-llm: tail-latency gate against the compared run", red=failed, green=not failed)
        width = terminalreporter.config.get_terminal_writer().fullwidth
        for line in verdict_table(verdicts, width):
            terminalreporter.write_line(line, red=line.endswith(" regressed"))
        foreign = adapter.runs_without(terminalreporter.config)
        if foreign:
            terminalreporter.write_line(foreign_run_line(foreign), yellow=True)


def foreign_run_line(runs: list[str]) -> str:
    """Why every case of a run saved by plain pytest-benchmark reads "not compared", said once."""
    return (
        f"ascend-llm: the compared run ({', '.join(runs)}) carries no ascend-llm data (it was saved without this "
        "plugin): save a baseline with this plugin, then compare"
    )
