"""`pytest-ascend-llm doctor`: the cards, the environment and the stack in one screen, and an exit
status that says whether a benchmark run here would mean anything.

Blocking (exit 1): a card whose health is not OK, a card another process is using, an environment
setting that makes timings unrepresentative (launch blocking, debug logging, no allocator caching),
a value the documentation calls invalid, or (on an NPU host) a torch that does not pair with the installed
torch_npu in torch_npu's version table. Everything else is information: a CANN or Python outside the table's row,
and the host settings the Ascend guides recommend (governor, NUMA balancing, swap, malloc preload, CPU binding),
which are warnings because the run still works, only with noisier timings.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_ascend_llm.doctor.findings import Finding, check_environment, meaningless_for_benchmarks
from pytest_ascend_llm.doctor.host_load import HostLoad, read_host_load
from pytest_ascend_llm.doctor.host_settings import HostSetting, read_host_settings
from pytest_ascend_llm.doctor.stack_table import check_stack

TOOLS = {"npu": "npu-smi", "cuda": "nvidia-smi"}


def detect_kind(requested: str) -> str:
    """'npu' or 'cuda' where the vendor tool is on PATH (Ascend first), else 'cpu'; or what was asked."""
    if requested != "auto":
        return requested
    return next((kind for kind, tool in TOOLS.items() if shutil.which(tool)), "cpu")


@dataclass
class Diagnosis:
    kind: str
    inventory: Any = None
    inventory_problem: str | None = None
    findings: list[Finding] = field(default_factory=list)
    stack: dict[str, Any] = field(default_factory=dict)
    blocking: list[str] = field(default_factory=list)
    host: list[HostSetting] = field(default_factory=list)
    stack_checks: list[Finding] = field(default_factory=list)
    load: HostLoad | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_kind": self.kind,
            "inventory": self.inventory.to_dict() if self.inventory is not None else None,
            "inventory_problem": self.inventory_problem,
            "environment": [finding.to_dict() for finding in self.findings],
            "stack": self.stack,
            "stack_checks": [finding.to_dict() for finding in self.stack_checks],
            "host_settings": [setting.to_dict() for setting in self.host],
            "host_load": asdict(self.load) if self.load is not None else None,
            "blocking": self.blocking,
            "ok_to_benchmark": not self.blocking,
        }


def diagnose(
    kind: str, environ: dict[str, str] | None = None, with_stack: bool = True, host_root: Path = Path("/")
) -> Diagnosis:
    """Read the cards (if any), check the environment and the host, capture the stack and check it against
    torch_npu's version table; list what blocks benchmarking."""
    from pytest_ascend_llm.inventory.guard import busy_reason, own_pids, unhealthy
    from pytest_ascend_llm.inventory.reading import read_inventory
    from pytest_ascend_llm.inventory.records import InventoryUnavailable

    environ = dict(os.environ if environ is None else environ)
    diagnosis = Diagnosis(kind)
    if kind in TOOLS:
        try:
            diagnosis.inventory = read_inventory(kind)
        except InventoryUnavailable as error:
            diagnosis.inventory_problem = str(error)
    inventory = diagnosis.inventory
    if inventory is not None:
        diagnosis.blocking += [f"health: {line}" for line in unhealthy(inventory)]
        ours = own_pids()
        for index in sorted({card.index for card in inventory.cards}):
            reason = busy_reason(inventory, index, ours)
            if reason:
                diagnosis.blocking.append(f"busy: {reason}")
    diagnosis.findings = check_environment(environ, kind)
    blocking = meaningless_for_benchmarks(diagnosis.findings)
    blocking += [f for f in diagnosis.findings if f.level == "error" and f not in blocking]
    diagnosis.blocking += [f"environment: {f.topic}: {f.message}" for f in blocking]
    diagnosis.host = read_host_settings(host_root, environ)
    diagnosis.load = read_host_load(host_root)
    busy = diagnosis.load.busy_reason()
    if busy:
        diagnosis.blocking.append(f"busy host: {busy}")
    if with_stack:
        from pytest_ascend_llm.environment import capture_environment

        stack = capture_environment().to_dict()
        diagnosis.stack = {key: stack.get(key) for key in STACK_KEYS}
        diagnosis.stack_checks = check_stack(stack.get("torch"), stack.get("torch_npu"), stack.get("cann"),
                                             stack.get("python"))  # fmt: skip
        if kind == "npu":  # a torch that torch_npu was not built for: kernels missing or wrong on the card
            diagnosis.blocking += [f"stack: {f.message}" for f in diagnosis.stack_checks if f.level == "error"]
        broken = broken_torch_npu(stack.get("torch_npu"), stack.get("npu_problem"))
        if broken:
            diagnosis.blocking.append(f"stack: {broken}")
    return diagnosis


