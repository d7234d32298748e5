"""The report's opening word on host noise: a run whose cases were contended, ran on a busy host or
scattered says so in a sentence at the top, with how many cases were flagged (``benchmarking/noise.py``
writes the notes), instead of leaving a reader to notice "load 4.49" in the environment table."""

from __future__ import annotations

from collections import Counter
from typing import Any

Record = dict[str, Any]
KINDS = {
    "contended": "preempted by another process (contended)",
    "busy host": "at a load above the usable cores (busy host)",
    "unstable": "with scattered rounds (unstable)",
}


def _kinds(notes: list[str]) -> set[str]:
    return {kind for kind in KINDS for note in notes if str(note).startswith(kind)}


def busy_start(sessions: list[Record]) -> str:
    """'the 1-minute load was 4.49 on 2 usable cores when it started' where the load exceeded the cores."""
    env = sessions[0].get("environment", {}) if sessions else {}
    load, cores = env.get("load_average_1m"), env.get("usable_cores")
    if isinstance(load, int | float) and isinstance(cores, int) and load > cores:
        return f"the 1-minute load was {load:g} on {cores} usable cores when it started"
    return ""


def noise_lines(sessions: list[Record], tests: list[Record]) -> list[str]:
    """One paragraph, or nothing for a quiet run."""
    cases = [t for t in tests if t.get("metrics")]
    flagged = [t for t in cases if t["metrics"].get("noise")]
    start = busy_start(sessions)
    if not flagged and not start:
        return []
    counts = Counter(kind for t in flagged for kind in _kinds(t["metrics"]["noise"]))
    if counts["contended"] or counts["busy host"]:
        head = "**This run was contended**"
    else:
        head = "**The host was busy**" if start else "**Some cases were noisy**"
    what = ", ".join(f"{counts[kind]} {KINDS[kind]}" for kind in KINDS if counts[kind])
    cases_part = f"{len(flagged)} of {len(cases)} cases were flagged" + (f": {what}" if what else "")
    parts = [part for part in (start, cases_part if flagged else "") if part]
    return [
        f"{head}: {'; '.join(parts)}. The numbers are kept (see each case's host noise); rerun on an idle host "
        "before trusting or comparing them.",
        "",
    ]
