"""Known-good torch / torch_npu / CANN / Python combinations, from torch_npu's own version table.

Why: a torch_npu built for another torch either fails to import or loads with silently missing kernels, and a CANN
other than the one a torch_npu release was built against can change which operators run on the card; either way a
benchmark measures the wrong thing. The table below is the one Ascend publishes, kept as data so that a new release is
one row, not new logic.

Source: the version mapping of github.com/Ascend/pytorch. Its README ("Supported PyTorch Versions") now points to
``COMPATIBILITY.en.md`` for the matrix of released packages; both read at master 9e73e708 on 2026-12-02:
https://github.com/Ascend/pytorch/blob/master/COMPATIBILITY.en.md ("TorchNPU version mapping table", active and
historical rows, and "PyTorch and Python versions"). Rows are in the table's order (newest release train first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from pytest_ascend_llm.doctor.findings import Finding

TABLE_URL = "https://github.com/Ascend/pytorch/blob/master/COMPATIBILITY.en.md"
README_URL = "https://github.com/Ascend/pytorch/blob/master/README.md"
TABLE_READ = "2026-12-02 (Ascend/pytorch master 9e73e708)"

# (torch_npu package version, torch version, CANN version), as printed in the table.
RELEASES: tuple[tuple[str, str, str], ...] = (
    ("2.12.0", "2.12.0", "9.1.0"),
    ("2.11.0", "2.11.0", "9.1.0"),
    ("2.10.0.post4", "2.10.0", "9.1.0"),
    ("2.9.0.post6", "2.9.0", "9.1.0"),
    ("2.7.1.post8", "2.7.1", "9.1.0"),
    ("2.9.0.post2", "2.9.0", "9.0.0"),
    ("2.8.0.post4", "2.8.0", "9.0.0"),
    ("2.7.1.post4", "2.7.1", "9.0.0"),
    ("2.9.0", "2.9.0", "8.5.0"),
    ("2.8.0.post2", "2.8.0", "8.5.0"),
    ("2.7.1.post2", "2.7.1", "8.5.0"),
    ("2.6.0.post5", "2.6.0", "8.5.0"),
    ("2.8.0", "2.8.0", "8.3.RC1"),
    ("2.7.1", "2.7.1", "8.3.RC1"),
    ("2.6.0.post3", "2.6.0", "8.3.RC1"),
    ("2.1.0.post17", "2.1.0", "8.3.RC1"),
    ("2.6.0", "2.6.0", "8.2.RC1"),
    ("2.5.1.post1", "2.5.1", "8.2.RC1"),
    ("2.1.0.post13", "2.1.0", "8.2.RC1"),
    ("2.5.1", "2.5.1", "8.1.RC1"),
    ("2.4.0.post4", "2.4.0", "8.1.RC1"),
    ("2.3.1.post6", "2.3.1", "8.1.RC1"),
    ("2.1.0.post12", "2.1.0", "8.1.RC1"),
    ("2.4.0.post2", "2.4.0", "8.0.0"),
    ("2.3.1.post4", "2.3.1", "8.0.0"),
    ("2.1.0.post10", "2.1.0", "8.0.0"),
    # Historical (EOL) rows.
    ("2.4.0", "2.4.0", "8.0.RC3"),
    ("2.3.1.post2", "2.3.1", "8.0.RC3"),
    ("2.1.0.post8", "2.1.0", "8.0.RC3"),
    ("2.3.1", "2.3.1", "8.0.RC2"),
    ("2.2.0.post2", "2.2.0", "8.0.RC2"),
    ("2.1.0.post6", "2.1.0", "8.0.RC2"),
    ("1.11.0.post14", "1.11.0", "8.0.RC2"),
    ("2.2.0", "2.2.0", "8.0.RC1"),
    ("2.1.0.post4", "2.1.0", "8.0.RC1"),
    ("1.11.0.post11", "1.11.0", "8.0.RC1"),
    ("2.1.0", "2.1.0", "7.0.0"),
    ("2.0.1.post1", "2.0.1", "7.0.0"),
    ("1.11.0.post8", "1.11.0", "7.0.0"),
    ("2.1.0.rc1", "2.1.0", "7.0.RC1"),
    ("2.0.1", "2.0.1", "7.0.RC1"),
    ("1.11.0.post4", "1.11.0", "7.0.RC1"),
    ("1.11.0.post3", "1.11.0", "6.3.RC3.1"),
    ("1.11.0.post2", "1.11.0", "6.3.RC3"),
    ("2.0.1.rc1", "2.0.1", "6.3.RC2"),
    ("1.11.0.post1", "1.11.0", "6.3.RC2"),
    ("1.11.0", "1.11.0", "6.3.RC1"),
)

# torch version -> the Python minor versions the table lists for it.
PYTHONS: dict[str, tuple[str, ...]] = {
    "2.13.0": ("3.10", "3.11", "3.12", "3.13", "3.14"),
    "2.12.0": ("3.10", "3.11", "3.12", "3.13", "3.14"),
    "2.11.0": ("3.10", "3.11", "3.12", "3.13", "3.14"),
    "2.10.0": ("3.10", "3.11", "3.12", "3.13"),
    "2.9.0": ("3.10", "3.11", "3.12", "3.13"),
    "2.8.0": ("3.9", "3.10", "3.11", "3.12", "3.13"),
    "2.7.1": ("3.9", "3.10", "3.11", "3.12", "3.13"),
    "2.6.0": ("3.9", "3.10", "3.11"),
    "2.5.1": ("3.9", "3.10", "3.11"),
    "2.4.0": ("3.8", "3.9", "3.10", "3.11"),
    "2.3.1": ("3.8", "3.9", "3.10", "3.11"),
    "2.2.0": ("3.8", "3.9", "3.10"),
    "2.1.0": ("3.8", "3.9", "3.10", "3.11"),
    "1.11.0": ("3.7", "3.8", "3.9", "3.10"),
}

TOPIC = "stack"


@dataclass(frozen=True)
class Release:
    torch_npu: Version
    label: str
    torch: str
    cann: str


def _version(text: str) -> Version | None:
    """PEP 440 parse of a package version, '+local' dropped: ``2.5.1.post2``, ``2.5.1+cpu``, ``2.6.0a0+git1234``."""
    try:
        version = Version(text.strip().split("(")[0].strip())
    except InvalidVersion:
        return None
    return Version(version.public)


def release_of(text: str | None) -> str | None:
    """``major.minor.micro`` of a torch or torch_npu version: '2.5.1+cpu' and '2.5.1.post2' give '2.5.1'."""
    version = _version(text) if text else None
    if version is None:
        return None
    return ".".join(str(part) for part in (*version.release, 0, 0)[:3])


def normalise_cann(text: str | None) -> str | None:
    """'CANN 8.0.rc3', '8.0.RC3.alpha003' give '8.0.RC3'; '9.1' and '9.1.0.1' give '9.1.0'; '6.3.RC3.1' stays."""
    if not text:
        return None
    parts = re.sub(r"(?i)^\s*cann\s*", "", text).strip().upper().split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    third = parts[2] if len(parts) > 2 else "0"
    if third.isdigit():
        return ".".join((parts[0], parts[1], third))
    if not re.fullmatch(r"RC\d+", third):
        return ".".join(parts[:2]) + ".0"
    hotfix = parts[3] if len(parts) > 3 and parts[3].isdigit() else None
    return ".".join((parts[0], parts[1], third, *([hotfix] if hotfix else [])))


def _python_minor(text: str | None) -> str | None:
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return f"{match[1]}.{match[2]}" if match else None


def releases() -> list[Release]:
    return [Release(v, label, torch, cann) for label, torch, cann in RELEASES if (v := _version(label)) is not None]


def _newest_for_torch(torch_release: str) -> str | None:
    """The newest torch_npu the table lists for a torch version (the table lists newest trains first)."""
    matching = [release for release in releases() if release.torch == torch_release]
    return str(max(matching, key=lambda release: release.torch_npu).label) if matching else None


def _for_cann(cann: str) -> list[str]:
    return [release.label for release in releases() if normalise_cann(release.cann) == cann]


def _torch_line(torch_npu: str, release: Release | None, base: str, torch: str, torch_base: str) -> list[Finding]:
    wanted = release.torch if release is not None else base
    if torch_base == wanted:
        return []
    alternative = _newest_for_torch(torch_base)
    hint = f" (or pip install torch-npu=={alternative}, the release for torch {torch_base})" if alternative else ""
    message = f"torch_npu {torch_npu} pairs with torch {wanted}, found torch {torch}: pip install torch=={wanted}{hint}"
    return [Finding("error", TOPIC, message, TABLE_URL)]


def _cann_line(torch_npu: str, release: Release, cann: str | None) -> list[Finding]:
    wanted = normalise_cann(release.cann)
    found = normalise_cann(cann)
    if cann is None:
        return [Finding("info", TOPIC, f"CANN version not found: CANN {wanted} (torch_npu {torch_npu}'s) not checked",
                        TABLE_URL)]  # fmt: skip
    if found == wanted:
        return []
    others = _for_cann(found) if found else []
    hint = f", or a torch_npu released for CANN {found}: {', '.join(others)}" if others else ""
    message = f"torch_npu {torch_npu} was released for CANN {wanted}, found CANN {cann}: install CANN {wanted}{hint}"
    return [Finding("warn", TOPIC, message, TABLE_URL)]


def _python_line(torch_base: str, python: str | None) -> list[Finding]:
    minor = _python_minor(python)
    supported = PYTHONS.get(torch_base)
    if minor is None or supported is None or minor in supported:
        return []
    message = (
        f"torch {torch_base} is built for Python {', '.join(supported)}, found Python {python}: "
        f"use Python {supported[-1]}"
    )
    return [Finding("warn", TOPIC, message, TABLE_URL)]


def check_stack(torch: str | None, torch_npu: str | None, cann: str | None, python: str | None) -> list[Finding]:
    """One finding per mismatch with torch_npu's table, each saying what to install; one "ok" line when none.

    Levels: a torch that does not pair with torch_npu is "error" (the caller decides whether it blocks: it does on
    an NPU host); a CANN or Python outside the row is "warn"; nothing to check, or a torch_npu the table does not
    list (newer than it, or an unlisted build), is one "info" line.
    """
    if not torch_npu:
        return [Finding("info", TOPIC, "no torch_npu installed: no torch/torch_npu/CANN combination to check", None)]
    npu_version = _version(torch_npu)
    base = release_of(torch_npu)
    if npu_version is None or base is None:
        return [Finding("info", TOPIC, f"torch_npu version {torch_npu!r} not understood: not checked", TABLE_URL)]
    if not torch:
        return [Finding("info", TOPIC, f"torch_npu {torch_npu} without an importable torch: not checked", TABLE_URL)]
    known = releases()
    newest = max(known, key=lambda release: release.torch_npu)
    if npu_version > newest.torch_npu and base not in {release_of(r.label) for r in known}:
        message = f"torch_npu {torch_npu} is newer than the version table read {TABLE_READ} (newest {newest.label})"
        return [Finding("info", TOPIC, message + ": not checked", TABLE_URL)]
    row = next((release for release in known if release.torch_npu == npu_version), None)
    line = [release for release in known if release_of(release.label) == base]
    if row is None and not line:
        message = f"torch_npu {torch_npu} is not in the version table read {TABLE_READ}: not checked"
        return [Finding("info", TOPIC, message, TABLE_URL)]
    torch_base = release_of(torch) or torch
    findings = _torch_line(torch_npu, row, base, torch, torch_base)
    if row is not None:
        findings += _cann_line(torch_npu, row, cann)
    else:
        listed = ", ".join(release.label for release in line)
        message = f"torch_npu {torch_npu} is not a row of the table (the {base} line lists {listed}): CANN not checked"
        findings.append(Finding("info", TOPIC, message, TABLE_URL))
    findings += _python_line(torch_base, python)
    if not findings:
        cann_text = f", CANN {cann}" if cann else ""
        message = f"torch_npu {torch_npu}, torch {torch}{cann_text}, Python {python or '?'}: a row of torch_npu's table"
        findings.append(Finding("ok", TOPIC, message, TABLE_URL))
    return findings
