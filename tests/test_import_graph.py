"""The package's layers read top-down (docs/architecture.md draws the same floors).

Every module of napari_zssr is parsed (nothing is imported) and mapped to its package; a package
may import only packages on a floor below its own, never one beside it, so there is no cycle.
Names that start with "_" stay inside their package; only the napari front end (plugin/) imports napari
or Qt, and Qt only in plugin/qt; and no function takes more than 10 parameters (self and cls not counted).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "napari_zssr"

# The floors, ground floor first: the one definition of the layers.
FLOORS = (
    ("axes",),                                # axis letters: what every layer reads axes with
    ("engine", "io"),                         # 2-D ZSSR in numpy + torch | files in and out
    ("quality",),                             # the expected gain, measured on held-out parts
    ("nd",),                                  # N-D runs: in memory, and block by block
    ("runs", "modelzoo", "testing"),          # files end to end, batches | bioimage.io | test data
    ("cli", "plugin", "sample_data", "napari_zssr"),  # front ends; napari_zssr: __init__'s 2-D API
)
FLOOR = {package: i for i, floor in enumerate(FLOORS) for package in floor}
# napari_zssr/__init__.py sets __version__ before it imports anything: reading it is not a climb
VERSION = ("napari_zssr", "__version__")
GUI_ROOTS = {"napari", "magicgui", "superqt", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy"}
QT_ROOTS = {"qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "superqt"}
MAX_PARAMETERS = 10

@dataclass(frozen=True)
class Import:
    module: str        # the importing module, dotted
    target: str        # the imported module, dotted
    name: str | None   # the name taken from it (from-imports), or None
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def package_of(module: str) -> str:
    """The top-level package of a napari_zssr module (the root's __init__ is "napari_zssr")."""
    parts = module.split(".")
    if len(parts) == 1:
        return "napari_zssr"
    return parts[1]


def imports_of(module: str, path: Path | None = None) -> list[Import]:
    path = path or MODULES[module]
    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]   # its package
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [Import(module, a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{target}.{a.name}"       # `from pkg import module` imports that module
                found.append(Import(module, sub, None, node.lineno) if sub in MODULES
                             else Import(module, target, a.name, node.lineno))
    return found


ALL = [imp for m in MODULES for imp in imports_of(m)]
INTERNAL = [imp for imp in ALL if imp.target.split(".")[0] == "napari_zssr"]


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_every_package_has_a_floor():
    assert {package_of(m) for m in MODULES} <= set(FLOOR)


def test_imports_only_go_down():
    climbs = []
    for imp in INTERNAL:
        src, dst = package_of(imp.module), package_of(imp.target)
        if src != dst and FLOOR[dst] >= FLOOR[src] and (imp.target, imp.name) != VERSION:
            climbs.append(f"{imp.module}:{imp.line} ({src}, floor {FLOOR[src]}) imports {imp.target} "
                          f"({dst}, floor {FLOOR[dst]})")
    assert climbs == []


def test_no_cycles_between_packages():
    edges = {}
    for imp in INTERNAL:
        src, dst = package_of(imp.module), package_of(imp.target)
        if src != dst and (imp.target, imp.name) != VERSION:
            edges.setdefault(src, set()).add(dst)
    state = {}

    def visit(p, path):
        state[p] = "open"
        for q in sorted(edges.get(p, ())):
            assert state.get(q) != "open", f"cycle: {' -> '.join(path + [q])}"
            if q not in state:
                visit(q, path + [q])
        state[p] = "done"

    for p in sorted(edges):
        if p not in state:
            visit(p, [p])


def private_imports() -> set:
    found = set()
    for imp in INTERNAL:
        if package_of(imp.module) == package_of(imp.target):
            continue
        inner = imp.target.split(".")[2:]          # below the package itself
        names = inner + ([imp.name] if imp.name else [])
        if any(is_private(n) for n in names):
            found.add((imp.module, imp.target + (f".{imp.name}" if imp.name else "")))
    return found


def test_private_names_stay_in_their_package():
    assert private_imports() == set()


def test_only_the_napari_front_end_imports_napari_or_qt():
    gui = [(imp.module, imp.target) for imp in ALL if imp.target.split(".")[0] in GUI_ROOTS]
    assert gui, "the front end imports napari: the check would pass on nothing"
    assert [g for g in gui if package_of(g[0]) != "plugin"] == []
    assert [g for g in gui if g[1].split(".")[0] in QT_ROOTS and ".plugin.qt" not in g[0]] == []


def test_engine_imports_neither_napari_nor_qt():
    engine = [imp for imp in ALL if package_of(imp.module) == "engine"]
    assert engine
    assert [imp for imp in engine if imp.target.split(".")[0] in GUI_ROOTS] == []


def parameter_counts():
    """(module.Class.function, parameters) for every function, self and cls not counted."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}.{child.name}")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = child.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
                if names and names[0] in ("self", "cls"):
                    names = names[1:]
                yield f"{prefix}.{child.name}", len(names) + (a.vararg is not None) + (a.kwarg is not None)
                yield from walk(child, f"{prefix}.{child.name}")
            else:
                yield from walk(child, prefix)

    for module, path in MODULES.items():
        yield from walk(ast.parse(path.read_text(encoding="utf-8")), module)


def test_no_function_takes_more_than_ten_parameters():
    many = {name for name, n in parameter_counts() if n > MAX_PARAMETERS}
    assert many == set()


@pytest.mark.parametrize("source, climbs", [("from ..nd.axes import AXES\n", True),
                                             ("from ..axes import AXES\n", False)])
def test_the_check_sees_a_climb(tmp_path, source, climbs):
    # io/_core.py importing nd (the import this test was written to stop) is found again
    path = tmp_path / "_core.py"
    path.write_text(source)
    (imp,) = imports_of("napari_zssr.io._core", path)
    assert (FLOOR[package_of(imp.target)] >= FLOOR["io"]) is climbs
