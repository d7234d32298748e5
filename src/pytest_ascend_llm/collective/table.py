"""The collective group's terminal table, nccl-tests' columns: op, size, ranks, time, algbw, busbw.

Rows come from the ``collective`` property each test recorded (the results file's records), so the
terminal shows exactly the figures the file keeps; nothing is recomputed here.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_ascend_llm.collective.bandwidth import CollectiveResult, size_label

COLUMNS = ("op", "size", "ranks", "time (us)", "algbw (GB/s)", "busbw (GB/s)")


def collective_results(records: Iterable[dict]) -> list[CollectiveResult]:
    """Every measured size of every test record that carries the ``collective`` property, in run order."""
    results: list[CollectiveResult] = []
    for record in records:
        properties = record.get("properties") or {}
        results += [CollectiveResult.from_dict(data) for data in properties.get("collective") or ()]
    return results


def _row(result: CollectiveResult) -> tuple[str, ...]:
    return (
        result.op,
        f"{size_label(result.message_bytes)} ({result.message_bytes} B)",
        str(result.world_size),
        f"{result.median_s * 1e6:.1f}",
        f"{result.algbw_gbs:.2f}",
        f"{result.busbw_gbs:.2f}",
    )


def collective_table(results: list[CollectiveResult]) -> list[str]:
    """Header, then one row per op and size; text left-aligned, figures right-aligned."""
    rows = [COLUMNS, *(_row(result) for result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]

    def line(row: tuple[str, ...]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(cells).rstrip()

    return [line(row) for row in rows]


def basis_line(results: list[CollectiveResult]) -> str:
    """Where the figures ran and what they mean, once under the table."""
    where = sorted({f"{r.device_kind}/{r.backend}" for r in results})
    return (
        f"on {', '.join(where)}; time: median of the timed iterations (slowest rank each); "
        "busbw = algbw x 2(n-1)/n for all_reduce, x (n-1)/n for all_gather (nccl-tests' definitions)"
    )
