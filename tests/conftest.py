"""Fixtures for the project's own tests: the core used from Python, without the plugin's fixtures."""

import pytest

from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings


@pytest.fixture(scope="session")
def cpu_session():
    """The built-in model on CPU through the library API (what a user without pytest would do)."""
    with LLMSession(Settings.from_values({"device": "cpu"})) as session:
        yield session


@pytest.fixture(scope="session")
def engine(cpu_session):
    return cpu_session.engine