def broken_torch_npu(version: str | None, problem: str | None) -> str | None:
    """torch_npu installed but unable to load (CANN missing, libhccl.so not found): whatever the device, a
    run here would silently fall back to CPU where the NPU was meant."""
    import importlib.util

    installed = version or importlib.util.find_spec("torch_npu") is not None
    if not installed or not problem or "not installed" in problem:
        return None
    return f"torch_npu is installed but cannot load, so nothing here would run on an NPU: {problem}"


def host_level(setting: HostSetting, kind: str) -> str:
    """'ok' / 'WARN' on an NPU host; elsewhere the Ascend guides' advice is information only."""
    if setting.ok is None:
        return "info"
    if setting.ok:
        return "ok"
    return "warn" if kind == "npu" else "info"


STACK_KEYS = ("python", "torch", "torch_npu", "cann", "driver", "transformers", "sglang", "vllm", "npu_problem")
MARKS = {"ok": "ok  ", "info": "info", "warn": "WARN", "error": "ERR "}


def render(diagnosis: Diagnosis) -> list[str]:
    """One screen: cards, environment findings, stack, verdict."""
    lines = [f"device kind: {diagnosis.kind}"]
    inventory = diagnosis.inventory
    if inventory is not None:
        lines.append(f"cards: {inventory.summary_line()}")
        for card in inventory.cards:
            used, total = card.memory_used_mb, card.memory_total_mb
            lines.append(
                f"  {inventory.label(card):<16} {card.name:<10} health {card.health or '-':<8} "
                f"power {card.power_w if card.power_w is not None else '-'} W  temp {card.temperature_c or '-'} C  "
                f"util {card.utilization_pct if card.utilization_pct is not None else '-'}%  "
                f"{card.memory_kind or 'memory'} {used if used is not None else '-'}/{total or '-'} MB"
            )
        for process in inventory.processes:
            lines.append(f"  process {process.pid} ({process.name or '?'}) on card {process.card_index}: "
                         f"{process.memory_mb if process.memory_mb is not None else '?'} MB")  # fmt: skip
    elif diagnosis.inventory_problem:
        lines.append(f"cards: unavailable ({diagnosis.inventory_problem})")
    lines.append("environment:")
    for finding in diagnosis.findings or [Finding("ok", "variables", "nothing set that the doctor knows of", None)]:
        source = f"  [{finding.source}]" if finding.source else ""
        lines.append(f"  {MARKS.get(finding.level, finding.level)} {finding.topic}: {finding.message}{source}")
    if diagnosis.host or diagnosis.load:
        lines.append("host:")
    if diagnosis.load is not None:
        lines.append(f"  {'BUSY' if diagnosis.load.busy_reason() else 'ok  '} load: {_load_line(diagnosis.load)}")
    for setting in diagnosis.host:
        mark = MARKS[host_level(setting, diagnosis.kind)]
        lines.append(f"  {mark} {setting.name}: {setting.value}; recommended {setting.recommended}  [{setting.source}]")
    if diagnosis.stack:
        lines.append("stack: " + ", ".join(f"{key} {value or '-'}" for key, value in diagnosis.stack.items()))
    for finding in diagnosis.stack_checks:
        source = f"  [{finding.source}]" if finding.source else ""
        lines.append(f"  {MARKS.get(finding.level, finding.level)} {finding.topic}: {finding.message}{source}")
    if diagnosis.blocking:
        lines.append(f"NOT OK to benchmark here ({len(diagnosis.blocking)}):")
        lines += [f"  - {reason}" for reason in diagnosis.blocking]
    else:
        lines.append("OK to benchmark here.")
    return lines


def _load_line(load: HostLoad) -> str:
    average = f"{load.load_1m:.2f}" if load.load_1m is not None else "not readable here"
    others = "not sampled (another root)" if load.others_cores is None else f"{load.others_cores:.2f} core(s)"
    return f"1-min load average {average} on {load.usable_cores} usable core(s); other processes now {others}"
