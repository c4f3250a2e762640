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
    """A module of 0.6 that was split: each name is read from, and assigned to, the part that holds it now
    (so ``monkeypatch.setattr(old_module, name, ...)`` still reaches the code that uses ``name``)."""

    def __init__(self, name: str, parts: list[types.ModuleType]) -> None:
        super().__init__(name, f"The names of {', '.join(p.__name__ for p in parts)} (moved from {name}).")
        object.__setattr__(self, "_parts", parts)

    def _owner(self, name: str) -> types.ModuleType | None:
        """The part that defines ``name`` (a part may also import it from another), else the first that has it."""
        having = [p for p in self._parts if name in vars(p)]
        defining = [p for p in having if getattr(vars(p)[name], "__module__", None) == p.__name__]
        return (defining or having or [None])[0]

    def __getattr__(self, name: str):
        owner = None if name.startswith("__") else self._owner(name)
        if owner is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        return getattr(owner, name)

    def __setattr__(self, name: str, value) -> None:
        owner = None if name.startswith("__") else self._owner(name)
        setattr(owner, name, value) if owner is not None else super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({n for p in self._parts for n in dir(p)})


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
        warnings.warn(f"{spec.name} moved to {' and '.join(targets)} in 0.7; import it from there (the public "
                      f"names such as ds.{old.split('.')[0]} stay); the old path goes in 0.8",
                      DeprecationWarning, stacklevel=_importer_stacklevel())
        modules = [importlib.import_module(t) for t in targets]
        if len(modules) == 1:
            return modules[0]  # the same module object: a patch through either path patches both
        return _Merged(spec.name, modules)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: :meth:`create_module` returned a module that is already loaded."""


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once): before the path finder, which would otherwise load
    ``deepsim_lite.widgets.state`` a second time from the moved package's folder."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
