"""The command line, and what the server and its launcher agree on: the module run, the host, and the
line that announces the address."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

HOST = "127.0.0.1"
MODULE = "pytest_ascend_llm.testing.fake_server"
LISTENING_PREFIX = "listening on "


@dataclass(frozen=True)
class Options:
    """What the command line sets: the timing, the model's identity, the faults to inject and what the
    fake model says (flips, logprob jitter, arithmetic answers)."""

    port: int = 0
    model_name: str = "fake-model"
    max_model_len: int = 4096
    ttft: float = 0.0
    itl: float = 0.0
    chunk_tokens: int = 1
    fail_after_chunks: int | None = None
    status: int | None = None
    never_healthy: bool = False
    startup_delay: float = 0.0
    hang: bool = False
    logprob_jitter: float = 0.0
    logprob_seed: int = 0
    flip_after: int | None = None
    answer_accuracy: float | None = None
    leak_mib_per_request: float = 0.0
    cache_prompts: int = 1000
    sent_times: bool = True
    max_running: int | None = None


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    return parse


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1, got {text}")
    return value


def _error_status(text: str) -> int:
    value = int(text)
    if not 400 <= value <= 599:
        raise argparse.ArgumentTypeError(f"must be an error status (400-599), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="OpenAI-compatible test server with exactly scheduled chunks and injectable faults.",
    )
    parser.add_argument("--port", type=_int_at_least(0), default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--model-name", default="fake-model", help="model id served by /v1/models")
    parser.add_argument("--max-model-len", type=_int_at_least(1), default=4096, help="context length")
    parser.add_argument("--ttft", type=_non_negative_float, default=0.0, help="seconds from arrival to chunk 0")
    parser.add_argument("--itl", type=_non_negative_float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunk-tokens", type=_int_at_least(1), default=1, help="tokens per streamed chunk")
    parser.add_argument(
        "--fail-after-chunks",
        type=_int_at_least(0),
        default=None,
        help="streams close the connection after N chunks, without [DONE]",
    )
    parser.add_argument("--status", type=_error_status, default=None, help="generation requests answer this status")
    parser.add_argument("--never-healthy", action="store_true", help="/health answers 503 forever")
    parser.add_argument("--startup-delay", type=_non_negative_float, default=0.0, help="listen only after this")
    parser.add_argument("--hang", action="store_true", help="never answer generation requests")
    parser.add_argument(
        "--logprob-jitter",
        type=_non_negative_float,
        default=0.0,
        help="move every logprob by a seeded amount within ±X (the ranking holds for X < 0.5)",
    )
    parser.add_argument("--logprob-seed", type=int, default=0, help="the draw --logprob-jitter uses")
    parser.add_argument(
        "--flip-after",
        type=_int_at_least(0),
        default=None,
        help="swap the output token at position N (0-based: after N unchanged ones) with its runner-up",
    )
    parser.add_argument(
        "--answer-accuracy",
        type=_fraction,
        default=None,
        help="answer a prompt's last 'What is <integer expression>?' with 'The answer is N.', right for this "
        "fraction of distinct prompts (a hash of the prompt decides) and N + 1 otherwise",
    )
    parser.add_argument(
        "--leak-mib-per-request",
        type=_non_negative_float,
        default=0.0,
        help="hold (and touch) this many MiB more for every generation request, never freed: a leak for soak tests",
    )
    parser.add_argument(
        "--cache-prompts",
        type=_int_at_least(0),
        default=1000,
        help="prompts the simulated prefix cache remembers (its memory grows until it holds this many)",
    )
    parser.add_argument(
        "--no-sent-times",
        dest="sent_times",
        action="store_false",
        help="keep no chunk send times for /x_sent_times (they grow with every request): a steady server for soaks",
    )
    parser.add_argument(
        "--max-running",
        type=_int_at_least(1),
        default=None,
        help="serve at most N generation requests at once and queue the rest in arrival order, as a scheduler's "
        "running batch does: the wait counts in their time to first token",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> Options:
    args = build_parser().parse_args(argv)
    return Options(**vars(args))
