"""Fixtures for the project's own tests: the core used from Python, without the plugin's fixtures."""

import os

import pytest

from pytest_ascend_llm.models.builtin import cache_root
from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings

# pytester points HOME at a temporary folder; keep the inner sessions on the one built-in model cache.
os.environ.setdefault("PYTEST_ASCEND_LLM_CACHE", str(cache_root()))


@pytest.fixture(scope="session")
def cpu_session():
    """The built-in model on CPU through the library API (what a user without pytest would do)."""
    with LLMSession(Settings.from_values({"device": "cpu"})) as session:
        yield session


@pytest.fixture(scope="session")
def engine(cpu_session):
    return cpu_session.engine
