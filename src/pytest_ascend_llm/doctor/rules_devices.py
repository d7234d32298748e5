"""The device-selection variables: which NPUs (or GPUs) a process, or a container it runs in, may use.

Each check stands beside its row of the doctor's table (``variables`` assembles the rows of every topic).
"""

from __future__ import annotations

import re

from pytest_ascend_llm.doctor.rule_types import ALL_KINDS, Context, Variable, Verdict
from pytest_ascend_llm.doctor.sources import CANN_ENV, CUDA_ENV, cann_doc


def check_rt_visible_devices(value: str, ctx: Context) -> list[Verdict]:
    """CANN reads device IDs up to the first character that is not an ID or a comma, and wants them ascending."""
    ids: list[int] = []
    for token in value.split(","):
        if not re.fullmatch(r"\d+", token):
            shown = ", ".join(map(str, ids)) or "none"
            hint = " (ranges like 0-3 are Ascend Docker Runtime syntax, not CANN's)" if "-" in token else ""
            return [
                Verdict(
                    "error",
                    f"ASCEND_RT_VISIBLE_DEVICES={value!r}: {token!r} is not a device ID{hint}; CANN reads only the "
                    f"IDs before it, so the process sees: {shown}",
                )
            ]
        ids.append(int(token))
    if any(b <= a for a, b in zip(ids, ids[1:])):
        return [Verdict("error", f"ASCEND_RT_VISIBLE_DEVICES={value!r}: CANN supports only ascending device IDs")]
    return [Verdict("ok", f"{len(ids)} NPU(s) visible; in-process index 0 is device {ids[0]}")]


ASCEND_RT_VISIBLE_DEVICES = Variable(
    "ASCEND_RT_VISIBLE_DEVICES",
    "which NPUs (logical IDs, ascending, comma-separated) the process may use",
    cann_doc("en/canncommercial/850/maintenref/envvar/envref_07_0028.html"),
    check_rt_visible_devices,
)


def check_ascend_visible_devices(value: str, ctx: Context) -> list[Verdict]:
    """A container-creation variable: documented by Ascend Docker Runtime, not read by CANN inside the process."""
    message = (
        f"ASCEND_VISIBLE_DEVICES={value!r} is read by Ascend Docker Runtime when it creates a container (which "
        "/dev/davinci* it mounts); inside a running process CANN selects devices with ASCEND_RT_VISIBLE_DEVICES, "
        "so exporting it in a shell or script restricts nothing"
    )
    return [Verdict("info", message)]


ASCEND_VISIBLE_DEVICES = Variable(
    "ASCEND_VISIBLE_DEVICES",
    "which NPUs Ascend Docker Runtime mounts into a container it creates",
    cann_doc("en/mindcluster/730/clustersched/schedulingug/dlruntime_ug_004.html"),
    check_ascend_visible_devices,
)


def check_cuda_visible_devices(value: str, ctx: Context) -> list[Verdict]:
    """On an NPU run this restricts nothing: CANN and torch_npu select devices with ASCEND_RT_VISIBLE_DEVICES."""
    if ctx.device_kind != "npu":
        return [Verdict("info", f"CUDA_VISIBLE_DEVICES={value!r}")]
    if "ASCEND_RT_VISIBLE_DEVICES" in ctx.environ:
        return [Verdict("info", "CUDA_VISIBLE_DEVICES has no effect on NPUs (ASCEND_RT_VISIBLE_DEVICES is set)")]
    return [
        Verdict(
            "warn",
            f"CUDA_VISIBLE_DEVICES={value!r} does not restrict NPUs; set ASCEND_RT_VISIBLE_DEVICES instead",
            CANN_ENV + "en/canncommercial/850/maintenref/envvar/envref_07_0028.html",
        )
    ]


CUDA_VISIBLE_DEVICES = Variable(
    "CUDA_VISIBLE_DEVICES", "which CUDA GPUs the process may use", CUDA_ENV, check_cuda_visible_devices, ALL_KINDS
)


ROWS: tuple[Variable, ...] = (
    ASCEND_RT_VISIBLE_DEVICES,
    ASCEND_VISIBLE_DEVICES,
    CUDA_VISIBLE_DEVICES,
)
