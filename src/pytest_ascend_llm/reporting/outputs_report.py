"""The report's sections on what the model said and what changed: the compared run's stack against this
one, each prompt's drift verdict, and each question set's accuracy with its paired comparison."""

from __future__ import annotations

from typing import Any

from pytest_ascend_llm.reporting.cells import table

Record = dict[str, Any]


def changes_section(compares: list[Record]) -> list[str]:
    """What differs between the compared run and this one, before any verdict that rests on it."""
    if not compares:
        return []
    changes = compares[-1]["changes"]
    rows = [[change["field"], change["before"], change["now"]] for change in changes.get("changed", [])]
    lines = ["## What changed since the compared run", ""]
    lines += table(["", "compared run", "this run"], rows) if rows else ["Nothing in the recorded stack.", ""]
    same = ", ".join(f"{kept['field']} {kept['value']}" for kept in changes.get("same", []))
    return lines + ([f"Same: {same}.", ""] if same else [])


def outputs_section(tests: list[Record]) -> list[str]:
    """Drift verdicts per prompt and comparison, refusals, and accuracy lines with flipped questions."""
    outputs = [(t["case"].split("::")[-1], t["outputs"]) for t in tests if t.get("outputs")]
    rows = [
        [case, against, d["verdict"], f"{d['largest_difference']:.3g}", _divergence(d)]
        for case, output in outputs
        for against, d in (output.get("drift") or {}).items()
    ]
    lines: list[str] = []
    if rows:
        lines += ["## Outputs against the compared run", ""]
        lines += table(["case", "compared", "verdict", "largest logprob difference", "first divergence"], rows)
    for reason in sorted({o["refused"] for _, o in outputs if o.get("refused")}):
        lines += [f"Outputs not compared: {reason}", ""]
    for case, output in outputs:
        if not output.get("accuracy"):
            continue
        lines += [f"## Accuracy: {case}", "", _accuracy_line(output["accuracy"]), ""]
        if output.get("compiled_accuracy"):
            lines += [f"Compiled: {_accuracy_line(output['compiled_accuracy'])}", ""]
        for against, paired in (output.get("paired") or {}).items():
            lines += [f"{against if ' vs ' in against else 'Against the ' + against}: {paired['line']}", ""]
            for label, key in (("Newly wrong", "newly_wrong"), ("Newly right", "newly_right")):
                if paired[key]:
                    lines += [f"{label}: " + ", ".join(f"`{q}`" for q in paired[key]), ""]
    return lines


def _accuracy_line(accuracy: Record) -> str:
    """The line the terminal prints too, rebuilt from the saved verdicts (one formatter for both)."""
    from pytest_ascend_llm.evaluation.scoring import Accuracy

    return Accuracy.from_dict(accuracy).line()


def _divergence(drift: Record) -> str:
    if drift.get("position") is None:
        return "-"
    margin = drift.get("saved_margin")
    shown = "-" if margin is None else f"{margin:.3g}"
    return f"token {drift['position']}: {drift['saved_token']!r} → {drift['now_token']!r} (saved margin {shown})"
