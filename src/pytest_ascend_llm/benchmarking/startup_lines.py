"""The start-up figures as lines (the terminal's block and the report), from a case's saved metrics, so
they read the same from this process, an xdist worker's record or a results file rebuilt after a crash."""

from __future__ import annotations

from collections.abc import Mapping

from pytest_ascend_llm.benchmarking.startup import NO_VERDICT

BASIS = (
    "first request against the P50 of the case's timed rounds; TTFT/E2E from the engine's own token times; "
    "load s = tokenizer and weights to the device (in a fresh process with the model code's first import), "
    "GB/s = weights' bytes on the device / load s; one start per run: saved and held by --llm-floors, "
    "the warm rounds gated as any case"
)
# Saved single-shot figures compared before → now: key, label, unit ("s" or "x").
COMPARED = (
    ("load_s", "load", "s"),
    ("load_gbps", "load GB/s", ""),
    ("compile_s", "compile", "s"),
    ("launch_to_healthy_s", "launch → healthy", "s"),
    ("healthy_to_first_token_s", "healthy → first token", "s"),
    ("first_ttft_s", "first TTFT", "s"),
    ("first_e2e_s", "first E2E", "s"),
    ("first_over_warm_ttft", "first/warm TTFT", "x"),
)


def seconds(value: float) -> str:
    """'1.23 s' from a second on, '15.2 ms' below."""
    return f"{value:.2f} s" if value >= 1 else f"{value * 1e3:.3g} ms"


def _shown(value: object, unit: str) -> str:
    if not isinstance(value, int | float):
        return "-"
    if unit == "s":
        return seconds(value)
    return f"{value:.2f}×" if unit == "x" else f"{value:.3g}"


def _parts(m: Mapping[str, object]) -> list[str]:
    parts = []
    if isinstance(m.get("load_s"), int | float):
        parts.append(f"load {seconds(m['load_s'])}, {_shown(m.get('load_gbps'), '')} GB/s")
    if isinstance(m.get("compile_s"), int | float):
        parts.append(f"compile {seconds(m['compile_s'])} ({m.get('compile_backend') or '?'}: the first compiled call)")
    if isinstance(m.get("launch_to_healthy_s"), int | float):
        parts.append(f"launch → healthy {seconds(m['launch_to_healthy_s'])}")
    if isinstance(m.get("healthy_to_first_token_s"), int | float):
        parts.append(
            f"healthy → first token {seconds(m['healthy_to_first_token_s'])} "
            f"({_shown(m.get('healthy_to_request_s'), 's')} of it before the first request was sent)"
        )
    parts.append(f"first request TTFT {_shown(m.get('first_ttft_s'), 's')}, E2E {_shown(m.get('first_e2e_s'), 's')}")
    if m.get("warm_n"):
        parts.append(
            f"warm P50 TTFT {_shown(m.get('warm_ttft_p50_s'), 's')}, E2E {_shown(m.get('warm_e2e_p50_s'), 's')} "
            f"(n={m['warm_n']}): first/warm TTFT {_shown(m.get('first_over_warm_ttft'), 'x')}, "
            f"E2E {_shown(m.get('first_over_warm_e2e'), 'x')}"
        )
    return parts + [str(note) for note in m.get("startup_notes") or ()]


def summary_line(metrics: Mapping[str, object]) -> str:
    """'eager: load 0.41 s, 0.52 GB/s; first request TTFT …; warm P50 …: first/warm TTFT 3.2×, E2E 1.4×'."""
    return f"{metrics.get('startup_mode', '?')}: " + "; ".join(_parts(metrics))


def compared_line(before: Mapping[str, object], now: Mapping[str, object]) -> str:
    """The single-shot figures of the compared run and of this one, without a verdict (one sample each)."""
    changes = [
        f"{label} {_shown(before.get(key), unit)} → {_shown(now.get(key), unit)}"
        for key, label, unit in COMPARED
        if key in now or key in before
    ]
    return f"{now.get('startup_mode', '?')} against the compared run ({NO_VERDICT}): " + ", ".join(changes)


def is_startup(metrics: Mapping[str, object] | None) -> bool:
    return bool(metrics) and "startup_mode" in metrics
