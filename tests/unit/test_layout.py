"""The package's shape: imports flow one way without cycles, and each fact has one home."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "cyclist_dataset"


def test_no_module_imports_itself_back():
    """No import cycle between modules, however long (import-linter checks the layers in CI)."""
    graph = grimp.build_graph("cyclist_dataset", cache_dir=None)
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            # A package's __init__ importing its own submodules (re-exports) is not a cycle of code.
            if back and not imported.startswith(importer + "."):
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _sources() -> dict[str, str]:
    return {p.relative_to(PACKAGE).as_posix(): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


# (what, pattern in source code, the one module allowed to hold it)
ONE_HOME = [
    ("SHA-256 hashing", r"hashlib\.sha256\(", "io/hashing.py"),
    ("atomic renames", r"os\.replace\(|os\.rename\(", "io/atomic.py"),
    ("temporary files and folders", r"tempfile\.mk(s|d)temp\(", "io/atomic.py"),
    ("box columns", r"\(\s*\"x1\",\s*\"y1\",\s*\"x2\",\s*\"y2\"\s*\)", "core/geometry.py"),
    ("boxes from a table", r"column\(c\)\.to_numpy\(\) for c in", "core/detections.py"),
    # one display: bars nested, log lines above them, plain lines off a terminal
    ("progress bars", r"(?m)^\s*(from|import) tqdm\b", "io/progress.py"),
]


@pytest.mark.parametrize("what,pattern,home", ONE_HOME, ids=[w for w, _, _ in ONE_HOME])
def test_each_fact_has_one_home(what, pattern, home):
    found = sorted(name for name, text in _sources().items() if re.search(pattern, text))
    assert found == [home], f"{what} should live in {home} only, found in {found}"


def test_iou_is_computed_in_geometry_only():
    """An IOU is an intersection divided by a union: only core/geometry.py divides by one."""
    defined = []
    for name, text in _sources().items():
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, ast.FunctionDef)
                and "iou" in node.name.lower()
                and name != "core/geometry.py"
            ):
                defined.append(f"{name}:{node.name}")
    assert not defined, f"IOU functions outside core/geometry.py: {defined}"
    divided = [n for n, t in _sources().items() if re.search(r"\binter\w*\s*/", t)]
    assert divided == ["core/geometry.py"], (
        f"intersections divided outside core/geometry.py: {divided}"
    )


def test_version_is_written_in_one_place():
    written = [n for n, t in _sources().items() if re.search(r"__version__\s*=\s*\"\d+\.\d+", t)]
    assert not written, f"the version belongs in pyproject.toml only, found in {written}"
    from importlib.metadata import version

    import cyclist_dataset

    assert cyclist_dataset.__version__ == version("cyclist-dataset")
    assert (PACKAGE / "py.typed").is_file()
