"""The one seam to pytest-benchmark's internals: every private attribute the plugin uses is still there
in the installed release, and a release without one is named, not met as an AttributeError mid-run."""

from __future__ import annotations

import inspect

import pytest_benchmark.fixture
import pytest_benchmark.session

from pytest_ascend_llm.plugin.benchmark_adapter import missing_internals


def test_every_pytest_benchmark_internal_the_plugin_uses_is_present():
    assert missing_internals() == [], "pytest-benchmark changed: update plugin/benchmark_adapter.py"


def test_a_release_without_the_stats_seam_is_named(monkeypatch):
    monkeypatch.delattr(pytest_benchmark.fixture.BenchmarkFixture, "_make_stats")
    assert missing_internals() == ["BenchmarkFixture._make_stats"]


def test_a_release_that_renames_a_session_attribute_is_named(monkeypatch):
    """A BenchmarkSession whose source no longer assigns ``compared_mapping`` (as if it were renamed)."""
    real = inspect.getsource
    renamed = real(pytest_benchmark.session.BenchmarkSession).replace("self.compared_mapping", "self.compared_runs")
    session_class = pytest_benchmark.session.BenchmarkSession
    monkeypatch.setattr(inspect, "getsource", lambda cls: renamed if cls is session_class else real(cls))
    assert missing_internals() == ["BenchmarkSession.disabled / columns / compared_mapping / logger"]
