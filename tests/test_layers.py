"""The one-way rule of the layout: ``app -> training -> judges -> debate``.

Every import statement of the four packages is read from the source (imports inside functions
count too, since a lazy import is still an arrow), and any arrow that points up the stack fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("debate", "judges", "training", "app")  # each may import only those before it
RANK = {name: i for i, name in enumerate(LAYERS)}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in a file, wherever it sits in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def layer_violations(root: Path = ROOT) -> list[str]:
    bad = []
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            for line, imported in imported_packages(path):
                if imported in RANK and RANK[imported] > RANK[package]:
                    bad.append(f"{path.relative_to(root)}:{line} imports {imported} ({package} -> {imported})")
    return bad


def test_imports_point_one_way():
    assert layer_violations() == []


def test_the_check_sees_lazy_imports(tmp_path):
    (tmp_path / "debate").mkdir()
    (tmp_path / "debate" / "x.py").write_text("def f():\n    from training import y\n    import app.z\n")
    for package in LAYERS[1:]:
        (tmp_path / package).mkdir()
    (tmp_path / "judges" / "ok.py").write_text("from debate import x\n")
    assert layer_violations(tmp_path) == ["debate/x.py:2 imports training (debate -> training)",
                                          "debate/x.py:3 imports app (debate -> app)"]


@pytest.mark.parametrize("package", LAYERS)
def test_every_module_imports(package):
    """Every module of the package imports on its own (no cycle, no stale path after a move)."""
    import importlib

    for path in sorted((ROOT / package).rglob("*.py")):
        if "pages" in path.parts or path.name == "main.py":
            continue  # Streamlit scripts run on import; the app tests run them
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))
