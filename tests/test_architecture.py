"""The package's layout holds (docs/architecture.md): layers import only downwards, no import cycle at module
level, and the size limits (module <= 450 lines, class <= 250, function <= 60 unless a comment says why).

The checks read the source (AST), so they see imports inside functions too; each is also run on a small
planted tree to show that it catches what it is for.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "deepsim_lite"

# Layer of each top-level part of the package: a module may import its own layer and those below it.
LAYERS = {"_io": 0, "_image": 0, "_version": 0, "_moved": 0, "weights": 0,
          "primitives": 1, "method": 2, "analysis": 3, "teaching": 4, "cli": 5}
NAMES = ["plumbing", "primitives", "method", "analysis", "teaching", "cli"]
MAX_MODULE, MAX_CLASS, MAX_FUNCTION = 450, 250, 60


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package under ``root``."""
    out = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _layer(module: str) -> int | None:
    """The layer of a dotted module name; None for the package's own ``__init__`` (it may import anything)."""
    parts = module.split(".")
    return None if len(parts) == 1 else LAYERS[parts[1]]


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[int, str, bool]]:
    """``(line, imported module, at module level)`` for every import of the package in one file."""
    tree = ast.parse(path.read_text())
    top_level = _run_at_import(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from .pkg import name``: the submodule ``name`` when there is one, else the module itself
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                found.append((node.lineno, target, id(node) in top_level))
    return found


def _run_at_import(tree: ast.Module) -> set[int]:
    """Ids of the statements that run when the module is imported: its body, and what is nested in it under
    ``if`` / ``try`` / ``with`` / ``for`` or in a class body, but not inside a function."""
    found, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        found.add(id(node))
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return found


def upward_imports(root: Path) -> list[str]:
    """Every import of a higher layer from a lower one (module level or inside a function)."""
    modules = _modules(root)
    problems = []
    for module, path in modules.items():
        own = _layer(module)
        if own is None:
            continue
        for line, target, _ in _imports(module, path, modules):
            theirs = _layer(target)
            if theirs is None or theirs > own:
                where = NAMES[theirs] if theirs is not None else "the package's __init__ (every layer)"
                problems.append(f"{path.relative_to(root)}:{line} ({NAMES[own]}) imports {target} ({where})")
    return problems


def import_cycles(root: Path) -> list[list[str]]:
    """Cycles among module-level imports (what ``import`` would run into), each as a list of modules."""
    modules = _modules(root)
    graph = {m: sorted({t for _, t, top in _imports(m, p, modules) if top and t in modules and t != m})
             for m, p in modules.items() if m != PACKAGE}
    cycles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for t in graph.get(m, []):
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    return cycles


def oversized(root: Path) -> list[str]:
    """Modules, classes and functions over the limits; a function may exceed its limit when a comment on its
    ``def`` line(s) or the line after says why."""
    problems = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        lines = path.read_text().splitlines()
        rel = path.relative_to(root)
        if len(lines) > MAX_MODULE:
            problems.append(f"{rel}: {len(lines)} lines (at most {MAX_MODULE})")
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            size = node.end_lineno - node.lineno + 1
            if isinstance(node, ast.ClassDef) and size > MAX_CLASS:
                problems.append(f"{rel}:{node.lineno}: class {node.name} is {size} lines (at most {MAX_CLASS})")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and size > MAX_FUNCTION:
                head = lines[node.lineno - 1: node.body[0].lineno]  # the signature and the first line after it
                if not any("#" in line for line in head):
                    problems.append(f"{rel}:{node.lineno}: {node.name}() is {size} lines (at most {MAX_FUNCTION} "
                                    "without a comment on its def line saying why)")
    return problems


def test_layers_import_only_downwards():
    assert upward_imports(ROOT) == []


def test_no_import_cycles_at_module_level():
    assert import_cycles(ROOT) == []


def test_modules_classes_and_functions_keep_to_their_size():
    assert oversized(ROOT) == []


def parts_without_a_layer(root: Path) -> set[str]:
    """Top-level modules and subpackages of the package that :data:`LAYERS` does not place."""
    tops = {p.relative_to(root / PACKAGE).parts[0].removesuffix(".py") for p in (root / PACKAGE).rglob("*.py")}
    return tops - {"__init__"} - set(LAYERS)


def test_every_part_of_the_package_has_a_layer():
    assert parts_without_a_layer(ROOT) == set(), "a new top-level module or subpackage needs a layer in LAYERS"


def _planted(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checks_catch_what_they_are_for(tmp_path):
    root = _planted(tmp_path, {
        "__init__.py": "from .teaching import lessons\n",
        "primitives/__init__.py": "",
        "primitives/edits.py": "def f():\n    from ..method import tps  # upward, inside a function\n",
        "method/__init__.py": "",
        "method/tps.py": "try:\n    from .augment import warp\nexcept ImportError:\n    pass\n",  # still a cycle
        "method/augment.py": "from . import tps\nfrom deepsim_lite import cli\n",  # a cycle; an upward import
        "teaching/__init__.py": "",
        "teaching/lessons.py": "from ..method.tps import fit\n" + "x = 1\n" * MAX_MODULE,
        "cli/__init__.py": "",
    })
    assert upward_imports(root) == [
        f"{Path(PACKAGE, 'method', 'augment.py')}:2 (method) imports deepsim_lite.cli (cli)",
        f"{Path(PACKAGE, 'primitives', 'edits.py')}:2 (primitives) imports deepsim_lite.method.tps (method)",
    ]
    assert import_cycles(root) == [["deepsim_lite.method.augment", "deepsim_lite.method.tps",
                                    "deepsim_lite.method.augment"]]
    assert parts_without_a_layer(root) == set()
    _planted(tmp_path, {"plugins.py": "x = 1\n"})
    assert parts_without_a_layer(root) == {"plugins"}
    body = "    x = 1\n" * MAX_FUNCTION
    _planted(tmp_path, {"method/tps.py": f"def long():\n{body}\n\ndef explained():  # one table, kept whole\n{body}"})
    assert oversized(root) == [
        f"{Path(PACKAGE, 'method', 'tps.py')}:1: long() is {MAX_FUNCTION + 1} lines (at most {MAX_FUNCTION} "
        "without a comment on its def line saying why)",
        f"{Path(PACKAGE, 'teaching', 'lessons.py')}: {MAX_MODULE + 1} lines (at most {MAX_MODULE})",
    ]


# -- the public names and the old module paths


def test_the_public_names_resolve_without_a_warning():
    import deepsim_lite as ds
    from deepsim_lite import _moved

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, new in _moved.PUBLIC_MODULES.items():
            assert getattr(ds, name) is importlib.import_module(f"{PACKAGE}.{new}"), name
        for name in ds.__all__:
            assert getattr(ds, name) is not None, name
    assert set(_moved.PUBLIC_MODULES) <= set(dir(ds))
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        ds.no_such_thing  # noqa: B018


@pytest.mark.parametrize("old", ["train", "data", "tps", "lessons", "widgets.state"])
def test_an_old_module_path_still_imports_and_names_its_new_place(old):
    import deepsim_lite as ds
    from deepsim_lite import _moved

    new = _moved.MOVED[old]
    # an old path imported before would not warn again: take it out, and put back afterwards what was there
    saved = [(table, key, table.pop(key)) for table, key in ((sys.modules, f"{PACKAGE}.{old}"),
                                                             (vars(ds), old.split(".")[0])) if key in table]
    try:
        namespace: dict = {}
        with pytest.warns(DeprecationWarning, match=rf"deepsim_lite\.{old} moved to deepsim_lite\.{new[0]}") as caught:
            exec(compile(f"import {PACKAGE}.{old} as module", __file__, "exec"), namespace)  # an import here
        module = namespace["module"]
        assert {w.filename for w in caught} == {__file__}, "the warning points at the line that imported the old path"
        parts = [importlib.import_module(f"{PACKAGE}.{n}") for n in new]
        for part in parts:
            public = getattr(part, "__all__", [n for n in vars(part) if not n.startswith("_")])
            assert all(getattr(module, n) is getattr(part, n) for n in public), part.__name__
        if len(parts) == 1:
            assert module is parts[0]
            assert module.__spec__.name == f"{PACKAGE}.{new[0]}", "the module keeps its own spec (reload works)"
            assert importlib.reload(module) is module
        else:
            _check_merged(module, parts)
    finally:
        for table, key in ((sys.modules, f"{PACKAGE}.{old}"), (vars(ds), old.split(".")[0])):
            table.pop(key, None)
        for table, key, value in saved:
            table[key] = value


def _check_merged(module, parts) -> None:
    """A split module: ``import *`` gives every part's public names; a name patched through the old path is
    patched in the part that defines it, and ``mock.patch`` puts it back on exit."""
    from unittest import mock

    star: dict = {}
    exec(f"from {module.__name__} import *", star)
    assert {n for p in parts for n in p.__all__} <= set(star)
    name = parts[-1].__all__[0]
    original = getattr(parts[-1], name)
    with mock.patch(f"{module.__name__}.{name}", "patched"):
        assert getattr(parts[-1], name) == "patched"
    assert getattr(parts[-1], name) is original


def test_every_moved_module_exists():
    from deepsim_lite import _moved

    for old, new in _moved.MOVED.items():
        for n in new:
            assert importlib.util.find_spec(f"{PACKAGE}.{n}") is not None, f"{old} -> {n}"
        assert not (ROOT / PACKAGE / f"{old.replace('.', '/')}.py").exists(), f"{old}.py is still there"
