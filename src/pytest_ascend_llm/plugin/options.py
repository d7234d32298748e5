"""The ``--llm-*`` options, ini keys and variables, made from the settings' one spec per option."""

from __future__ import annotations

import pytest

from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.settings import OPTIONS, Settings, collect_values


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("ascend-llm", "LLM deployment checks (pytest-ascend-llm)")
    for spec in OPTIONS:
        text = f"{spec.help} [env {spec.env}, ini {spec.ini}]"
        escaped = text.replace("%", "%%")  # argparse formats help with %
        dest = f"llm_{spec.name}"
        if spec.flag:
            group.addoption(spec.cli, action="store_true", default=False, dest=dest, help=escaped)
            parser.addini(spec.ini, spec.help, type="bool", default=False)
        elif spec.repeatable:
            group.addoption(spec.cli, action="append", default=[], dest=dest, metavar=spec.metavar, help=escaped)
            parser.addini(spec.ini, spec.help, default=None)
        else:
            group.addoption(spec.cli, default=None, dest=dest, metavar=spec.metavar, help=escaped)
            parser.addini(spec.ini, spec.help, default=None)


def settings_from(config: pytest.Config) -> Settings:
    """Every option validated, before anything heavy is imported; a bad value is one line."""
    collected = collect_values(lambda name: config.getoption(f"llm_{name}"), config.getini)
    try:
        return Settings.from_values(collected.values, collected.sources)
    except LLMSetupError as error:
        raise pytest.UsageError(str(error)) from None
