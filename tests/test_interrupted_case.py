"""Ctrl-C in the middle of an ``llm_bench`` case: no spurious "fixture was not used" warning for the case
the interrupt ended, while pytest-benchmark's warning for a fixture really left unused stays.

Each run is a real pytest subprocess on the built-in model (an interrupt ends an in-process session's
teardown in ways a subprocess does not share)."""

from __future__ import annotations

import pytest

UNUSED = "Benchmark fixture was not used at all"
RUN = ("--llm-device", "cpu", "-p", "no:cacheprovider")


INTERRUPTED = {
    "llm_bench": """
        def test_interrupted(llm_bench):
            def work():
                raise KeyboardInterrupt
            llm_bench(work, tokens=lambda _: 1)
        """,
    "llm_outputs": """
        def test_interrupted(llm_outputs):
            raise KeyboardInterrupt
        """,
}


@pytest.mark.parametrize("fixture", sorted(INTERRUPTED))
def test_a_case_ctrl_c_ended_does_not_warn_its_fixture_was_unused(pytester: pytest.Pytester, fixture: str) -> None:
    pytester.makepyfile(INTERRUPTED[fixture])
    result = pytester.runpytest_subprocess(*RUN)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
    assert UNUSED not in result.stdout.str() + result.stderr.str()


def test_a_fixture_really_left_unused_still_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_plain(benchmark):
            pass

        def test_llm(llm_bench):
            pass
        """
    )
    result = pytester.runpytest_subprocess(*RUN)
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines(["*::test_plain", f"*{UNUSED}*", "*::test_llm", f"*{UNUSED}*"])
