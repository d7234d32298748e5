"""The one seam to pytest-benchmark's internals: every private attribute this plugin touches is here.

pytest-benchmark offers hooks for machine_info and comparisons, but not for handing it round times it
did not take, for knowing whether it switched itself off, or for reading the compared runs; those go
through the attributes below. Each was read from pytest-benchmark 5.3.1 (``fixture.py``, ``session.py``,
``plugin.py``); ``missing_internals()`` names any that a newer release removed, and the project's
tests call it, so such a release breaks one test with the attribute's name, not a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import PurePath

import pytest

GENERIC_WARNING = "Benchmark machine_info is different"  # session.py, BenchmarkSession.handle_loading


def benchmark_session(config: pytest.Config):
    """``config._benchmarksession``: the BenchmarkSession (plugin.py, pytest_configure); None without
    pytest-benchmark."""
    return getattr(config, "_benchmarksession", None)


def benchmarking_off(config: pytest.Config) -> bool:
    """``BenchmarkSession.disabled``: True under --benchmark-disable, and in xdist runs, where
    pytest-benchmark switches itself off (session.py, BenchmarkSession.__init__)."""
    session = benchmark_session(config)
    return bool(getattr(session, "disabled", False))


def can_take_rounds(benchmark) -> bool:
    """``BenchmarkFixture._make_stats`` (fixture.py): the seam that lets us hand over rounds we timed."""
    return hasattr(benchmark, "_make_stats")


def take_rounds(benchmark, seconds: Iterable[float], mode: str) -> None:
    """Hand pytest-benchmark round times we measured, as one-iteration rounds, so its table, saved JSON
    and --benchmark-compare see them like its own (``_make_stats(iterations)`` then ``stats.update``)."""
    stats = benchmark._make_stats(1)
    for value in seconds:
        stats.update(value)
    mark_used(benchmark, mode)


def mark_used(benchmark, mode: str) -> None:
    """``BenchmarkFixture._mode`` (fixture.py): set, the fixture counts as used, so pytest-benchmark
    does not warn that it was requested but not used."""
    benchmark._mode = mode


def pedantic_rounds(benchmark) -> list[float]:
    """``benchmark.stats.stats.data`` (Metadata → Stats, stats.py): the rounds ``pedantic`` just timed."""
    return benchmark.stats.stats.data


def compared_cases(config: pytest.Config, key: str = "llm") -> dict[str, dict]:
    """``BenchmarkSession.compared_mapping`` (session.py, handle_loading): fullname → the compared run's
    ``extra_info[key]``: the metrics this plugin saved with each case ("llm"), or its outputs
    ("llm_outputs"). Loaded at session start, so a test can compare itself while it runs."""
    mapping = getattr(benchmark_session(config), "compared_mapping", None) or {}
    return {
        fullname: bench.get("extra_info", {}).get(key, {})
        for benches in mapping.values()
        for fullname, bench in benches.items()
    }


def runs_without(config: pytest.Config, key: str = "llm") -> list[str]:
    """The compared runs (file names, from ``BenchmarkSession.compared_mapping``) in which no case carries
    ``extra_info[key]``: saved by pytest-benchmark without this plugin, so there is nothing to gate on."""
    mapping = getattr(benchmark_session(config), "compared_mapping", None) or {}
    return [
        PurePath(str(path)).name
        for path, benches in mapping.items()
        if not any(bench.get("extra_info", {}).get(key) for bench in benches.values())
    ]


def narrow_table(config: pytest.Config, columns: list[str]) -> None:
    """``BenchmarkSession.columns`` (session.py): pytest-benchmark's table columns, unless the user
    chose them with --benchmark-columns."""
    session = benchmark_session(config)
    if session is not None and not config.getoption("benchmark_columns", None):
        session.columns = columns


@contextmanager
def without_generic_warning(benchmarksession) -> Iterator[None]:
    """``BenchmarkSession.logger.warning`` (logger.py): pytest-benchmark warns with two whole
    machine_info dumps when they differ; while this is active that one warning is dropped.

    Building that warning's text reads ``storage.location`` (plugin.py, its compare_machine_info hook),
    which raises ValueError for a --benchmark-storage outside the current folder (``Path.relative_to``);
    since the warning is dropped anyway, that error is dropped with it."""
    logger = benchmarksession.logger
    original = logger.warning

    def warning(text, *args, **kwargs):
        if not str(text).startswith(GENERIC_WARNING):
            original(text, *args, **kwargs)

    logger.warning = warning
    try:
        yield
    except ValueError as error:
        if "is not in the subpath of" not in str(error):
            raise
    finally:
        logger.warning = original


def missing_internals() -> list[str]:
    """The internals above that the installed pytest-benchmark lacks (empty when all are there)."""
    from pytest_benchmark.fixture import BenchmarkFixture
    from pytest_benchmark.logger import Logger
    from pytest_benchmark.session import BenchmarkSession
    from pytest_benchmark.stats import Metadata, Stats

    needed = {
        "BenchmarkFixture._make_stats": callable(getattr(BenchmarkFixture, "_make_stats", None)),
        "BenchmarkFixture.pedantic": callable(getattr(BenchmarkFixture, "pedantic", None)),
        "Metadata.stats / Stats.data": "stats" in _assigned(Metadata) and "data" in _assigned(Stats),
        "BenchmarkSession.disabled / columns / compared_mapping / logger": all(
            name in _assigned(BenchmarkSession) for name in ("disabled", "columns", "compared_mapping", "logger")
        ),
        "Logger.warning": callable(getattr(Logger, "warning", None)),
        "BenchmarkFixture._mode": "_mode" in _assigned(BenchmarkFixture),
    }
    return [name for name, present in needed.items() if not present]


def _assigned(cls: type) -> set[str]:
    """Attribute names the class's methods assign on ``self`` (instance attributes have no other record)."""
    import inspect
    import re

    return set(re.findall(r"self\.(\w+)\s*=", inspect.getsource(cls)))
