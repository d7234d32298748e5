"""The package's import structure, measured by scripts/import_graph.py: no import circles, and pytest imported only by
the pytest-facing packages. The graph logic itself is checked on tiny synthetic packages."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import_graph.py"
SRC = ROOT / "src" / "pytest_ascend_llm"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


graph = load_script()


def write_package(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path relative to the package -> source) under ``root/pkg``; return the package folder."""
    package = root / "pkg"
    for relative, source in files.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return package


# The real package ------------------------------------------------------------------------------------------------


def test_no_import_circles_in_the_package():
    found = graph.circles(graph.import_edges(SRC))
    assert not found, "import circles in the package:\n" + "\n".join("  " + " <-> ".join(circle) for circle in found)


def test_pytest_is_imported_only_by_plugin_suite_and_testing():
    found = graph.pytest_importers(SRC, ("plugin", "suite", "testing"))
    assert not found, "modules outside plugin/, suite/, testing/ importing pytest:\n" + "\n".join(
        f"  {module}" for module in found
    )


# The graph logic ---------------------------------------------------------------------------------------------------


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
    src = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from pkg.b import helper\n",
            "b.py": """
                def helper():
                    from pkg import a

                    return a
            """,
            "c.py": "import pkg.a\n",
        },
    )
    edges = graph.import_edges(src)
    assert edges == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    assert graph.circles(edges) == [["pkg.a", "pkg.b"]]
    assert graph.back_edges(edges) == [("pkg.b", "pkg.a")]
    floors = graph.floors(edges)
    assert floors["pkg.a"] == floors["pkg.b"] == 1 and floors["pkg.c"] == 2


def test_a_type_checking_import_is_ignored_but_its_else_branch_counts(tmp_path):
    src = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "c.py": """
                import typing
                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    from pkg.d import Thing
                if typing.TYPE_CHECKING:
                    import pkg.d
                else:
                    import pkg.e
            """,
            "d.py": "from pkg.c import TYPE_CHECKING\n",
            "e.py": "",
        },
    )
    edges = graph.import_edges(src)
    assert edges["pkg.c"] == {"pkg.e"}
    assert edges["pkg.d"] == {"pkg.c"}
    assert graph.circles(edges) == []


def test_floors_of_a_three_module_chain(tmp_path):
    src = write_package(
        tmp_path,
        {"__init__.py": "", "x.py": "from pkg import y\n", "y.py": "from pkg.z import VALUE\n", "z.py": "VALUE = 1\n"},
    )
    edges = graph.import_edges(src)
    assert graph.floors(edges) == {"pkg": 1, "pkg.z": 1, "pkg.y": 2, "pkg.x": 3}
    result = graph.measure(src)
    assert result["floors"] == 3 and result["modules"] == 4
    assert result["modules_per_floor"] == {"1": ["pkg", "pkg.z"], "2": ["pkg.y"], "3": ["pkg.x"]}
    assert result["circle_count"] == 0 and result["back_up_import_count"] == 0


def test_relative_imports_submodules_and_implicit_parents(tmp_path):
    src = write_package(
        tmp_path,
        {
            "__init__.py": "from .core import run\n",
            "core.py": "from .sub import tool, NAME\nfrom .sub.tool import go\n",
            "sub/__init__.py": "NAME = 'sub'\nfrom . import tool\n",
            "sub/tool.py": "from .. import core\nfrom ..sub import NAME\n",
        },
    )
    edges = graph.import_edges(src)
    # ``from .sub import tool, NAME``: tool is a submodule, NAME is not (it goes to the package module);
    # ``from .sub.tool import go`` imports pkg and pkg.sub on the way, which are not edges.
    assert edges["pkg"] == {"pkg.core"}
    assert edges["pkg.core"] == {"pkg.sub", "pkg.sub.tool"}
    assert edges["pkg.sub"] == {"pkg.sub.tool"}
    assert edges["pkg.sub.tool"] == {"pkg.core", "pkg.sub"}
    assert graph.circles(edges) == [["pkg.core", "pkg.sub", "pkg.sub.tool"]]


def test_pytest_importers_and_top_level(tmp_path):
    src = write_package(
        tmp_path,
        {
            "__init__.py": "",
            "plugin_extra.py": "import pytest\n",
            "suite/__init__.py": "",
            "suite/test_x.py": "import pytest\n",
            "helpers.py": """
                def fixture_factory():
                    from _pytest.fixtures import FixtureRequest

                    return FixtureRequest
            """,
            "typed.py": """
                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    import pytest
            """,
            "core/__init__.py": "import pytest\n",
        },
    )
    assert graph.pytest_importers(src) == ["pkg.core", "pkg.helpers"]
    assert graph.pytest_importers(src, ("plugin", "suite", "core")) == ["pkg.helpers"]
    result = graph.measure(src)
    assert result["loose_modules"] == ["helpers.py", "plugin_extra.py", "typed.py"]
    assert result["folders"] == ["core", "suite"]


def test_the_command_line_check(tmp_path, capsys):
    clean = write_package(tmp_path / "clean", {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": ""})
    assert graph.main([str(clean), "--check"]) == 0
    tangled = write_package(
        tmp_path / "tangled",
        {"__init__.py": "", "a.py": "from pkg import b\nimport pytest\n", "b.py": "from pkg import a\n"},
    )
    capsys.readouterr()
    assert graph.main([str(tangled), "--json"]) == 0
    assert graph.main([str(tangled), "--check"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "import circle: pkg.a <-> pkg.b",
        "pytest imported outside pkg.plugin*, pkg.suite*, pkg.testing*: pkg.a",
    ]


@pytest.mark.parametrize("verbose", [False, True])
def test_the_report_renders(tmp_path, verbose):
    src = write_package(tmp_path, {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "from pkg import a\n"})
    text = graph.render(graph.measure(src), verbose=verbose)
    assert "modules: 3" in text and "import circles: 1" in text and "imports that run back up: 1" in text
    assert ("floor 1 (" in text) is verbose
