"""The collective-communication (HCCL) variables: buffer size, timeouts, expansion mode and the NIC used to reach
the root node, each check beside its row of the doctor's table (``variables`` assembles the rows).
"""

from __future__ import annotations

import ipaddress
import re

from pytest_ascend_llm.doctor.rule_types import Context, Variable, Verdict
from pytest_ascend_llm.doctor.sources import OPTIONS_MANAGER, VLLM_ASCEND_TUNING, cann_doc, torch_npu_doc
from pytest_ascend_llm.doctor.values import float_or_none, int_or_none


def check_hccl_buffsize(value: str, ctx: Context) -> list[Verdict]:
    number = int_or_none(value)
    if number is None or number < 1:
        return [Verdict("error", f"HCCL_BUFFSIZE={value!r} must be an integer >= 1 (MB); torch_npu refuses it")]
    return [Verdict("ok", f"{number} MB: each communicator holds 2 x {number} MB of NPU memory")]


HCCL_BUFFSIZE = Variable(
    "HCCL_BUFFSIZE",
    "MB of buffer per HCCL communicator (each holds two), default 200",
    cann_doc("en/CANNCommunityEdition/900/maintenref/envvar/envref_07_0080.html"),
    check_hccl_buffsize,
)


def check_hccl_connect_timeout(value: str, ctx: Context) -> list[Verdict]:
    number = int_or_none(value)
    if number is None or not 120 <= number <= 7200:
        return [Verdict("error", f"HCCL_CONNECT_TIMEOUT={value!r} is outside the documented [120, 7200] seconds")]
    return [Verdict("ok", f"link setup waits up to {number} + 20 s")]


HCCL_CONNECT_TIMEOUT = Variable(
    "HCCL_CONNECT_TIMEOUT",
    "seconds devices wait for each other while building HCCL links, [120, 7200]",
    cann_doc("zh/canncommercial/850/maintenref/envvar/envref_07_0149.html"),
    check_hccl_connect_timeout,
)


# CANN 8.x: AI_CPU, AIV, HOST, HOST_TS; CANN 9.x adds CCU_MS and CCU_SCHED (Atlas 350) and names AICPU_CacheDisable
# (Atlas A3) on the HCCL_EXEC_TIMEOUT page. Which ones apply depends on the product and the CANN release.
HCCL_EXPANSION_MODES = ("AI_CPU", "AIV", "HOST", "HOST_TS", "CCU_MS", "CCU_SCHED", "AICPU_CacheDisable")
AIV_EXEC_TIMEOUT_CAP = 1091


def check_hccl_exec_timeout(value: str, ctx: Context) -> list[Verdict]:
    """Seconds; 0 never times out on A2/A3; negative values are reset to the default by torch_npu."""
    number = float_or_none(value)
    if number is None:
        return [Verdict("error", f"HCCL_EXEC_TIMEOUT={value!r} is not a number of seconds")]
    if number < 0:
        return [Verdict("warn", "negative: torch_npu resets it to the default", OPTIONS_MANAGER)]
    if ctx.environ.get("HCCL_OP_EXPANSION_MODE") == "AIV" and (number == 0 or number > AIV_EXEC_TIMEOUT_CAP):
        return [Verdict("info", f"with HCCL_OP_EXPANSION_MODE=AIV, CANN uses {AIV_EXEC_TIMEOUT_CAP} s instead")]
    if number == 0:
        return [Verdict("warn", "0: a hung collective never times out (Atlas A2/A3)")]
    return [Verdict("ok", f"{value} s per wait")]


HCCL_EXEC_TIMEOUT = Variable(
    "HCCL_EXEC_TIMEOUT",
    "seconds a device waits for the others inside a collective",
    cann_doc("zh/canncommercial/latest/maintenref/envvar/envref_07_0078.html"),
    check_hccl_exec_timeout,
)


def check_hccl_event_timeout(value: str, ctx: Context) -> list[Verdict]:
    number = int_or_none(value)
    if number is None or not 0 <= number <= 2147483647:
        return [Verdict("error", f"HCCL_EVENT_TIMEOUT={value!r} is not an integer in [0, 2147483647]")]
    exec_timeout = float_or_none(ctx.environ.get("HCCL_EXEC_TIMEOUT", ""))
    if exec_timeout is not None and number <= exec_timeout:
        return [Verdict("error", "HCCL_EVENT_TIMEOUT must be greater than HCCL_EXEC_TIMEOUT")]
    return [Verdict("ok", "never times out" if number == 0 else f"{number} s")]


HCCL_EVENT_TIMEOUT = Variable(
    "HCCL_EVENT_TIMEOUT",
    "seconds torch_npu waits for an HCCL event; must exceed HCCL_EXEC_TIMEOUT",
    torch_npu_doc("collective_communication/HCCL_EVENT_TIMEOUT.md"),
    check_hccl_event_timeout,
)


def check_hccl_expansion_mode(value: str, ctx: Context) -> list[Verdict]:
    if value not in HCCL_EXPANSION_MODES:
        documented = ", ".join(HCCL_EXPANSION_MODES)
        return [Verdict("warn", f"{value!r} is not a documented mode ({documented}); CANN then uses its default")]
    if value == "AIV":
        return [
            Verdict("ok", "AIV: collectives orchestrated on the vector cores"),
            Verdict("info", "vllm-ascend's tuning guide recommends AIV", VLLM_ASCEND_TUNING),
        ]
    return [Verdict("ok", value)]


HCCL_OP_EXPANSION_MODE = Variable(
    "HCCL_OP_EXPANSION_MODE",
    "where collective algorithms are orchestrated: AI_CPU, AIV, HOST or HOST_TS",
    cann_doc("zh/canncommercial/850/maintenref/envvar/envref_07_0096.html"),
    check_hccl_expansion_mode,
)


def check_hccl_if_ip(value: str, ctx: Context) -> list[Verdict]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return [Verdict("error", f"HCCL_IF_IP={value!r} is not one IPv4 or IPv6 address")]
    return [Verdict("ok", f"HCCL root NIC {value} (takes precedence over HCCL_SOCKET_IFNAME)")]


HCCL_IF_IP = Variable(
    "HCCL_IF_IP",
    "host IP address HCCL uses to reach the root node",
    cann_doc("en/canncommercial/800/apiref/envvar/envref_07_0073.html"),
    check_hccl_if_ip,
)


def check_hccl_socket_ifname(value: str, ctx: Context) -> list[Verdict]:
    names = value.removeprefix("^").removeprefix("=").split(",")
    if not all(re.fullmatch(r"[\w.:@-]+", name) for name in names):
        return [Verdict("error", f"HCCL_SOCKET_IFNAME={value!r} is not [^][=]name[,name...]")]
    if "HCCL_IF_IP" in ctx.environ:
        return [Verdict("info", "HCCL_IF_IP is also set and takes precedence")]
    return [Verdict("ok", f"host NIC selection {value!r}")]


HCCL_SOCKET_IFNAME = Variable(
    "HCCL_SOCKET_IFNAME",
    "host NIC name(s) or prefixes HCCL uses to reach the root node",
    cann_doc("en/canncommercial/850/commlib/hcclug/hcclug_000093.html"),
    check_hccl_socket_ifname,
)


ROWS: tuple[Variable, ...] = (
    HCCL_BUFFSIZE,
    HCCL_CONNECT_TIMEOUT,
    HCCL_EXEC_TIMEOUT,
    HCCL_EVENT_TIMEOUT,
    HCCL_OP_EXPANSION_MODE,
    HCCL_IF_IP,
    HCCL_SOCKET_IFNAME,
)
