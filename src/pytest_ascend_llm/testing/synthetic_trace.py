"""A small, seeded trace in the Mooncake format, for tests and the shipped example: a few groups whose
requests share a system prompt's blocks, some conversations that continue an earlier turn, and new blocks
per request, with hash ids numbered consecutively from 0 as Mooncake's traces number them.

    python -m pytest_ascend_llm.testing.synthetic_trace OUT.jsonl [REQUESTS] [SPAN_MS]
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path


def synthetic_trace(
    requests: int = 20,
    groups: int = 3,
    system_blocks: int = 2,
    span_ms: int = 400,
    block: int = 512,
    output: tuple[int, int] = (4, 8),
    seed: int = 0,
) -> list[dict]:
    """``requests`` trace lines over about ``span_ms`` ms; a third of them continue their group's last turn."""
    rng = random.Random(seed)
    next_id = 0

    def fresh(count: int) -> list[int]:
        nonlocal next_id
        next_id += count
        return list(range(next_id - count, next_id))

    systems = [fresh(system_blocks) for _ in range(groups)]
    last: dict[int, list[int]] = {}
    stamps = sorted(round(rng.uniform(0, span_ms)) for _ in range(requests - 1))
    lines = []
    for stamp in [0, *stamps]:
        group = rng.randrange(groups)
        continues = group in last and rng.random() < 1 / 3
        start = last[group][:-1] if continues else systems[group]  # the earlier turn's whole blocks
        ids = start + fresh(rng.randint(1, 3))
        length = (len(ids) - 1) * block + rng.randint(1, block)
        lines.append(
            {"timestamp": stamp, "input_length": length, "output_length": rng.randint(*output), "hash_ids": ids}
        )
        last[group] = ids
    return lines


def write_trace(path: str | Path, lines: list[dict]) -> Path:
    """One JSON object per line, as Mooncake ships its traces."""
    path = Path(path)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


if __name__ == "__main__":
    out, *sizes = sys.argv[1:]
    numbers = dict(zip(("requests", "span_ms"), map(int, sizes)))
    write_trace(out, synthetic_trace(**numbers))
