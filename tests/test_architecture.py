"""The stage order of docs/architecture.md holds: checked by import-linter, and by a scan for
private names that cross modules (which import-linter does not see)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "zoning"
MODULES = {p.stem for p in PACKAGE.glob("*.py")}


def _lint_imports() -> list[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed (it is in the 'dev' extra)")
    return [exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"]


def test_import_contracts_are_kept():
    run = subprocess.run(_lint_imports(), cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_contract_lists_every_module_once():
    """The layers contract is exhaustive, so a new module must be placed in a stage; and the
    stages of docs/architecture.md are the contract's."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"]
                 if c["type"] == "layers"]
    named = [m.strip() for layer in layers for m in layer.replace("|", ":").split(":")]
    present = [m.strip("()") for m in named if not m.startswith("(") or m.strip("()") in MODULES]
    assert sorted(present) == sorted(MODULES - {"__init__"})
    assert _diagram_stages() == [sorted(m.strip("() ") for m in layer.replace("|", ":").split(":"))
                                 for layer in layers]


def _diagram_stages() -> list[list[str]]:
    """The stages of the diagram in docs/architecture.md, top to bottom, as module lists."""
    import re

    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = doc.split("```\n", 2)[1]
    stages, current = [], []
    for line in diagram.splitlines():
        if line.strip().startswith(("├", "└")):
            stages.append(sorted(current))
            current = []
        else:
            current += re.findall(r"`([a-z_]+)`", line)
    return [s for s in stages if s]


def test_contract_fails_on_an_upward_import(tmp_path):
    """The check is real: a copy of the package whose data model imports the build stage
    breaks the contract."""
    copy = tmp_path / "zoning"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "_data"))
    model = copy / "model.py"
    model.write_text(model.read_text() + "\n\ndef _leak():\n    from .build import load\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    run = subprocess.run(_lint_imports()[:1] + ["--config", str(tmp_path / "pyproject.toml"),
                                                "--no-cache"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "zoning.model is not allowed to import zoning.build" in run.stdout


def _private_crossings(path: Path) -> list[str]:
    """``from .other import _name`` and ``other._name`` in module ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    imported_modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = (node.module or "").removeprefix("zoning").lstrip(".")
            internal = node.level > 0 or (node.module or "").split(".")[0] == "zoning"
            if not internal:
                continue
            for alias in node.names:
                if not module and alias.name in MODULES:
                    imported_modules[alias.asname or alias.name] = alias.name
                elif alias.name.startswith("_") and module != path.stem \
                        and not alias.name.startswith("__"):
                    found.append(f"{path.name}:{node.lineno} imports {module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("zoning.") and alias.asname:
                    imported_modules[alias.asname] = alias.name.split(".")[1]
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in imported_modules and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and imported_modules[node.value.id] != path.stem):
            found.append(f"{path.name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_private_name_crosses_modules():
    found = [hit for path in sorted(PACKAGE.glob("*.py")) for hit in _private_crossings(path)]
    assert not found, "private names used outside their module:\n" + "\n".join(found)


def test_the_scan_sees_a_private_crossing(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from .io import _plan_table\nfrom . import webmap\nwebmap._clean(1)\n")
    assert _private_crossings(sample) == ["sample.py:1 imports io._plan_table",
                                          "sample.py:3 uses webmap._clean"]


def test_footprint_badges_are_the_most_certain_badges():
    """The one definition of a footprint (model.FOOTPRINT_BADGES) is the head of the badge
    order read from layers/geometry_basis.csv: a footprint is never less certain than a shape
    that is not one."""
    from zoning.model import FOOTPRINT_BADGES, badge_order

    order = badge_order()
    assert tuple(order[:len(FOOTPRINT_BADGES)]) == FOOTPRINT_BADGES


def test_each_crosswalk_code_is_in_one_data_file():
    """INSPIRE codes of the toolkit's vocabularies come from layers/crosswalk_inspire_codes.csv
    and cover each vocabulary; Chinese database layer codes are only in the export profiles."""
    import csv
    import typing

    from zoning import model

    assert set(model.REGULATION_NATURE) == set(model.REGULATIONS)
    assert set(model.PROCESS_STEP) == set(model.LIFECYCLES)
    assert set(model.LEVEL_OF_SPATIAL_PLAN) == set(typing.get_args(model.LEVEL))
    layers = ROOT / "layers"
    for path in sorted(layers.glob("*.csv")):
        with open(path, encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert not [c for c in header if c.startswith("cn_layer") or c == "ysdm"], path.name
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(PACKAGE.glob("*.py")))
    for value in ("generallyBinding", "legalForce", "supraLocal"):
        assert f'"{value}"' not in source, f"{value} is written in code, not read from data"
