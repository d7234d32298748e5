"""The memory monitor around a model test's call phase, as the body of a hook wrapper.

Imported only once a model test runs, so loading the plugin imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from pytest_ascend_llm.devices.monitor import MemoryMonitor
from pytest_ascend_llm.errors import is_out_of_memory, out_of_memory_line
from pytest_ascend_llm.plugin.state import TIMELINE_KEY

if TYPE_CHECKING:
    from pytest_ascend_llm.session import LLMSession


TIMELINE_POINTS = 200


def timeline_points(timeline) -> list[list[float]]:
    """At most TIMELINE_POINTS [seconds, allocated, reserved, host RSS] rows, evenly thinned, peak kept."""
    step = max(1, -(-len(timeline) // TIMELINE_POINTS))
    kept = timeline[::step]
    if timeline:
        peak = max(timeline, key=lambda sample: sample.allocated)
        if peak not in kept:
            kept = sorted([*kept, peak], key=lambda sample: sample.seconds)
    return [[s.seconds, s.allocated, s.reserved, s.host_rss] for s in kept]


def monitored_call(item: pytest.Item, llm: LLMSession) -> Generator[None, object, object]:
    """Run the test under a MemoryMonitor; attach the peak to its JUnit properties and benchmark case.
    Out of memory fails the test in one line; what it measured before is kept."""
    monitor = MemoryMonitor(llm.device)
    oom_line = None
    try:
        with monitor:
            return (yield)
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        oom_line = out_of_memory_line(llm.device, monitor.report, error)
    finally:
        summary = monitor.report.summary()
        item.user_properties.append(("memory", summary))
        item.stash[TIMELINE_KEY] = timeline_points(monitor.report.timeline)
        bench = getattr(item, "funcargs", {}).get("llm_bench")
        if bench is not None and llm.device.kind != "server":  # a server's memory is not readable from here
            bench.annotate(peak_memory_bytes=summary["peak_allocated_bytes"])
    pytest.fail(oom_line, pytrace=False)
