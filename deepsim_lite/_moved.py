"""Module paths of 0.6 and before (every module flat in ``deepsim_lite/``) and where each lives now.

0.7 put the modules into layers (``primitives/``, ``method/``, ``analysis/``, ``teaching/``; see
docs/architecture.md). The old paths keep working for one release: ``import deepsim_lite.train`` or
``from deepsim_lite.tps import fit_tps`` gives the module at its new place and a ``DeprecationWarning`` naming
it. The public names do not warn: ``ds.tps``, ``from deepsim_lite import knn`` (the package resolves them,
see ``PUBLIC_MODULES``). A module that was split (``data``, ``train``, ``lessons``) comes back
as one module that reads and writes each name on the part that holds it now. The old paths go in 0.8.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

PACKAGE = "deepsim_lite"

# The concept names ``ds.<name>`` resolves (lazily, without a warning): old flat name -> module now.
PUBLIC_MODULES = {
    "features": "weights.backbones",
    "extract": "primitives.extract",
    "drawn": "primitives.drawn",
    "edits": "primitives.edits",
    "tps": "method.tps",
    "augment": "method.augment",
    "nets": "method.nets",
    "losses": "method.losses",
    "config": "method.config",
    "model": "method.model",
    "rundir": "method.rundir",
    "cache": "method.cache",
    "viz": "method.viz",
    "train": "method.train",
    "metrics": "analysis.metrics",
    "patches": "analysis.patches",
    "knn": "analysis.knn",
    "patchnn": "analysis.patchnn",
    "video": "analysis.video",
    "heldout": "analysis.heldout",
    "failure_modes": "analysis.failure_modes",
    "sweep": "analysis.sweep",
    "lessons": "teaching.lessons",
    "exercises": "teaching.exercises",
    "widgets": "teaching.widgets",
}

# Old module path (under deepsim_lite) -> the module(s) that hold its names now.
MOVED: dict[str, tuple[str, ...]] = {
    **{old: (new,) for old, new in PUBLIC_MODULES.items()},
    "data": ("primitives.images", "primitives.pairs", "primitives.samples"),
    "train": ("method.train", "method.step", "method.checkpoints"),
    "lessons": ("teaching.lessons", "teaching.student", "teaching.exercises"),
    "widgets.state": ("teaching.widgets.state",),
    "widgets.editor": ("teaching.widgets.editor",),
    "widgets.canvas": ("teaching.widgets.canvas",),
    "widgets.renderer": ("teaching.widgets.renderer",),
}


def _importer_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the line that imported the old path. ``warnings`` itself
    skips importlib's frames when it counts, so only this module's own frames are counted here."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename == __file__
                                 or frame.f_code.co_filename.startswith("<frozen importlib")):
        level += frame.f_code.co_filename == __file__
        frame = frame.f_back
    return level


class _Merged(types.ModuleType):
    """A module of 0.6 that was split: each name is read from, assigned to and deleted from the part that
    defines it now (a part may also import a name from another; the defining one owns it). A patch through the
    old path therefore changes the defining module's binding; code in another part that imported the name keeps
    its own (patch where the name is looked up, as always)."""

    def __init__(self, name: str, parts: list[types.ModuleType]) -> None:
        super().__init__(name, f"The names of {', '.join(p.__name__ for p in parts)} (moved from {name}).")
        owners: dict[str, types.ModuleType] = {}
        for part in parts:
            for key, value in vars(part).items():
                if key.startswith("__"):
                    continue
                defines = getattr(value, "__module__", None) == part.__name__
                if key not in owners or (defines and getattr(vars(owners[key])[key], "__module__", None)
                                         != owners[key].__name__):
                    owners[key] = part
        public = [n for p in parts for n in getattr(p, "__all__", ())]
        object.__setattr__(self, "_owners", owners)
        object.__setattr__(self, "__all__", list(dict.fromkeys(public)))  # `from old import *` as in 0.6

    def __getattr__(self, name: str):
        owner = self._owners.get(name)
        if owner is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return getattr(owner, name)

    def __setattr__(self, name: str, value) -> None:
        owner = None if name.startswith("__") else self._owners.get(name)
        setattr(owner, name, value) if owner is not None else super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        owner = None if name.startswith("__") else self._owners.get(name)
        delattr(owner, name) if owner is not None else super().__delattr__(name)

    def __dir__(self) -> list[str]:
        return sorted({*self._owners, *vars(self)})


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers only the old paths in :data:`MOVED`; every other import goes on to Python's own finders."""

    def find_spec(self, fullname: str, path=None, target=None):
        old = fullname.removeprefix(PACKAGE + ".")
        if fullname.startswith(PACKAGE + ".") and old in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec) -> types.ModuleType:
        old = spec.name.removeprefix(PACKAGE + ".")
        targets = [f"{PACKAGE}.{new}" for new in MOVED[old]]
        public = f" (the public name ds.{old} stays)" if old in PUBLIC_MODULES else ""
        warnings.warn(f"{spec.name} moved to {' and '.join(targets)} in 0.7; import it from there{public}; the old "
                      "path goes in 0.8",
                      DeprecationWarning, stacklevel=_importer_stacklevel())
        modules = [importlib.import_module(t) for t in targets]
        if len(modules) == 1:
            spec.loader_state = modules[0].__spec__  # importlib sets __spec__ to this spec: exec_module puts it back
            return modules[0]  # the same module object: a patch through either path patches both
        return _Merged(spec.name, modules)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run (:meth:`create_module` returned a module that is already loaded); a moved module gets
        its own spec back, so reloading it, its relative imports and ``importlib.resources`` keep working."""
        original = getattr(module.__spec__, "loader_state", None)
        if original is not None:
            module.__spec__ = original


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once): before the path finder, which would otherwise load
    ``deepsim_lite.widgets.state`` a second time from the moved package's folder."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
