"""Collective bandwidth across devices (select with ``-k collective``): tensor parallelism all-reduces
every layer's output and all-gathers its shards, so a slow or broken link caps every TP deployment.

One test per collective sweeps message sizes over every visible device (1 MiB … 1 GiB on accelerators;
on CPU two gloo ranks over loopback, capped at 64 MiB with few iterations, a check of the machinery
rather than of a link) and records nccl-tests' algbw/busbw per size as the ``collective`` property.
The compatibility check holds the largest all-reduce's busbw against the interconnect's published
per-direction peak (collective/link_peaks.py); it skips on CPU and where no peak is known.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pytest

from pytest_ascend_llm.collective.bandwidth import OPS, bus_factor, message_bytes
from pytest_ascend_llm.collective.launcher import default_backend, run_collective
from pytest_ascend_llm.collective.link_peaks import describe_link_peak, link_peak_for
from pytest_ascend_llm.errors import LLMSetupError

pytestmark = pytest.mark.npu

MIB = 1 << 20
ACCELERATOR_SIZES = tuple(MIB << shift for shift in range(0, 11, 2))  # 1, 4, 16, 64, 256, 1024 MiB
CPU_SIZES = (MIB, 4 * MIB, 16 * MIB, 64 * MIB)


@dataclass(frozen=True)
class CollectivePlan:
    """How this run sweeps: ranks, sizes and iteration counts for the device kind."""

    device_kind: str
    world_size: int
    sizes: tuple[int, ...]
    iterations: int
    warmup: int
    timeout_s: float

    @property
    def backend(self) -> str:
        return default_backend(self.device_kind)


def plan_for(device_kind: str, device_count: int) -> CollectivePlan:
    """Every visible accelerator (what tensor parallelism would span); two CPU ranks, kept short."""
    if device_kind == "cpu":
        return CollectivePlan("cpu", 2, CPU_SIZES, iterations=3, warmup=1, timeout_s=120)
    return CollectivePlan(device_kind, device_count, ACCELERATOR_SIZES, iterations=20, warmup=5, timeout_s=900)


def _one_line(action):
    """A setup problem (a rank that fails, a timeout, a bad setting) fails the test in one line."""
    try:
        return action()
    except LLMSetupError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="module")
def collective_plan(llm_device) -> CollectivePlan:
    count = llm_device.count() if llm_device.is_accelerator else 1
    if llm_device.is_accelerator and count < 2:
        pytest.skip(f"collectives need at least 2 {llm_device.kind} devices; {count} visible")
    return plan_for(llm_device.kind, count)


@pytest.fixture(scope="module")
def collective_sweep(collective_plan):
    """``sweep(op)``: that op's results, measured once per module however many tests ask."""
    done: dict[str, list] = {}

    def sweep(op: str) -> list:
        if op not in done:
            plan = collective_plan
            done[op] = _one_line(
                lambda: run_collective(
                    plan.world_size,
                    plan.backend,
                    plan.device_kind,
                    plan.sizes,
                    plan.iterations,
                    plan.timeout_s,
                    warmup=plan.warmup,
                    ops=(op,),
                )
            )
        return done[op]

    return sweep


@pytest.mark.parametrize("op", OPS)
def test_collective_bandwidth(collective_plan, collective_sweep, record_property, op):
    plan = collective_plan
    results = collective_sweep(op)
    record_property("collective", [result.to_dict() for result in results])
    assert [r.message_bytes for r in results] == [message_bytes(op, size, plan.world_size) for size in plan.sizes]
    for result in results:
        assert (result.op, result.world_size) == (op, plan.world_size)
        assert (result.backend, result.device_kind) == (plan.backend, plan.device_kind)
        assert len(result.seconds) == plan.iterations and min(result.seconds) > 0
        assert result.median_s == statistics.median(result.seconds)
        assert result.algbw_gbs == result.message_bytes / result.median_s / 1e9
        assert result.busbw_gbs == result.algbw_gbs * bus_factor(op, plan.world_size)


def test_collective_all_reduce_reaches_link_peak(
    llm_device, llm_session, collective_plan, collective_sweep, record_property
):
    if not llm_device.is_accelerator:
        pytest.skip("collective link peak: on CPU gloo runs over loopback, there is no interconnect to compare with")
    name, ranks = llm_device.name(), collective_plan.world_size
    peak = link_peak_for(name)
    peak_gbs = peak.busbw_peak_gbs(ranks) if peak is not None else None
    if peak is None or peak_gbs is None:
        pytest.skip(describe_link_peak(name, ranks))
    fraction = llm_session.settings.collective_min_fraction  # --llm-collective-min-fraction
    largest = max(collective_sweep("all_reduce"), key=lambda result: result.message_bytes)
    record_property(
        "collective_link_peak",
        {"device": name, "link": peak.name, "peak_gbs": peak_gbs, "busbw_gbs": largest.busbw_gbs, "min": fraction},
    )
    assert largest.busbw_gbs >= fraction * peak_gbs, (
        f"{largest.describe()} is below {fraction:g} of {peak.describe(ranks)}"
    )
