"""Fixtures for the project's own tests: the core used from Python, without the plugin's fixtures."""

import os

import pytest

from pytest_ascend_llm.models.builtin import cache_root
from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings

# pytester points HOME at a temporary folder; keep the inner sessions on the one built-in model cache.
os.environ.setdefault("PYTEST_ASCEND_LLM_CACHE", str(cache_root()))


def pytest_configure(config):
    """Import what model loading and generation import, once, before any in-process pytester run:
    pytester restores sys.modules after each run, and torch cannot register its operator libraries
    twice when a later run imports them again."""
    from pytest_ascend_llm.engines import SamplingParams

    with LLMSession(Settings.from_values({"device": "cpu"})) as session:
        session.engine.generate(["warm up"], SamplingParams(max_new_tokens=2))
        session.engine.generate(["warm up"], SamplingParams(max_new_tokens=2, temperature=1.0))


@pytest.fixture(scope="session")
def cpu_session():
    """The built-in model on CPU through the library API (what a user without pytest would do)."""
    with LLMSession(Settings.from_values({"device": "cpu"})) as session:
        yield session


@pytest.fixture(scope="session")
def engine(cpu_session):
    return cpu_session.engine
