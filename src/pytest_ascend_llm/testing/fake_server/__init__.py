"""An OpenAI-compatible test server whose timing is exactly controlled.

A load generator's clock cannot be checked against a real engine, whose timing varies from run to run.
This server sends chunk ``i`` of every stream at the absolute deadline ``arrival + ttft + i * itl``,
so what a client measures can be compared with what was scheduled. It also fails on demand (streams
cut mid-way, error statuses, a health check that never passes, a late start, requests never answered)
to test how clients handle failures.

What it says is deterministic too (``outputs``, ``answers``): ``t0 t1 …``, with per-token logprobs in
vLLM's formats when a request asks (completions' ``logprobs: k``, chat's ``logprobs``/``top_logprobs``,
``return_tokens_as_token_ids``), the same for the same prompt every time. For drift tests,
``--logprob-jitter X`` (seeded by ``--logprob-seed``) moves the logprobs and ``--flip-after N`` changes the
output token at position N. For accuracy tests, ``--answer-accuracy F`` answers a prompt's last
``What is <integer expression>?`` with ``The answer is N.``, right for a hash-chosen fraction F of
distinct prompts and N + 1 for the rest. For soak tests, ``--leak-mib-per-request N`` holds (and
touches) N MiB more for every request, and ``--cache-prompts 0 --no-sent-times`` keep nothing per request.
For saturation tests, ``--max-running N`` serves at most N generation requests at once and queues the
rest in arrival order; a queued request's schedule starts when it gets its slot, so its wait is in its TTFT.

Only asyncio and the standard library, with a minimal HTTP/1.1: at 256 concurrent streams the server's
own overhead must stay far below the timings it simulates.

    python -m pytest_ascend_llm.testing.fake_server --port 0 --ttft 0.5 --itl 0.02 --chunk-tokens 2

From Python (tests, benchmarks)::

    with start_fake_server("--ttft", "0.1") as server:
        urllib.request.urlopen(server.url + "/health")
"""

from pytest_ascend_llm.testing.fake_server.process import FakeServer, start_fake_server
from pytest_ascend_llm.testing.fake_server.tokens import (
    PrefixCache,
    chunk_bounds,
    chunk_deadline,
    output_text,
    token_id,
)

__all__ = [
    "FakeServer",
    "PrefixCache",
    "chunk_bounds",
    "chunk_deadline",
    "output_text",
    "start_fake_server",
    "token_id",
]
