"""Imports point one way: ``repro`` -> ``papers`` -> ``harness``, read from the source's syntax trees.

* ``harness`` imports neither ``papers`` nor ``repro``;
* a paper imports ``harness`` and its own folder, never another paper and never ``repro``;
* the report (``repro/report``) reads run records: it imports no paper and not the registry,
  runner or CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("repro", "harness", "papers")
REPORT_FORBIDDEN = ("papers", "repro.registry", "repro.runner", "repro.cli")


def module_name(path: Path) -> str:
    """``harness/data/criteo.py`` -> ``harness.data.criteo`` (``__init__`` names its package)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            else:
                found.add(node.module or "")
    return found


def sources(package: str) -> list[Path]:
    """The Python files of one top-level package."""
    return sorted((REPO / package).rglob("*.py"))


def violations(path: Path) -> list[str]:
    """The imports of `path` that break the one-way rule, each as ``file: module``."""
    name = module_name(path)
    top = name.split(".")[0]
    bad: list[str] = []
    for module in imported_modules(path):
        head = module.split(".")[0]
        if top == "harness" and head in ("papers", "repro"):
            bad.append(module)
        elif top == "papers" and head == "repro":
            bad.append(module)
        elif top == "papers" and head == "papers" and len(name.split(".")) > 1:
            own = name.split(".")[1]
            other = module.split(".")[1] if len(module.split(".")) > 1 else ""
            if other and other != own:
                bad.append(module)
        elif name.startswith("repro.report") and any(module == f or module.startswith(f + ".")
                                                      for f in REPORT_FORBIDDEN):
            bad.append(module)
    return [f"{path.relative_to(REPO)}: imports {module}" for module in sorted(bad)]


def test_rule_catches_a_wrong_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker itself: a harness module importing a paper, and a paper importing another, are caught."""
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    (tmp_path / "harness").mkdir()
    (tmp_path / "papers" / "a").mkdir(parents=True)
    bad_harness = tmp_path / "harness" / "x.py"
    bad_harness.write_text("from papers.adatt.adatt import AdaTT\n")
    bad_paper = tmp_path / "papers" / "a" / "experiment.py"
    bad_paper.write_text("from papers.b import experiment\nfrom . import model\nfrom harness.data import api\n")
    assert violations(bad_harness) == ["harness/x.py: imports papers.adatt.adatt"]
    assert violations(bad_paper) == ["papers/a/experiment.py: imports papers.b"]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    """No module of `package` imports against the direction repro -> papers -> harness."""
    found = [v for path in sources(package) for v in violations(path)]
    assert not found, "imports against the one-way rule:\n" + "\n".join(found)
