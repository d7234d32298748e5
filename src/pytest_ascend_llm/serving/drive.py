"""One process's share of a load run: its streams on one event loop, every request's due time, and the
client's own health (CPU, event-loop lag) measured beside the requests.

A request is due at its scheduled time under a rate, at its turn under a concurrency: the moment a
stream came free (the previous request's last byte), or the run's start for a stream's first
request; with both, the later of the two. A closed loop is one task per stream taking the next
request in order, on one warm connection per stream opened before the start; every task exists
before the start, so the first wave is written in one burst of short steps. A request is due when its
stream freed, not when the client got round to it: a late client shows as client wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
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


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection during a run: collect once before, freeze what exists, collect after. A
    collection during a 1,024-request burst paused the loop 1.6-3.4 ms, twice, and every write and
    stamp behind it waited (none with the collector off). A run's own cyclic garbage (a failed
    request's traceback) waits for the run's end; a run is bounded by its requests."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


async def drive_share(
    share: Share, armed: Callable[[], float], done: Callable[[RequestRecord], None] | None = None
) -> tuple[float, list[RequestRecord], WorkerFigures]:
    """Open the client, call ``armed()`` for the start (an absolute perf_counter time, the same in every
    worker), then send the share's requests from it: (start, records in the share's order, figures)."""
    figures = WorkerFigures(share.worker)
    records: list[RequestRecord | None] = [None] * len(share.items)
    async with ClientPool(share.endpoint) as pool:
        bodies = [encoded(pool, prompt, params) for _, prompt, params, _ in share.items]
        if share.streams:
            await open_connections(pool, min(share.streams, len(share.items)))
        start = 0.0  # set by armed() below, before any task takes its first step
        stop = asyncio.Event()
        pending = iter(enumerate(share.items))

        async def send(position: int, index: int, prompt, params, offset: float, free_at: float) -> None:
            scheduled = start + offset
            wait = scheduled - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            due = max(scheduled, free_at or start)
            record = await stream_request(pool, index, prompt, params, start, due, bodies[position])
            records[position] = record
            if done is not None:
                done(record)

        async def stream() -> None:  # a closed loop's stream: the next request as soon as it is free
            free_at = 0.0  # the start, for a stream's first request
            for position, item in pending:
                await send(position, *item, free_at)
                free_at = time.perf_counter()

        # every task exists before the start, so the first wave's writes are not behind their creation;
        # none runs before the ``await`` below, by which time ``start`` is set
        if share.streams:
            tasks = [asyncio.ensure_future(stream()) for _ in range(min(share.streams, len(share.items)))]
        else:
            tasks = [asyncio.ensure_future(send(position, *item, 0.0)) for position, item in pending]
        with collector_paused():
            start = armed()
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            watcher = asyncio.ensure_future(_watch_lag(figures, stop))
            await asyncio.gather(*tasks)
            stop.set()
            await watcher
        figures.cpu_s = time.process_time() - cpu_before
        figures.wall_s = time.perf_counter() - wall_before
    return start, [record for record in records if record is not None], figures
