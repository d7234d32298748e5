"""Client worker processes: each runs its share of a load run on its own event loop, so one Python
process's CPU (one core, under the GIL) never caps the load a run can drive or time.

Workers are started once (``python -m``: never a fork of a process that may hold torch's threads) and
kept for the session. A run goes in two steps: every worker gets its share and opens its client ("armed"),
then one start time, an absolute ``time.perf_counter`` value, which is CLOCK_MONOTONIC on Linux and so
one time base for every process. Records come back with their timelines from that start and are
merged before any statistic. A worker that dies leaves its requests as failed records naming it, so
every request is still accounted for and what the others measured is kept.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Callable, Sequence

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.serving.drive import Share, WorkerFigures
from pytest_ascend_llm.serving.records import FAILED, RequestRecord

MODULE = "pytest_ascend_llm.serving.workers"
START_LEAD_S = 0.05  # between the last worker armed and the common start
PROGRESS_EVERY_S = 0.25
READY_TIMEOUT_S = 120.0


def _serve(inbox, outbox) -> None:
    """A worker's loop: a share, its start time, back records and figures; until told to stop."""
    import asyncio

    from pytest_ascend_llm.serving.drive import drive_share
    from pytest_ascend_llm.serving.wire import import_wire

    import_wire()  # before "ready": no run waits for the import
    outbox.send(("ready", time.get_clock_info("perf_counter").implementation))
    while True:
        share = inbox.recv()
        if share is None:
            return
        try:
            _, records, figures = asyncio.run(drive_share(share, _armed(inbox, outbox), _reporter(outbox)))
            outbox.send(("done", records, figures))
        except Exception as error:  # the parent marks this share's requests failed with the reason
            outbox.send(("error", f"{type(error).__name__}: {error}"))


def _armed(inbox, outbox) -> Callable[[], float]:
    """Say the client is open, and wait for the run's common start."""

    def armed() -> float:
        outbox.send(("armed",))
        return inbox.recv()

    return armed


def _reporter(outbox) -> Callable[[RequestRecord], None]:
    """Requests done so far, sent to the parent at most every PROGRESS_EVERY_S."""
    state = {"last": 0.0, "done": 0}

    def done(record: RequestRecord) -> None:
        state["done"] += 1
        now = time.perf_counter()
        if now - state["last"] >= PROGRESS_EVERY_S:
            state["last"] = now
            outbox.send(("progress", state["done"]))

    return done


class Worker:
    """One client process (``python -m`` this module, never a fork nor a re-import of the caller's main
    script), spoken to over its stdin and stdout as multiprocessing connections; its stderr goes to a
    file whose last line names why, should it die."""

    def __init__(self, number: int) -> None:
        import subprocess
        import tempfile
        from multiprocessing.connection import Connection

        self.number = number
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [sys.executable, "-m", MODULE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env
        )
        self.outbox = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.inbox = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()

    def death(self) -> str:
        """Why the process ended: its exit code and the last line it wrote to stderr."""
        self.stderr.seek(0)
        lines = [line for line in self.stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
        return f"client worker {self.number} died (exit code {self.process.poll()}){': ' + lines[-1] if lines else ''}"

    def close(self) -> None:
        try:
            self.outbox.send(None)
        except OSError:
            pass
        try:
            self.process.wait(timeout=2)
        except Exception:
            self.process.kill()
        self.inbox.close()
        self.outbox.close()
        self.stderr.close()


class WorkerPool:
    """``size`` client processes, reused by every run of the session."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.workers = [Worker(number) for number in range(size)]
        mine = time.get_clock_info("perf_counter").implementation
        for worker in self.workers:
            if not worker.inbox.poll(READY_TIMEOUT_S):
                self.close()
                raise LLMSetupError(
                    f"a client worker did not start within {READY_TIMEOUT_S:g} s: the host is overloaded"
                )
            try:
                _, theirs = worker.inbox.recv()
            except EOFError:
                reason = worker.death()
                self.close()
                raise LLMSetupError(f"{reason}: run with --llm-client-workers 1") from None
            if theirs != mine:
                self.close()
                raise LLMSetupError(
                    f"client workers' clock ({theirs}) is not this process's ({mine}): use --llm-client-workers 1"
                )

    def alive(self) -> bool:
        return all(worker.process.poll() is None for worker in self.workers)

    def run(
        self, shares: Sequence[Share], on_progress: Callable[[int], None] | None = None
    ) -> tuple[float, list[RequestRecord], list[WorkerFigures]]:
        """(start, records of every share, each worker's figures); shares[i] runs on worker i."""
        from multiprocessing.connection import wait

        used = self.workers[: len(shares)]
        failed: dict[int, str] = {}
        for worker, share in zip(used, shares):
            try:
                worker.outbox.send(share)
            except OSError:  # a worker that died between runs
                failed[worker.number] = worker.death()
        for worker in used:
            if worker.number in failed:
                continue
            try:
                worker.inbox.recv()  # armed
            except EOFError:
                failed[worker.number] = worker.death()
        start = time.perf_counter() + START_LEAD_S
        for worker in used:
            if worker.number not in failed:
                worker.outbox.send(start)
        progress = [0] * len(shares)
        results: dict[int, tuple[list[RequestRecord], WorkerFigures]] = {
            number: (_failed(shares[number], reason), WorkerFigures(number)) for number, reason in failed.items()
        }
        waiting = {worker.inbox: worker for worker in used if worker.number not in failed}
        while waiting:
            for inbox in wait(list(waiting), timeout=PROGRESS_EVERY_S):
                worker = waiting[inbox]
                try:
                    message = inbox.recv()
                except EOFError:
                    message = ("error", worker.death())
                if message[0] == "progress":
                    progress[worker.number] = message[1]
                    continue
                if message[0] == "done":
                    results[worker.number] = (message[1], message[2])
                    progress[worker.number] = len(shares[worker.number].items)
                else:
                    results[worker.number] = (_failed(shares[worker.number], message[1]), WorkerFigures(worker.number))
                del waiting[inbox]
            if on_progress is not None:
                on_progress(sum(progress))
        records = [record for number in sorted(results) for record in results[number][0]]
        return start, records, [results[number][1] for number in sorted(results)]

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


def _failed(share: Share, reason: str) -> list[RequestRecord]:
    return [
        RequestRecord(index, status=FAILED, error=f"client worker {share.worker}: {reason}"[:300])
        for index, *_ in share.items
    ]


_POOL: WorkerPool | None = None


def discard() -> None:
    """Stop the session's workers (after an interrupted run their state is unknown)."""
    global _POOL
    if _POOL is not None:
        pool, _POOL = _POOL, None
        for worker in pool.workers:
            worker.process.kill()
        pool.close()


def pool_of(size: int) -> WorkerPool:
    """The session's pool of ``size`` workers (a new one when the size changes or a worker died)."""
    global _POOL
    if _POOL is not None and (_POOL.size != size or not _POOL.alive()):
        _POOL.close()
        _POOL = None
    if _POOL is None:
        _POOL = WorkerPool(size)
        atexit.register(_POOL.close)
    return _POOL


if __name__ == "__main__":
    from multiprocessing.connection import Connection

    _inbox, _outbox = Connection(os.dup(0), writable=False), Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print goes to stderr, never into the channel
    try:
        _serve(_inbox, _outbox)
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
