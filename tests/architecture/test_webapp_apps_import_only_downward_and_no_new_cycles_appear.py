"""Two rules on imports, checked by parsing the source with ``ast`` (nothing is imported, so no
Django set-up and no side effects). Imports inside functions count like any other.

1. The web app's apps are layers, bottom to top:

   experiments  the data: experiments, prompts, pairs, policy responses
   rating       rounds over policy responses, the queue, judgements
   pipeline     runs of the ML pipeline; its last stage opens a rating round
   reports      reads the other three

   A module may import its own app, any app below it and the modules below all apps
   (``webapp.access``, ``webapp.csv_cells``, ``webapp.downloads``, ``webapp.env``), never an app above it. A page
   that needs a higher app's data is rendered by that app. The project's wiring (settings, urls, celery, wsgi)
   sits above every app.

2. No import cycle among the modules of ``webapp/`` and ``pipeline/``, except the known ones
   below, which are being untangled elsewhere. Imports under ``if TYPE_CHECKING:`` never run,
   so they are left out of the cycle graph.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["experiments", "rating", "pipeline", "reports"]
BELOW_THE_APPS = {"webapp.access", "webapp.csv_cells", "webapp.downloads", "webapp.env"}

# Cycles that exist today, each as the modules in import order (A imports B imports ... imports A).
# Whoever breaks one deletes its entry here; a cycle not listed fails the test.
KNOWN_CYCLES = [
]


@dataclass(frozen=True)
class Import:
    target: str  # the dotted name imported: a module, or a module and the name taken from it
    line: int
    type_checking: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in the source, wherever it is, with relative imports made absolute."""
    found: list[Import] = []

    def visit(node: ast.AST, type_checking: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_checking)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, node.lineno, type_checking) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            found.extend(Import(f"{base}.{alias.name}", node.lineno, type_checking) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking)

    visit(ast.parse(source), False)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = package[: len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def source_modules() -> dict[str, Path]:
    paths = [*(ROOT / "webapp").rglob("*.py"), *(ROOT / "pipeline").rglob("*.py")]
    return {module_name(path): path for path in sorted(paths)}


MODULES = source_modules()
IMPORTS = {name: imports_in(path.read_text(), name, path.name == "__init__.py") for name, path in MODULES.items()}


def app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "webapp" and parts[1] in LAYERS else None


def owning_module(target: str) -> str | None:
    """The project module an import loads: the longest known prefix of the imported name."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


# -- layering ----------------------------------------------------------------------------------


def upward_imports() -> list[str]:
    found = []
    for module, imports in IMPORTS.items():
        here = app_of(module)
        for imp in imports:
            there = app_of(imp.target)
            where = f"{MODULES[module].relative_to(ROOT)}:{imp.line} imports {imp.target}"
            if there is not None and module in BELOW_THE_APPS:
                found.append(f"{where} (it sits below every app)")
            elif there is not None and here is not None and LAYERS.index(there) > LAYERS.index(here):
                found.append(f"{where} ({here} sits below {there})")
    return found


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    source = "from . import models\ndef view():\n    from webapp.reports import pages\nif TYPE_CHECKING:\n    import webapp.rating\n"
    found = imports_in(source, "webapp.pipeline.views")
    assert [(i.target, i.type_checking) for i in found] == [
        ("webapp.pipeline.models", False), ("webapp.reports.pages", False), ("webapp.rating", True)
    ]
    assert [app_of(i.target) for i in found] == ["pipeline", "reports", "rating"]


def test_every_app_is_in_a_layer_and_there_are_modules_to_check():
    apps = {path.parent.name for path in (ROOT / "webapp").glob("*/apps.py")}
    assert apps == set(LAYERS), f"apps {sorted(apps)} vs layers {LAYERS}: put each app in its layer"
    assert sum(app_of(m) is not None for m in MODULES) > 40


def test_no_webapp_app_imports_an_app_above_it():
    found = upward_imports()
    assert not found, "upward imports between apps:\n" + "\n".join(found)


# -- cycles --------------------------------------------------------------------------------------


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, imports in IMPORTS.items():
        for imp in imports:
            target = owning_module(imp.target)
            if target is not None and target != module and not imp.type_checking:
                graph[module].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's components of more than one module: every cycle lies inside one of them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for nxt in graph[module]:
            if nxt not in index:
                visit(nxt)
                low[module] = min(low[module], low[nxt])
            elif nxt in stack:
                low[module] = min(low[module], index[nxt])
        if low[module] == index[module]:
            component = {stack.pop()}
            while module not in component:
                component.add(stack.pop())
            if len(component) > 1:
                components.append(component)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return components


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Every elementary cycle, written from its smallest module. Each is found once, from that
    module, by a walk that stays inside its component and visits only larger modules."""
    found = set()

    def walk(start: str, path: list[str], within: set[str]) -> None:
        for nxt in sorted(graph[path[-1]] & within):
            if nxt == start:
                found.add(tuple(path))
            elif nxt > start and nxt not in path:
                walk(start, path + [nxt], within)

    for component in strongly_connected(graph):
        for start in sorted(component):
            walk(start, [start], component)
    return found


def canonical(cycle: tuple[str, ...]) -> tuple[str, ...]:
    first = cycle.index(min(cycle))
    return cycle[first:] + cycle[:first]


def test_no_import_cycle_other_than_the_known_ones():
    new = cycles(import_graph()) - {canonical(c) for c in KNOWN_CYCLES}
    assert not new, "new import cycles:\n" + "\n".join(" -> ".join(c + c[:1]) for c in sorted(new))


def test_every_known_cycle_still_exists():
    gone = {canonical(c) for c in KNOWN_CYCLES} - cycles(import_graph())
    assert not gone, "these cycles are gone; delete them from KNOWN_CYCLES:\n" + "\n".join(" -> ".join(c) for c in sorted(gone))
