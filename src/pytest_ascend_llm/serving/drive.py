"""One process's share of a load run: its streams on one event loop, every request's due time, and the
client's own health (CPU, event-loop lag) measured beside the requests.

A request is due at its scheduled time under a rate, at its turn under a concurrency: the moment a
stream came free (the previous request's last byte), or the run's start for a stream's first
request. A closed loop starts on one warm connection per stream, opened before the start. Free
streams are a FIFO of the times they came free, so a request waiting for one is due when the stream
freed, not when the client got round to it: a late client shows as client wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.records import RequestRecord
from pytest_ascend_llm.serving.wire import ClientPool, encoded, open_connections, stream_request

LAG_TICK_S = 0.01  # the event-loop lag probe's period: a timer this often, and how late it fired


@dataclass(frozen=True)
class Share:
    """A worker's part of a run: (index, prompt, params, offset) in send order, and its streams (None:
    no concurrency limit, every request at its offset)."""

    endpoint: Endpoint
    items: Sequence[tuple[int, object, object, float]]
    streams: int | None
    worker: int = 0


@dataclass
class WorkerFigures:
    """What one client process used: CPU seconds over its wall seconds, and how late its timers fired."""

    worker: int
    cpu_s: float = 0.0
    wall_s: float = 0.0
    lag_s: list[float] = field(default_factory=list)

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second: 1.0 is one core fully used."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


async def _watch_lag(figures: WorkerFigures, stop: asyncio.Event) -> None:
    """Sleep LAG_TICK_S at a time and record how late each wake-up came: a loop busy with other
    callbacks, or a process starved of CPU, fires late, and so does every stamp it takes."""
    while not stop.is_set():
        asked = time.perf_counter() + LAG_TICK_S
        await asyncio.sleep(LAG_TICK_S)
        figures.lag_s.append(max(0.0, time.perf_counter() - asked))


async def drive_share(
    share: Share, armed: Callable[[], float], done: Callable[[RequestRecord], None] | None = None
) -> tuple[float, list[RequestRecord], WorkerFigures]:
    """Open the client, call ``armed()`` for the start (an absolute perf_counter time, the same in every
    worker), then send the share's requests from it: (start, records in the share's order, figures)."""
    figures = WorkerFigures(share.worker)
    records: list[RequestRecord | None] = [None] * len(share.items)
    bodies = [encoded(prompt, params, share.endpoint.model) for _, prompt, params, _ in share.items]
    async with ClientPool(share.endpoint) as pool:
        if share.streams:
            await open_connections(pool, min(share.streams, len(share.items)))
        start = armed()
        free: asyncio.Queue[float] | None = None
        if share.streams:
            free = asyncio.Queue()
            for _ in range(share.streams):
                free.put_nowait(start)
        stop = asyncio.Event()
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        watcher = asyncio.ensure_future(_watch_lag(figures, stop))

        async def one(position: int, index: int, prompt, params, offset: float) -> None:
            scheduled = start + offset
            wait = scheduled - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            due = scheduled if free is None else max(scheduled, await free.get())
            record = await stream_request(pool, index, prompt, params, start, due, bodies[position])
            if free is not None:
                free.put_nowait(time.perf_counter())
            records[position] = record
            if done is not None:
                done(record)

        await asyncio.gather(*(one(position, *item) for position, item in enumerate(share.items)))
        stop.set()
        await watcher
        figures.cpu_s = time.process_time() - cpu_before
        figures.wall_s = time.perf_counter() - wall_before
    return start, [record for record in records if record is not None], figures
