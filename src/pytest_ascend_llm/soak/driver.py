"""The soak's steady load: a closed loop of streams, or Poisson arrivals capped by a concurrency, until a
deadline, with memory read and windows closed on one clock beside it.

One event loop drives it all (``serving.wire``'s streams on one pooled client). Memory readings run in a
worker thread (npu-smi takes a while), at absolute ticks, so a slow reading never delays a request. At
the deadline no new request starts; those in flight finish and count in the last window; Poisson
arrivals still queued behind the concurrency cap then are never sent, and are counted as such (the rate
was more than the server kept up with).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.load import LoadRequest, LoadRun, LoadShape
from pytest_ascend_llm.serving.wire import ClientPool, stream_request
from pytest_ascend_llm.soak.plan import SAMPLES_PER_WINDOW, SoakPlan
from pytest_ascend_llm.soak.probes import Probes
from pytest_ascend_llm.soak.windows import Finished, Sample, Window, make_window

OnWindow = Callable[[Window, SoakPlan], None]
FAILURE_PAUSE_S = 0.1


@dataclass
class SoakRun:
    """Every request as it ended, every memory reading, the windows, and the wall time."""

    plan: SoakPlan
    finished: list[Finished] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    duration: float = 0.0
    not_sent: int = 0  # Poisson arrivals still waiting for a free stream at the deadline

    def load_run(self) -> LoadRun:
        """The soak as a load run (every record, in send order), for the case's percentiles and figures."""
        shape = LoadShape(self.plan.concurrency, self.plan.rate, self.plan.seed)
        records = sorted((f.record for f in self.finished), key=lambda record: record.sent)
        return LoadRun(shape, records, self.duration)


class _Soak:
    def __init__(self, endpoint: Endpoint, requests: Sequence[LoadRequest], plan: SoakPlan, probes: Probes) -> None:
        self.endpoint, self.requests, self.plan, self.probes = endpoint, requests, plan, probes
        self.run = SoakRun(plan)
        self.serial = itertools.count()
        self.start = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.start

    async def send(self, clients: ClientPool) -> None:
        index = next(self.serial)
        request = self.requests[index % len(self.requests)]
        record = await stream_request(clients, index, request.prompt, request.params, self.start)
        self.run.finished.append(Finished(record, self.now()))
        if not record.completed:  # a dead server answers at once: pause rather than spin on failures
            await asyncio.sleep(FAILURE_PAUSE_S)

    async def closed_loop(self, clients: ClientPool) -> None:
        async def stream() -> None:
            while self.now() < self.plan.seconds:
                await self.send(clients)

        await asyncio.gather(*(stream() for _ in range(self.plan.concurrency)))

    async def poisson(self, clients: ClientPool) -> None:
        rng, limit, due = random.Random(self.plan.seed), asyncio.Semaphore(self.plan.concurrency), 0.0
        pending: set[asyncio.Future] = set()  # only those not done: an hour's arrivals are not all kept

        async def arrive() -> None:
            async with limit:
                if self.now() >= self.plan.seconds:
                    self.run.not_sent += 1
                    return
                await self.send(clients)

        while due < self.plan.seconds:
            await asyncio.sleep(max(0.0, due - self.now()))
            arrival = asyncio.ensure_future(arrive())
            pending.add(arrival)
            arrival.add_done_callback(pending.discard)
            due += rng.expovariate(self.plan.rate)
        await asyncio.gather(*pending)

    async def sample(self) -> None:
        loop = asyncio.get_running_loop()
        at, done = self.now(), len(self.run.finished)
        self.run.samples.append(Sample(at, done, await loop.run_in_executor(None, self.probes.read)))

    def close_window(self, index: int, on_window: OnWindow | None, end: float | None = None) -> None:
        width = self.plan.window_s
        window = make_window(
            index, (index - 1) * width, end if end is not None else index * width, self.run.finished, self.run.samples
        )
        self.run.windows.append(window)
        if on_window is not None:
            on_window(window, self.plan)

    async def clock(self, on_window: OnWindow | None) -> None:
        """A reading every ``sample_every`` seconds; every SAMPLES_PER_WINDOW readings close a window
        (all but the last, which closes once the requests in flight have ended)."""
        ticks = self.plan.windows * SAMPLES_PER_WINDOW
        for tick in range(ticks):
            await asyncio.sleep(max(0.0, tick * self.plan.sample_every - self.now()))
            await self.sample()
            if tick and tick % SAMPLES_PER_WINDOW == 0:
                self.close_window(tick // SAMPLES_PER_WINDOW, on_window)

    async def drive(self, on_window: OnWindow | None) -> SoakRun:
        async with ClientPool(self.endpoint) as clients:
            self.start = time.perf_counter()
            load = self.poisson(clients) if self.plan.rate else self.closed_loop(clients)
            await asyncio.gather(load, self.clock(on_window))
            await self.sample()
            self.run.duration = self.now()
        self.close_window(self.plan.windows, on_window, end=self.run.duration)
        return self.run


def run_soak(
    endpoint: Endpoint,
    requests: Sequence[LoadRequest],
    plan: SoakPlan,
    probes: Probes,
    on_window: OnWindow | None = None,
) -> SoakRun:
    """Drive ``requests`` (cycled) at the plan's load for its seconds; ``on_window`` sees each window as
    it closes. Usable from plain Python (no pytest)."""
    return asyncio.run(_Soak(endpoint, requests, plan, probes).drive(on_window))
