"""Host settings that Ascend serving guides recommend for stable timings, read from ``/proc``, ``/sys`` and the
environment.

Why: a CPU that scales its frequency, a kernel that migrates pages between NUMA nodes, swapping, and glibc's malloc
under many threads all add host-side latency jitter that a benchmark then attributes to the model or the card. These
are not errors (the run works), so the doctor warns and the run header records them; it never blocks on them.

Why an injectable root and environment: tests build fake ``/proc`` and ``/sys`` trees in a temporary folder, and
containers often hide these files, in which case a setting is reported as "not readable here" rather than guessed.

Recommendations and where they come from (read 2026-12-02):

- CPU frequency governor ``performance``, ``kernel.numa_balancing=0``, ``vm.swappiness=0``: SGLang's Ascend NPU
  optimization page, "System-Level Optimizations" (``SGLANG_ASCEND_OPTIMIZATION``), and vllm-ascend's
  "Optimization and Tuning" guide, section 5 (``VLLM_ASCEND_TUNING``), which also says swap "can introduce
  second-level latency".
- jemalloc or tcmalloc in ``LD_PRELOAD``: vllm-ascend's "Optimization and Tuning" guide, sections 2.1 and 2.2.
- ``CPU_AFFINITY_CONF`` 1 (coarse) or 2 (fine-grained binding, the one torch_npu recommends "if binding is used to
  improve performance"): torch_npu's environment-variable page; vllm-ascend's guide sets 1.
- Transparent huge pages: none of these guides gives a value; the mode is recorded because it changes page-fault and
  compaction latency (the kernel's admin guide explains the modes), and is not judged.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_ascend_llm.doctor.sources import SGLANG_ASCEND_OPTIMIZATION, VLLM_ASCEND_TUNING, torch_npu_doc

NOT_READABLE = "not readable here"
NOT_SET = "not set"
KERNEL_THP_DOC = "https://www.kernel.org/doc/html/latest/admin-guide/mm/transhuge.html"
CPU_AFFINITY_DOC = torch_npu_doc("performance_tuning/CPU_AFFINITY_CONF.md")
_ALLOCATORS = re.compile(r"lib(jemalloc|tcmalloc)[\w.+-]*", re.I)


@dataclass(frozen=True)
class HostSetting:
    """One setting: what was found, what the guide recommends, whether they agree (None: unknown or not judged)."""

    name: str
    value: str
    recommended: str
    ok: bool | None
    source: str
    timing_relevant: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _governor(root: Path) -> HostSetting:
    found = {}
    for path in (root / "sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor"):
        value = _read(path)
        if value:
            found[path.parent.parent.name] = value
    counts = Counter(found.values())
    if not counts:
        value, ok = NOT_READABLE, None
    elif len(counts) == 1:
        value, ok = f"{next(iter(counts))} (all {len(found)} cpus)", set(counts) == {"performance"}
    else:
        value, ok = ", ".join(f"{name} on {count} cpus" for name, count in counts.most_common()), False
    return HostSetting("cpu_governor", value, "performance", ok, SGLANG_ASCEND_OPTIMIZATION, True)


def _sysctl(root: Path, relative: str, name: str, good: set[str], recommended: str, source: str, timing: bool):
    value = _read(root / relative)
    ok = None if value is None else value in good
    return HostSetting(name, NOT_READABLE if value is None else value, recommended, ok, source, timing)


def _transparent_hugepage(root: Path) -> HostSetting:
    text = _read(root / "sys/kernel/mm/transparent_hugepage/enabled")
    match = re.search(r"\[(\w+)\]", text or "")
    value = match[1] if match else (text or NOT_READABLE)
    recommended = "no value given by the Ascend guides (recorded, not judged)"
    return HostSetting("transparent_hugepage", value, recommended, None, KERNEL_THP_DOC, True)


def _meminfo_kb(text: str, key: str) -> int | None:
    match = re.search(rf"^{key}:\s*(\d+)\s*kB", text, re.M)
    return int(match[1]) if match else None


def _swap(root: Path) -> HostSetting:
    text = _read(root / "proc/meminfo") or ""
    total, free = _meminfo_kb(text, "SwapTotal"), _meminfo_kb(text, "SwapFree")
    if total is None or free is None:
        value, ok = NOT_READABLE, None
    elif total == 0:
        value, ok = "no swap configured", True
    else:
        used = total - free
        value, ok = f"{used // 1024} MiB used of {total // 1024} MiB", used == 0
    return HostSetting("swap_used", value, "none (vm.swappiness=0)", ok, VLLM_ASCEND_TUNING, True)


def _malloc_preload(environ: Mapping[str, str]) -> HostSetting:
    preload = environ.get("LD_PRELOAD", "")
    libraries = [_ALLOCATORS.search(part)[0] for part in re.split(r"[:\s]+", preload) if _ALLOCATORS.search(part)]
    value = ", ".join(libraries) if libraries else (f"no jemalloc/tcmalloc in {preload!r}" if preload else NOT_SET)
    recommended = "libjemalloc or libtcmalloc in LD_PRELOAD"
    return HostSetting("malloc_preload", value, recommended, bool(libraries), VLLM_ASCEND_TUNING, True)


def _cpu_affinity(environ: Mapping[str, str]) -> HostSetting:
    value = environ.get("CPU_AFFINITY_CONF")
    mode = value.split(",", 1)[0].strip() if value else None
    recommended = "1 or 2 (torch_npu recommends 2, fine-grained binding)"
    shown = NOT_SET if value is None else value
    return HostSetting("CPU_AFFINITY_CONF", shown, recommended, mode in {"1", "2"}, CPU_AFFINITY_DOC, True)


def read_host_settings(root: Path = Path("/"), environ: Mapping[str, str] | None = None) -> list[HostSetting]:
    """Every setting, in a fixed order; a file that is absent or unreadable gives "not readable here", never raises."""
    environ = os.environ if environ is None else environ
    root = Path(root)
    return [
        _governor(root),
        _sysctl(root, "proc/sys/kernel/numa_balancing", "numa_balancing", {"0"}, "0", SGLANG_ASCEND_OPTIMIZATION, True),
        _transparent_hugepage(root),
        _swap(root),
        _sysctl(
            root, "proc/sys/vm/swappiness", "vm.swappiness", {"0", "1"}, "0 (1 also given)", VLLM_ASCEND_TUNING, False
        ),  # fmt: skip
        _malloc_preload(environ),
        _cpu_affinity(environ),
    ]


def timing_settings(root: Path = Path("/"), environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings that change timings, name -> value found, for a run header and the saved stack."""
    return {setting.name: setting.value for setting in read_host_settings(root, environ) if setting.timing_relevant}
