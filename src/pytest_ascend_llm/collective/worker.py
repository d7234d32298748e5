"""One rank of the collective sweep, run as its own process (one per device) by the launcher.

``python -m pytest_ascend_llm.collective.worker --rank R --world-size N --port P --backend B
--device-kind K --sizes BYTES... --out FILE``. Every rank joins ``tcp://127.0.0.1:P``; per op and size it
checks the result once, warms up, then times iterations that start together (a barrier) and end when
the device is idle (synchronize; nothing on CPU). Rank 0 writes the results as JSON to ``--out``. On
any error the last stderr line is ``rank R: <Type>: <message>``: the launcher shows that one line.
torch (and torch_npu) are imported inside ``main`` only: this file is started as a script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pytest_ascend_llm.collective.bandwidth import OPS, CollectiveResult, message_bytes

INIT_TIMEOUT_S = 300  # rendezvous and each collective: a rank whose peer is gone errors out, never hangs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pytest_ascend_llm.collective.worker", description=__doc__)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend", required=True, help="gloo (cpu), nccl (cuda) or hccl (npu)")
    parser.add_argument("--device-kind", choices=("cpu", "cuda", "npu"), required=True)
    parser.add_argument("--sizes", type=int, nargs="+", required=True, help="message sizes S in bytes")
    parser.add_argument("--ops", nargs="+", choices=OPS, default=list(OPS))
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", required=True, help="JSON results file (rank 0 writes it)")
    return parser.parse_args(argv)


def _bind_device(kind: str, rank: int) -> tuple[Any, Callable[[], None]]:
    """This rank's device and its synchronize: rank r drives visible device r. torch comes through
    torch_backend, so a half-installed torch_npu cannot break a CPU or CUDA run."""
    from pytest_ascend_llm.torch_backend import torch

    if kind == "npu":
        import torch_npu  # noqa: F401  registers torch.npu and the "hccl" process-group backend

        torch.npu.set_device(rank)
        return torch.device("npu", rank), torch.npu.synchronize
    if kind == "cuda":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank), torch.cuda.synchronize
    return torch.device("cpu"), lambda: None  # gloo on CPU returns only when the op is done


def _gather_api(device: Any) -> tuple[str, Callable | None]:
    """The single-tensor all-gather this torch and backend support, or the list form (None).

    torch ≥ 2.13 names it all_gather_single (all_gather_into_tensor is deprecated there); older gloo
    builds lack it and raise on a local check before any traffic, on every rank alike."""
    import torch
    import torch.distributed as dist

    for name in ("all_gather_single", "all_gather_into_tensor"):
        call = getattr(dist, name, None)
        if call is None:
            continue
        n = dist.get_world_size()
        try:
            call(torch.empty(n, device=device), torch.zeros(1, device=device))
        except (RuntimeError, NotImplementedError, ValueError):
            continue
        return name, call
    return "all_gather", None


def _operation(op: str, size: int, device: Any, gather: tuple[str, Callable | None]) -> tuple[Callable[[], None], str]:
    """A closure running ``op`` on preallocated buffers of S = ``size`` bytes, and the API name."""
    import torch
    import torch.distributed as dist

    n = dist.get_world_size()
    if op == "all_reduce":
        buffer = torch.zeros(size // 4, dtype=torch.float32, device=device)
        return (lambda: dist.all_reduce(buffer)), "all_reduce"
    shard = torch.zeros(size // 4 // n, dtype=torch.float32, device=device)
    name, single = gather
    if single is not None:
        output = torch.empty(shard.numel() * n, dtype=torch.float32, device=device)
        return (lambda: single(output, shard)), name
    parts = [torch.empty_like(shard) for _ in range(n)]
    return (lambda: dist.all_gather(parts, shard)), name


def _check(op: str, size: int, device: Any, gather: tuple[str, Callable | None], rank: int) -> None:
    """Run ``op`` once on known values: a link that returns garbage fails here, not as a fast number."""
    import torch
    import torch.distributed as dist

    n = dist.get_world_size()
    if op == "all_reduce":
        data = torch.full((size // 4,), float(rank + 1), device=device)
        dist.all_reduce(data)
        good = bool(torch.all(data == n * (n + 1) / 2))
    else:
        shard = torch.full((size // 4 // n,), float(rank + 1), device=device)
        _, single = gather
        if single is not None:
            output = torch.empty(shard.numel() * n, device=device)
            single(output, shard)
        else:
            parts = [torch.empty_like(shard) for _ in range(n)]
            dist.all_gather(parts, shard)
            output = torch.cat(parts)
        expected = torch.arange(1, n + 1, dtype=torch.float32, device=device).repeat_interleave(shard.numel())
        good = bool(torch.equal(output, expected))
    if not good:
        raise RuntimeError(f"{op} of {size} bytes returned wrong values on rank {rank}")


def _timed(call: Callable[[], None], sync: Callable[[], None], barrier: Callable[[], None], iterations: int) -> list:
    times = []
    for _ in range(iterations):
        barrier()
        sync()
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return times


def sweep(args: argparse.Namespace) -> list[CollectiveResult]:
    """Every op at every size on this rank; the results (slowest rank per iteration) on every rank."""
    device, sync = _bind_device(args.device_kind, args.rank)
    import torch.distributed as dist

    dist.init_process_group(
        args.backend,
        init_method=f"tcp://127.0.0.1:{args.port}",
        rank=args.rank,
        world_size=args.world_size,
        timeout=timedelta(seconds=INIT_TIMEOUT_S),
    )
    try:
        nccl = args.backend == "nccl"
        barrier = (lambda: dist.barrier(device_ids=[args.rank])) if nccl else dist.barrier
        gather = _gather_api(device) if "all_gather" in args.ops else ("all_gather", None)
        results = []
        for op in args.ops:
            for requested in args.sizes:
                size = message_bytes(op, requested, args.world_size)
                _check(op, size, device, gather, args.rank)
                call, api = _operation(op, size, device, gather)
                for _ in range(args.warmup):
                    call()
                sync()
                mine = _timed(call, sync, barrier, args.iterations)
                every = [None] * args.world_size
                dist.all_gather_object(every, mine)
                slowest = [max(times[i] for times in every) for i in range(args.iterations)]
                results.append(
                    CollectiveResult.from_times(op, args.world_size, size, slowest, args.backend, args.device_kind, api)
                )
        return results
    finally:
        dist.destroy_process_group()


def write_results(path: str, results: list[CollectiveResult]) -> None:
    """Write atomically: the launcher never reads half a file."""
    partial = f"{path}.partial"
    with open(partial, "w") as handle:
        json.dump({"results": [r.to_dict() for r in results]}, handle)
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = sweep(args)
        if args.rank == 0:
            write_results(args.out, results)
        return 0
    except BaseException as error:  # Ctrl-C too: the launcher reads the last line
        traceback.print_exc()
        line = " ".join(f"rank {args.rank}: {type(error).__name__}: {error}".split())
        print(line, file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
