"""The ML code under ``pipeline/`` takes plain data and returns plain results: it must run in a
notebook or on a GPU box without the web app, so it may not import Django, DRF, Celery or ``webapp``."""

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"
FORBIDDEN = {"django", "rest_framework", "celery", "webapp", "django_htmx", "drf_spectacular"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


MODULES = sorted(PIPELINE.rglob("*.py"))


def test_the_pipeline_package_has_modules_to_check():
    assert len(MODULES) > 20


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PIPELINE)))
def test_no_ml_module_imports_the_web_app(path):
    assert not imported_roots(path) & FORBIDDEN, f"{path} imports {sorted(imported_roots(path) & FORBIDDEN)}"
