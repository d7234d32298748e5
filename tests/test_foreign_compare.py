"""--benchmark-compare against a run plain pytest-benchmark saved: the gate says once why nothing compares.

Real runs: a plain ``benchmark`` test saved without any llm case, then a shipped-suite case on the built-in
model compared with it under a gate rule."""

from __future__ import annotations

import pytest

SUITE = ("--pyargs", "pytest_ascend_llm.suite", "--llm-device", "cpu", "-p", "no:cacheprovider")
FOREIGN = "ascend-llm: the compared run (0001_plain.json) carries no ascend-llm data (it was saved without this *"


def test_a_run_saved_without_this_plugin_is_named_once_with_what_to_do(pytester: pytest.Pytester) -> None:
    storage = f"--benchmark-storage=file://{pytester.path / 'runs'}"
    pytester.makepyfile(plain="def test_sum(benchmark):\n    benchmark(sum, range(100))\n")
    saved = pytester.runpytest("plain.py", "-p", "no:cacheprovider", storage, "--benchmark-save=plain")
    saved.assert_outcomes(passed=1)
    compared = pytester.runpytest(
        *SUITE, "-k", "prefill and ctx128", storage, "--benchmark-compare=0001", "--llm-compare-fail", "p50:10%"
    )
    compared.assert_outcomes(passed=1, deselected=compared.parseoutcomes()["deselected"])
    rows = ["test_perf_prefill[[]ctx128]", "  p50:10% * not compared"]
    compared.stdout.fnmatch_lines([*rows, FOREIGN + "save a baseline*"])
    assert sum(line.startswith("ascend-llm: the compared run") for line in compared.outlines) == 1
