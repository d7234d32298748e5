"""Measure the import structure of the ``pytest_ascend_llm`` package (stdlib only).

Usage: ``python scripts/import_graph.py [SRC_DIR] [--verbose] [--json] [--check] [--pytest-allowed WORDS]``

SRC_DIR defaults to ``src/pytest_ascend_llm`` under the repository root (found from this file's location). The
package's name is the folder's name.

What it measures, and how:

* modules: every ``.py`` file under SRC_DIR; ``a/b.py`` is module ``pkg.a.b`` and ``a/__init__.py`` is the package
  module ``pkg.a``. Files are parsed with ``ast``; nothing is imported or run.
* edges: module -> module for every ``import`` / ``from ... import`` statement naming one of the package's own modules,
  wherever it stands (module level, inside functions, ``try`` blocks ...), except in the body of ``if TYPE_CHECKING:``
  (its ``else:`` branch counts). ``import pkg.a.b`` and ``from pkg.a import b`` go to ``pkg.a.b`` when that is a
  module, else to ``pkg.a`` (the longest prefix that is a module); relative imports are resolved against the
  importing module's package. The parent packages Python imports on the way (``pkg``, ``pkg.a``) are not edges, and
  neither is a module importing itself. Dynamic imports (``importlib.import_module``) are not seen.
* import circles: strongly connected components (Tarjan) with more than one module.
* floors: each circle condensed to one node; a node importing nothing of the package is floor 1, any other is
  1 + the highest floor among what it imports. The number of floors is the highest floor.
* imports that run back up: inside each circle, the back edges of a depth-first search over the circle's own edges,
  started from its modules in sorted order and following imports in sorted order. Removing them (or turning them
  into imports the other way) breaks the circle.
* pytest importers: modules importing ``pytest`` or ``_pytest`` (same rules as for edges, TYPE_CHECKING excluded)
  whose first name below the package does not start with one of the allowed words (``--pytest-allowed``, default
  ``plugin,suite,testing``: ``pkg.plugin*``, ``pkg.suite*``, ``pkg.testing*``).
* top level: ``.py`` files directly in SRC_DIR (``__init__.py`` aside) and folders directly in it (``__pycache__``
  and hidden folders aside).

Exit status is 0 unless ``--check`` is given; then it is 1 when there is an import circle or a pytest import outside
the allowed packages, with one line on stderr per reason.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

DEFAULT_SRC = Path(__file__).resolve().parent.parent / "src" / "pytest_ascend_llm"
DEFAULT_PYTEST_ALLOWED = ("plugin", "suite", "testing")
PYTEST_ROOTS = frozenset({"pytest", "_pytest"})


def module_files(src: Path) -> dict[str, Path]:
    """Every module of the package under ``src``: dotted name -> file (``__init__.py`` is the package module)."""
    src = Path(src)
    package = src.name
    modules: dict[str, Path] = {}
    for path in sorted(src.rglob("*.py")):
        relative = path.relative_to(src)
        if any(part == "__pycache__" or part.startswith(".") for part in relative.parts):
            continue
        parts = [package, *relative.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if name in modules and modules[name].name == "__init__.py":
            continue  # ``a/__init__.py`` next to ``a.py``: Python imports the package
        modules[name] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``<anything>.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, at any depth, except those only a type checker runs."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If):
            test = node.test
            if _is_type_checking(test):
                stack.extend(reversed(node.orelse))
                continue
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and _is_type_checking(test.operand):
                stack.extend(reversed(node.body))
                continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _base_of(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute module a ``from ... import`` reads from (None when a relative import leaves the top)."""
    if not node.level:
        return node.module
    parts = module.split(".")
    if not is_package:
        parts.pop()
    up = node.level - 1
    if up > len(parts) - 1:
        return None
    if up:
        parts = parts[:-up]
    if node.module:
        parts.append(node.module)
    return ".".join(parts)


def imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The absolute dotted names an import statement asks for; ``from a import b`` gives ``a.b``, which resolves
    to ``a`` by walking up when ``b`` is not a submodule."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = _base_of(node, module, is_package)
    if base is None:
        return []
    return [base if alias.name == "*" else f"{base}.{alias.name}" for alias in node.names]


def _resolve(name: str, modules: Iterable[str] | Mapping[str, object]) -> str | None:
    """The longest prefix of ``name`` that is one of ``modules``."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def import_edges(src: Path | str) -> dict[str, set[str]]:
    """module -> the package's modules it imports (every module of the package is a key)."""
    src = Path(src)
    package = src.name
    modules = module_files(src)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in runtime_imports(_parse(path)):
            for name in imported_names(node, module, is_package):
                if name != package and not name.startswith(package + "."):
                    continue
                target = _resolve(name, modules)
                if target is not None and target != module:
                    edges[module].add(target)
    return edges


def components(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected component (Tarjan, iterative), each sorted; dependencies come before dependants."""
    nodes = sorted(set(edges) | {target for targets in edges.values() for target in targets})
    successors = {node: sorted(edges.get(node, ())) for node in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(successors[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(sorted(component))
    return found


def circles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The import circles: strongly connected components of more than one module, each sorted, sorted by first."""
    return sorted(component for component in components(edges) if len(component) > 1)


def floors(edges: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """module -> floor, a circle counting as one node: 1 when it imports nothing of the package, else
    1 + the highest floor of what it imports."""
    floor_of: dict[str, int] = {}
    for component in components(edges):  # Tarjan emits a component after everything it reaches
        members = set(component)
        below = [floor_of[target] for member in component for target in edges.get(member, ()) if target not in members]
        floor = 1 + max(below, default=0)
        for member in component:
            floor_of[member] = floor
    return floor_of


def back_edges(edges: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """The imports that run back up: within each circle, the back edges of a depth-first search over the circle's
    own edges, started from its modules in sorted order and following imports in sorted order."""
    found: list[tuple[str, str]] = []
    for circle in circles(edges):
        members = set(circle)
        successors = {node: sorted(set(edges.get(node, ())) & members) for node in circle}
        state: dict[str, int] = {}  # 1: on the DFS path, 2: finished
        for root in circle:
            if root in state:
                continue
            state[root] = 1
            work: list[tuple[str, Iterator[str]]] = [(root, iter(successors[root]))]
            while work:
                node, children = work[-1]
                child = next(children, None)
                if child is None:
                    state[node] = 2
                    work.pop()
                elif child not in state:
                    state[child] = 1
                    work.append((child, iter(successors[child])))
                elif state[child] == 1:
                    found.append((node, child))
    return found


def _allowed(module: str, package: str, allowed: Iterable[str]) -> bool:
    if module == package:
        return False
    first = module[len(package) + 1 :].split(".")[0]
    return any(first.startswith(word) for word in allowed)


def pytest_importers(src: Path | str, allowed: Iterable[str] = DEFAULT_PYTEST_ALLOWED) -> list[str]:
    """Modules outside the allowed packages that import ``pytest`` or ``_pytest`` (TYPE_CHECKING aside), sorted."""
    src = Path(src)
    package = src.name
    allowed = tuple(word for word in allowed if word)
    found: list[str] = []
    for module, path in module_files(src).items():
        if _allowed(module, package, allowed):
            continue
        for node in runtime_imports(_parse(path)):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue  # relative: inside the package
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(name.split(".")[0] in PYTEST_ROOTS for name in names):
                found.append(module)
                break
    return sorted(found)


def top_level(src: Path | str) -> tuple[list[str], list[str]]:
    """(loose module files directly in ``src`` except ``__init__.py``, folders directly in ``src``), sorted."""
    src = Path(src)
    loose = sorted(path.name for path in src.glob("*.py") if path.is_file() and path.name != "__init__.py")
    folders = sorted(
        path.name
        for path in src.iterdir()
        if path.is_dir() and path.name != "__pycache__" and not path.name.startswith(".")
    )
    return loose, folders


def measure(src: Path | str = DEFAULT_SRC, allowed: Iterable[str] = DEFAULT_PYTEST_ALLOWED) -> dict:
    """Everything the script prints, as one JSON-ready dict."""
    src = Path(src)
    allowed = [word for word in allowed if word]
    edges = import_edges(src)
    floor_of = floors(edges)
    floor_count = max(floor_of.values(), default=0)
    per_floor = {str(n): sorted(m for m, f in floor_of.items() if f == n) for n in range(1, floor_count + 1)}
    found_circles = circles(edges)
    back = back_edges(edges)
    importers = pytest_importers(src, allowed)
    loose, folders = top_level(src)
    return {
        "src": str(src),
        "package": src.name,
        "modules": len(edges),
        "edges": sum(len(targets) for targets in edges.values()),
        "circle_count": len(found_circles),
        "circles": found_circles,
        "floors": floor_count,
        "modules_per_floor": per_floor,
        "back_up_import_count": len(back),
        "back_up_imports": [list(edge) for edge in back],
        "pytest_allowed": [f"{src.name}.{word}*" for word in allowed],
        "pytest_importers": importers,
        "loose_module_count": len(loose),
        "loose_modules": loose,
        "folder_count": len(folders),
        "folders": folders,
    }


def render(result: Mapping, verbose: bool = False) -> str:
    """The human-readable report."""
    lines = [
        f"package: {result['package']} ({result['src']})",
        f"modules: {result['modules']}  (import edges: {result['edges']})",
        f"import circles: {result['circle_count']}",
    ]
    for number, circle in enumerate(result["circles"], 1):
        lines.append(f"  circle {number} ({len(circle)} modules): {', '.join(circle)}")
    lines.append(f"floors: {result['floors']}")
    if verbose:
        for floor, members in result["modules_per_floor"].items():
            lines.append(f"  floor {floor} ({len(members)}): {', '.join(members)}")
    lines.append(f"imports that run back up: {result['back_up_import_count']}")
    for source, target in result["back_up_imports"]:
        lines.append(f"  {source} -> {target}")
    lines.append(
        f"modules importing pytest outside {', '.join(result['pytest_allowed']) or '(nothing allowed)'}: "
        f"{len(result['pytest_importers'])}"
    )
    lines.extend(f"  {module}" for module in result["pytest_importers"])
    lines.append(f"top level: {result['loose_module_count']} loose modules, {result['folder_count']} folders")
    if verbose:
        lines.append(f"  loose modules: {', '.join(result['loose_modules'])}")
        lines.append(f"  folders: {', '.join(result['folders'])}")
    return "\n".join(lines)


def check_problems(result: Mapping) -> list[str]:
    """One line per reason ``--check`` fails."""
    problems = [f"import circle: {' <-> '.join(circle)}" for circle in result["circles"]]
    problems += [
        f"pytest imported outside {', '.join(result['pytest_allowed'])}: {module}"
        for module in result["pytest_importers"]
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "src", nargs="?", type=Path, default=DEFAULT_SRC, help="package folder (default: src/pytest_ascend_llm)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="list the modules per floor and the top level")
    parser.add_argument("--json", action="store_true", help="print the measurements as one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 on an import circle or a stray pytest import")
    parser.add_argument(
        "--pytest-allowed",
        default=",".join(DEFAULT_PYTEST_ALLOWED),
        help="comma-separated first names below the package that may import pytest (prefixes; default %(default)s)",
    )
    args = parser.parse_args(argv)
    if not args.src.is_dir():
        parser.error(f"not a folder: {args.src}")
    result = measure(args.src, args.pytest_allowed.split(","))
    print(json.dumps(result, indent=2) if args.json else render(result, args.verbose))
    if not args.check:
        return 0
    problems = check_problems(result)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
