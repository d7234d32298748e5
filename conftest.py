"""Project-level pytest configuration: the project's own tests drive real pytest runs via pytester."""

pytest_plugins = ["pytester"]
