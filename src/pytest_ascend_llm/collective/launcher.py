"""Start one collective worker per device, wait with a deadline, and never leave a process behind.

Workers run in their own session (process group), so a terminal's Ctrl-C reaches only this process,
which then kills them. Whatever ends the wait (success, a rank that fails, the deadline, Ctrl-C, any
exception) the whole tree goes: every worker and its descendants found with psutil, then each
worker's process group, which also catches a grandchild orphaned by a worker that already died.
A failure becomes one LLMSetupError line naming the failing rank and its last stderr line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from pytest_ascend_llm.collective.bandwidth import OPS, CollectiveResult
from pytest_ascend_llm.errors import LLMSetupError

BACKENDS = {"cpu": "gloo", "cuda": "nccl", "npu": "hccl"}
POLL_S = 0.05
GRACE_S = 5.0
LINE_CHARS = 300
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding pytest_ascend_llm


def default_backend(device_kind: str) -> str:
    """gloo on CPU, nccl on CUDA, hccl (torch_npu) on Ascend."""
    if device_kind not in BACKENDS:
        raise LLMSetupError(f"unknown device kind {device_kind!r} for collectives: use one of {', '.join(BACKENDS)}")
    return BACKENDS[device_kind]


def default_world_size(device_kind: str) -> int:
    """Every visible device on an accelerator (tensor parallelism spans them all); 2 ranks on CPU."""
    if device_kind == "cpu":
        return 2
    from pytest_ascend_llm.torch_backend import torch

    if device_kind == "npu":
        from pytest_ascend_llm.devices.npu import visible_npu_count

        return visible_npu_count()
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def free_port() -> int:
    """A TCP port free on the loopback interface now (rank 0's store binds it moments later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Sweep:
    """What every rank runs: the same flags but --rank."""

    world_size: int
    backend: str
    device_kind: str
    sizes: tuple[int, ...]
    ops: tuple[str, ...]
    iterations: int
    warmup: int

    def describe(self) -> str:
        return f"collective {'/'.join(self.ops)} over {self.world_size} {self.device_kind} rank(s) with {self.backend}"


def _worker_argv(rank: int, port: int, out: Path, sweep: Sweep) -> list[str]:
    argv = [sys.executable, "-m", "pytest_ascend_llm.collective.worker"]
    flags = {
        "--rank": rank,
        "--world-size": sweep.world_size,
        "--port": port,
        "--backend": sweep.backend,
        "--device-kind": sweep.device_kind,
        "--sizes": sweep.sizes,
        "--ops": sweep.ops,
        "--iterations": sweep.iterations,
        "--warmup": sweep.warmup,
        "--out": out,
    }
    for flag, value in flags.items():
        argv += [flag, *(map(str, value) if isinstance(value, tuple) else [str(value)])]
    return argv


def _worker_env(device_kind: str) -> dict[str, str]:
    """The package importable in the child however this process found it; one thread per CPU rank so
    two ranks do not fight over the same cores."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    if device_kind == "cpu":
        env.setdefault("OMP_NUM_THREADS", "1")
    return env


def last_line(log: Path) -> str:
    """The last non-empty line of a worker's output, whitespace collapsed, capped: one line for an error."""
    try:
        lines = [" ".join(line.split()) for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    line = lines[-1] if lines else "(no output)"
    return line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…"


def exit_code(process: subprocess.Popen) -> int | None:
    """The worker's exit code, or None while it runs, *without reaping it*: an unreaped worker keeps its
    pid, so its process group id cannot be handed to an unrelated process before ``kill_workers``."""
    if process.returncode is not None or not hasattr(os, "waitid"):
        return process.poll()
    try:
        state = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return process.poll()
    if state is None:
        return None
    return state.si_status if state.si_code == os.CLD_EXITED else -state.si_status


def _running(member: psutil.Process) -> bool:
    """Still running: a zombie (dead, waiting for a parent that may never reap it) counts as gone."""
    try:
        return member.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal(live: Sequence[subprocess.Popen], family: Sequence[psutil.Process], number: int) -> None:
    for process in live:
        try:
            os.kill(process.pid, number)  # not Popen.send_signal: that reaps an exited worker first
        except ProcessLookupError:
            pass
    for member in family:
        try:
            member.send_signal(number)  # psutil refuses a pid that was reused meanwhile
        except psutil.NoSuchProcess:
            pass


def kill_workers(processes: Sequence[subprocess.Popen], grace: float = GRACE_S) -> None:
    """SIGTERM every worker and descendant, SIGKILL what outlives ``grace``, then SIGKILL each worker's
    process group (orphaned grandchildren), and only then reap the workers: until that last step every
    worker is unreaped, so no pid or group id signalled here can belong to anyone else."""
    live = [process for process in processes if process.returncode is None]
    family: list[psutil.Process] = []
    for process in live:
        try:
            family += psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    _signal(live, family, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (
        any(exit_code(process) is None for process in live) or any(_running(member) for member in family)
    ):
        time.sleep(POLL_S)
    _signal([process for process in live if exit_code(process) is None], family, signal.SIGKILL)
    for process in live:  # each worker leads its own group (start_new_session)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for process in processes:
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass


def _wait(processes: Sequence[subprocess.Popen], logs: Sequence[Path], deadline: float, what: str) -> None:
    """Return once every rank exited 0; raise one line at the first failing rank or at the deadline."""
    while True:
        codes = [exit_code(process) for process in processes]
        for rank, code in enumerate(codes):
            if code not in (None, 0):
                raise LLMSetupError(f"{what} failed: rank {rank} exited with code {code}: {last_line(logs[rank])}")
        if all(code == 0 for code in codes):
            return
        if time.monotonic() >= deadline:
            rank = next(rank for rank, code in enumerate(codes) if code is None)
            raise LLMSetupError(
                f"{what} did not finish in time: killed all ranks; rank {rank} last printed: {last_line(logs[rank])}"
            )
        time.sleep(POLL_S)


def _start(argv: list[str], sink, env: dict[str, str]) -> subprocess.Popen:
    """Its own session: the terminal's Ctrl-C does not reach it, and its group can be killed whole."""
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _read_results(path: Path, what: str) -> list[CollectiveResult]:
    try:
        return [CollectiveResult.from_dict(row) for row in json.loads(path.read_text())["results"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise LLMSetupError(f"{what}: rank 0 exited cleanly but its results file is unusable ({error})") from None


def run_collective(
    world_size: int | None = None,
    backend: str | None = None,
    device_kind: str = "cpu",
    sizes: Sequence[int] = (1 << 20,),
    iterations: int = 5,
    timeout: float = 300.0,
    *,
    warmup: int = 2,
    ops: Sequence[str] = OPS,
) -> list[CollectiveResult]:
    """Sweep ``ops`` × ``sizes`` over ``world_size`` ranks (default: every visible device; 2 on CPU).

    Results come in (op, size) order. Raises LLMSetupError (one line) when a rank fails, when the
    sweep outlives ``timeout`` seconds, or when fewer than 2 ranks are available."""
    backend = backend or default_backend(device_kind)
    world_size = default_world_size(device_kind) if world_size is None else world_size
    sweep = Sweep(world_size, backend, device_kind, tuple(sizes), tuple(ops), iterations, warmup)
    what = sweep.describe()
    if world_size < 2:
        raise LLMSetupError(f"{what}: a collective needs at least 2 ranks ({world_size} {device_kind} visible)")
    port = free_port()
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="ascend-llm-collective-") as folder:
        out = Path(folder) / "results.json"
        logs = [Path(folder) / f"rank{rank}.log" for rank in range(world_size)]
        env = _worker_env(device_kind)
        try:
            for rank, log in enumerate(logs):
                with log.open("wb") as sink:
                    argv = _worker_argv(rank, port, out, sweep)
                    processes.append(_start(argv, sink, env))
            _wait(processes, logs, time.monotonic() + timeout, what)
            return _read_results(out, what)
        finally:
            kill_workers(processes)
