"""The installed torch / torch_npu / CANN / Python checked against torch_npu's version table."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.doctor.stack_table import RELEASES, check_stack, normalise_cann, release_of


def _levels(findings) -> list[str]:
    return [finding.level for finding in findings]


def test_a_row_of_the_table_is_one_ok_line():
    findings = check_stack("2.5.1", "2.5.1", "8.1.RC1", "3.10.14")
    assert _levels(findings) == ["ok"] and findings[0].source.startswith("https://github.com/Ascend/pytorch")


def test_post_releases_local_tags_and_cann_spellings_are_normalised():
    assert _levels(check_stack("2.5.1+cpu", "2.5.1.post1", "CANN 8.2.rc1", "3.11")) == ["ok"]
    assert release_of("2.5.1.post2") == release_of("2.5.1+cpu") == release_of("2.5.1") == "2.5.1"
    assert release_of("2.6.0a0+git1234") == "2.6.0" and release_of("2.1") == "2.1.0" and release_of("x") is None
    assert (
        normalise_cann("8.0.RC3") == normalise_cann("8.0.rc3") == normalise_cann("CANN 8.0.RC3.alpha003") == "8.0.RC3"
    )
    assert normalise_cann("9.1") == normalise_cann("9.1.0.1") == "9.1.0" and normalise_cann("6.3.RC3.1") == "6.3.RC3.1"
    assert normalise_cann(None) is None and normalise_cann("unknown") is None


def test_a_torch_that_does_not_pair_is_an_error_saying_what_to_install():
    findings = check_stack("2.6.0", "2.5.1", "8.1.RC1", "3.10")
    assert _levels(findings) == ["error"]
    assert findings[0].message.startswith(
        "torch_npu 2.5.1 pairs with torch 2.5.1, found torch 2.6.0: pip install torch==2.5.1"
    )
    assert "torch-npu==2.6.0.post5" in findings[0].message


def test_a_cann_outside_the_row_is_a_warning_naming_both_ways_out():
    findings = check_stack("2.5.1", "2.5.1", "8.0.0", "3.10")
    assert _levels(findings) == ["warn"]
    assert "released for CANN 8.1.RC1, found CANN 8.0.0: install CANN 8.1.RC1" in findings[0].message
    assert "2.4.0.post2" in findings[0].message


def test_a_python_the_torch_is_not_built_for_is_a_warning():
    findings = check_stack("2.5.1", "2.5.1", "8.1.RC1", "3.12.1")
    assert _levels(findings) == ["warn"] and "found Python 3.12.1" in findings[0].message


def test_several_mismatches_give_one_line_each():
    findings = check_stack("2.6.0", "2.5.1", "8.0.0", "3.13")
    assert _levels(findings) == ["error", "warn", "warn"]


def test_a_torch_npu_newer_than_the_table_is_one_info_line():
    findings = check_stack("2.13.0", "2.13.0", "9.2.0", "3.12")
    assert _levels(findings) == ["info"] and "newer than the version table" in findings[0].message


def test_an_unlisted_build_of_a_known_line_checks_torch_but_not_cann():
    assert _levels(check_stack("2.5.1", "2.5.1.post2", "8.3.RC1", "3.10")) == ["info"]
    findings = check_stack("2.6.0", "2.5.1.post2", "8.3.RC1", "3.10")
    assert _levels(findings) == ["error", "info"] and "pairs with torch 2.5.1" in findings[0].message


def test_an_unknown_older_version_is_not_checked():
    assert _levels(check_stack("2.2.1", "2.2.1", None, "3.10")) == ["info"]


@pytest.mark.parametrize("torch_npu", [None, ""])
def test_no_torch_npu_is_nothing_to_check_said_once(torch_npu):
    findings = check_stack("2.5.1+cpu", torch_npu, None, "3.11")
    assert _levels(findings) == ["info"] and "no torch_npu" in findings[0].message


def test_a_missing_cann_version_is_said_not_guessed():
    findings = check_stack("2.5.1", "2.5.1", None, "3.10")
    assert _levels(findings) == ["info"] and "CANN version not found" in findings[0].message


def test_every_row_of_the_table_checks_clean_against_itself():
    for torch_npu, torch, cann in RELEASES:
        levels = _levels(check_stack(torch, torch_npu, cann, None))
        assert levels == ["ok"], (torch_npu, levels)


class _Stack:
    def __init__(self, **values):
        self.values = values

    def to_dict(self):
        return self.values


@pytest.mark.parametrize(("kind", "blocks"), [("npu", True), ("cpu", False)])
def test_the_doctor_blocks_on_a_torch_mismatch_on_npu_hosts_only(monkeypatch, tmp_path, kind, blocks):
    import pytest_ascend_llm.environment as environment
    from pytest_ascend_llm.doctor.report import diagnose, render

    stack = _Stack(python="3.10.12", torch="2.6.0", torch_npu="2.5.1", cann="8.1.RC1")
    monkeypatch.setattr(environment, "capture_environment", lambda: stack)
    monkeypatch.setenv("PATH", str(tmp_path))  # no npu-smi: the cards are unavailable, not a crash
    diagnosis = diagnose(kind, environ={}, host_root=tmp_path)
    assert [f["level"] for f in diagnosis.to_dict()["stack_checks"]] == ["error"]
    assert (
        any(line.startswith("stack: torch_npu 2.5.1 pairs with torch 2.5.1") for line in diagnosis.blocking) is blocks
    )
    assert "  ERR  stack: torch_npu 2.5.1 pairs with torch 2.5.1, found torch 2.6.0" in "\n".join(render(diagnosis))
    assert len(diagnosis.to_dict()["host_settings"]) == 7
