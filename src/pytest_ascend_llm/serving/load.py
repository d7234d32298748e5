"""A load generator for OpenAI-compatible servers: a fixed number of concurrent streams, or Poisson
arrivals at a request rate (optionally capped by a concurrency), as vLLM's ``bench serve`` and SGLang's
``bench_serving`` drive them.

The streams are divided among client worker processes (``workers.py``), each with its own event loop,
on one time base. Arrivals are scheduled at absolute times from one seeded exponential sequence, so
two runs send the same requests at the same offsets; each read is timestamped on arrival (``wire.py``),
and every time counts from the request's due time (``drive.py``). Every request ends as a record,
completed, failed (with the reason) or timed out: the run's statistics use the completed ones and say how many were not.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.drive import Share, WorkerFigures, drive_share
from pytest_ascend_llm.serving.records import COMPLETED, RequestRecord
from pytest_ascend_llm.serving.wire import ClientPool, stream_request

Progress = Callable[[int, int, float], None]  # (requests done, total, seconds elapsed)


@dataclass(frozen=True)
class LoadRequest:
    """One request of a workload: its prompt (text, token ids or chat messages) and sampling."""

    prompt: object
    params: object


@dataclass(frozen=True)
class LoadShape:
    """How requests arrive: ``concurrency`` streams at most (None: unbounded) and ``rate`` requests per
    second with Poisson arrivals (None: all at once, so the concurrency alone sets the pace)."""

    concurrency: int | None = None
    rate: float | None = None
    seed: int = 0
    offsets: tuple[float, ...] | None = None  # explicit send offsets (a replayed trace), used before ``rate``
    label: str | None = None  # how ``describe`` names explicit offsets ("trace mooncake.jsonl at 2x")

    def describe(self) -> str:
        parts = []
        if self.offsets is not None:
            parts.append(self.label or f"{len(self.offsets)} scheduled arrivals")
        elif self.rate is not None:
            parts.append(f"rate {self.rate:g} req/s (Poisson)")
        if self.concurrency is not None:
            parts.append(f"concurrency {self.concurrency}")
        return ", ".join(parts) or "all requests at once"

    def arrivals(self, count: int) -> list[float]:
        """Send offsets (seconds from the start): the explicit ones, zeros without a rate, else cumulative
        exponential gaps."""
        if self.offsets is not None:
            if len(self.offsets) != count:
                raise ValueError(f"{len(self.offsets)} scheduled arrivals for {count} requests")
            return list(self.offsets)
        if self.rate is None:
            return [0.0] * count
        rng = random.Random(self.seed)
        offsets, now = [], 0.0
        for _ in range(count):
            offsets.append(now)
            now += rng.expovariate(self.rate)
        return offsets


@dataclass
class LoadRun:
    """Every request's record and the run's wall time (from before the first send to after the last end)."""

    shape: LoadShape
    records: list[RequestRecord]
    duration: float
    failures: Counter = field(default_factory=Counter)
    client: object = None  # ClientHealth: the client's own CPU, loop lag and waits (None: not measured)
    start: float = 0.0  # the run's start on time.perf_counter (CLOCK_MONOTONIC): records count from it

    @property
    def completed(self) -> list[RequestRecord]:
        return [record for record in self.records if record.status == COMPLETED]

    def counts(self) -> dict[str, int]:
        """completed / failed / timed out, all present (zeros included) so reports can rely on them."""
        counted = Counter(record.status for record in self.records)
        return {status: counted.get(status, 0) for status in (COMPLETED, "failed", "timed out")}

    def failure_summary(self) -> str:
        """'3 failed, 1 timed out: 3× cannot connect to …; 1× no answer …' or '' when all completed."""
        counts = self.counts()
        if counts[COMPLETED] == len(self.records):
            return ""
        head = ", ".join(f"{n} {status}" for status, n in counts.items() if status != COMPLETED and n)
        reasons = Counter(record.error for record in self.records if record.status != COMPLETED)
        return f"{head} of {len(self.records)}: " + "; ".join(f"{n}× {why}" for why, n in reasons.most_common(3))


def usable_cores() -> int:
    """Cores this process may run on (its affinity, as a container or taskset sets it)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def split(endpoint: Endpoint, requests: Sequence[LoadRequest], shape: LoadShape, workers: int) -> list[Share]:
    """The run divided among ``workers`` processes: stream s goes to worker s mod n, request i to the
    stream i mod C (C concurrent streams), or round-robin when there is no concurrency limit."""
    offsets = shape.arrivals(len(requests))
    streams = shape.concurrency
    count = max(1, min(workers, streams or len(requests), len(requests) or 1))
    items: list[list[tuple[int, object, object, float]]] = [[] for _ in range(count)]
    for index, (request, offset) in enumerate(zip(requests, offsets)):
        worker = (index % streams) % count if streams else index % count
        items[worker].append((index, request.prompt, request.params, offset))
    per_worker = [None] * count if not streams else [streams // count + (w < streams % count) for w in range(count)]
    return [Share(endpoint, items[w], per_worker[w], w) for w in range(count)]


def run_load(
    endpoint: Endpoint,
    requests: Sequence[LoadRequest],
    shape: LoadShape,
    progress: Progress | None = None,
    workers: int | None = None,
) -> LoadRun:
    """Send every request as ``shape`` says and wait for all; usable from plain Python (no pytest).

    ``workers`` client processes share the streams (default: one per usable core; 1 runs in this
    process). Every figure comes from the merged records, on one time base."""
    from pytest_ascend_llm.serving.client_health import ClientHealth

    size = workers or usable_cores()
    shares = split(endpoint, requests, shape, size)
    began = time.perf_counter()
    report = None if progress is None else (lambda done: progress(done, len(requests), time.perf_counter() - began))
    if size == 1:
        start, records, figures = _in_process(shares[0], report)
    else:
        start, records, figures = _in_workers(size, shares, report)
    duration = time.perf_counter() - start
    records.sort(key=lambda record: record.index)
    if report is not None:
        report(len(records))
    return LoadRun(shape, records, duration, client=ClientHealth(figures, len(shares)), start=start)


def _in_process(share: Share, report) -> tuple[float, list[RequestRecord], list[WorkerFigures]]:
    import asyncio

    finished = [0]

    def done(record: RequestRecord) -> None:
        finished[0] += 1
        if report is not None:
            report(finished[0])

    start, records, figures = asyncio.run(drive_share(share, time.perf_counter, done))
    return start, records, [figures]


def _in_workers(size: int, shares: Sequence[Share], report) -> tuple[float, list[RequestRecord], list[WorkerFigures]]:
    from pytest_ascend_llm.serving import workers

    pool = workers.pool_of(size)
    try:
        return pool.run(shares, report)
    except BaseException:  # Ctrl-C or a broken pipe: the workers' state is unknown, start afresh next time
        workers.discard()
        raise


async def gather_requests(endpoint: Endpoint, requests: Sequence[LoadRequest]) -> list[RequestRecord]:
    """All requests at once on one pooled client: what an engine's batch ``generate`` means for a server."""
    async with ClientPool(endpoint) as pool:
        start = time.perf_counter()
        sends = [stream_request(pool, i, r.prompt, r.params, start) for i, r in enumerate(requests)]
        return list(await asyncio.gather(*sends))
