"""A load generator for OpenAI-compatible servers: a fixed number of concurrent streams, or Poisson
arrivals at a request rate (optionally capped by a concurrency), as vLLM's ``bench serve`` and SGLang's
``bench_serving`` drive them.

One event loop drives every stream. Arrivals are scheduled at absolute times from one seeded
exponential sequence, so two runs send the same requests at the same offsets; each chunk is
timestamped on arrival (``client.py``). Every request ends as a record, completed, failed (with the
reason) or timed out: the run's statistics use the completed ones and say how many were not.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_ascend_llm.serving.client import ClientShards, Endpoint, stream_request
from pytest_ascend_llm.serving.records import COMPLETED, RequestRecord

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

    def describe(self) -> str:
        parts = []
        if self.rate is not None:
            parts.append(f"rate {self.rate:g} req/s (Poisson)")
        if self.concurrency is not None:
            parts.append(f"concurrency {self.concurrency}")
        return ", ".join(parts) or "all requests at once"

    def arrivals(self, count: int) -> list[float]:
        """Send offsets (seconds from the start): zeros without a rate, else cumulative exponential gaps."""
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


async def _drive(
    endpoint: Endpoint, requests: Sequence[LoadRequest], shape: LoadShape, progress: Progress | None
) -> LoadRun:
    offsets = shape.arrivals(len(requests))
    limit = asyncio.Semaphore(shape.concurrency) if shape.concurrency else None
    records: list[RequestRecord | None] = [None] * len(requests)
    done = 0
    async with ClientShards(endpoint, shape.concurrency or len(requests)) as clients:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        start_loop = loop.time()  # read second: no send can be stamped before its offset from ``start``

        async def one(index: int, request: LoadRequest) -> None:
            nonlocal done
            delay = start_loop + offsets[index] - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            client = clients.pick(index)
            if limit is not None:
                async with limit:
                    records[index] = await stream_request(
                        client, endpoint, index, request.prompt, request.params, start
                    )
            else:
                records[index] = await stream_request(client, endpoint, index, request.prompt, request.params, start)
            done += 1
            if progress is not None:
                progress(done, len(requests), time.perf_counter() - start)

        await asyncio.gather(*(one(i, request) for i, request in enumerate(requests)))
        duration = time.perf_counter() - start
    return LoadRun(shape, [record for record in records if record is not None], duration)


def run_load(
    endpoint: Endpoint, requests: Sequence[LoadRequest], shape: LoadShape, progress: Progress | None = None
) -> LoadRun:
    """Send every request as ``shape`` says and wait for all; usable from plain Python (no pytest)."""
    return asyncio.run(_drive(endpoint, requests, shape, progress))


async def gather_requests(endpoint: Endpoint, requests: Sequence[LoadRequest]) -> list[RequestRecord]:
    """All requests at once on one pooled client: what an engine's batch ``generate`` means for a server."""
    async with ClientShards(endpoint, len(requests)) as clients:
        start = time.perf_counter()
        sends = [
            stream_request(clients.pick(i), endpoint, i, r.prompt, r.params, start) for i, r in enumerate(requests)
        ]
        return list(await asyncio.gather(*sends))
