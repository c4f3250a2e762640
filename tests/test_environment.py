"""The install recipes agree with each other and with the code.

Four sources, each parsed on its own: environment.yml (conda, GPU), pyproject.toml (pip), the Makefile (torch pin,
EXTRAS) and the imports in deepsim_lite/. Each test compares two of them.
"""

import ast
import importlib.metadata
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
# conda name -> pip name where they differ
CONDA_TO_PIP = {"pytorch": "torch"}
# conda packages with no pip counterpart in pyproject.toml
CONDA_ONLY = {"python", "pip", "pytorch-cuda"}
# environment.yml is the GPU flavour: faiss-gpu (the `gpu` extra), not the `cpu` extra's faiss-cpu
EXTRAS_NOT_IN_CONDA = ("cpu",)


def _lower_bound(constraints: list[tuple[str, str]]) -> Version | None:
    """The greatest lower bound among ``(operator, version)`` constraints (>=, ==, ~=, = count), if any."""
    bounds = [Version(v.rstrip(".*")) for op, v in constraints if op in (">=", "==", "~=", "=")]
    return max(bounds, default=None)


def parse_pyproject(text: str) -> dict[str, tuple[str, Version | None]]:
    """pyproject.toml -> ``{pip name: (where, lower bound)}`` over the dependencies and every extra
    (``where`` is ``"dependencies"`` or the extra's name); read with ``packaging``'s PEP 508 parser."""
    proj = tomllib.loads(text)["project"]
    groups = {"dependencies": proj["dependencies"], **proj.get("optional-dependencies", {})}
    out = {}
    for where, reqs in groups.items():
        for line in reqs:
            req = Requirement(line)
            bound = _lower_bound([(s.operator, s.version) for s in req.specifier])
            out[canonicalize_name(req.name)] = (where, bound)
    return out


_CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>.*)$")
_CONSTRAINT = re.compile(r"^(>=|<=|==|!=|~=|=|<|>)\s*([0-9][\w.*+-]*)$")


def parse_environment(text: str) -> tuple[dict[str, Version | None], list[str]]:
    """environment.yml -> ``({pip name: lower bound}, pip section)``, conda specs read by hand
    (``[channel::]name[ ]op version[,op version]``), conda names mapped to pip names."""
    env = yaml.safe_load(text)
    out, pip_section = {}, []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = [str(r) for r in dep["pip"]]
            continue
        m = _CONDA_SPEC.match(str(dep).strip())
        assert m, f"environment.yml: cannot read the conda spec {dep!r}"
        constraints = []
        for part in filter(None, (p.strip() for p in m["spec"].split(","))):
            c = _CONSTRAINT.match(part)
            assert c, f"environment.yml: cannot read the version constraint {part!r} of {dep!r}"
            constraints.append((c[1], c[2]))
        name = canonicalize_name(m["name"])
        out[CONDA_TO_PIP.get(name, name)] = _lower_bound(constraints)
    for line in pip_section:
        if not line.startswith("-"):
            req = Requirement(line)
            out[canonicalize_name(req.name)] = _lower_bound([(s.operator, s.version) for s in req.specifier])
    return out, pip_section


def parse_makefile_pin(text: str) -> dict[str, Version]:
    """The Makefile's ``TORCH := torch==X torchvision==Y`` -> ``{name: version}``."""
    m = re.search(r"^TORCH\s*:?=\s*(.+)$", text, re.M)
    assert m, "the Makefile has no TORCH := ... line"
    pins = {}
    for word in m[1].split():
        name, sep, version = word.partition("==")
        assert sep and version, f"Makefile TORCH: {word!r} is not name==version"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def top_level_imports(source: str) -> set[str]:
    """Absolute imports at module level (also under a module-level ``if``/``try``) -> first name component."""
    names, todo = set(), list(ast.parse(source).body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [stmt for h in getattr(node, "handlers", []) for stmt in h.body]
    return names


def undeclared_imports(sources: dict[str, str], declared: set[str]) -> dict[str, str]:
    """``{file: problem}`` for third-party top-level imports not provided by a distribution in ``declared``."""
    dists = importlib.metadata.packages_distributions()
    problems = {}
    for path, source in sources.items():
        for mod in sorted(top_level_imports(source) - set(sys.stdlib_module_names) - {"deepsim_lite", "__future__"}):
            providers = {canonicalize_name(d) for d in dists.get(mod, [])}
            if not providers:
                problems[f"{path}: {mod}"] = "not installed, so no distribution is known to provide it"
            elif not providers & declared:
                problems[f"{path}: {mod}"] = f"provided by {sorted(providers)}, none of them declared"
    return problems


def _pyproject():
    return parse_pyproject((ROOT / "pyproject.toml").read_text())


def _environment():
    return parse_environment((ROOT / "environment.yml").read_text())


def _conda_comparable(proj):
    return {n: b for n, (where, b) in proj.items() if where not in EXTRAS_NOT_IN_CONDA}


def test_same_packages_named():
    env, _ = _environment()
    env = {n: b for n, b in env.items() if n not in CONDA_ONLY}
    proj = _conda_comparable(_pyproject())
    assert env.keys() == proj.keys(), (
        f"only in environment.yml: {sorted(env.keys() - proj.keys())}; "
        f"only in pyproject.toml: {sorted(proj.keys() - env.keys())}"
    )


def test_same_lower_bounds():
    env, _ = _environment()
    proj = _conda_comparable(_pyproject())
    both = {n for n in env.keys() & proj.keys() if env[n] is not None and proj[n] is not None}
    assert {"torch", "torchvision", "numpy", "faiss-gpu", "lpips", "pytest"} <= both  # the check is not vacuous
    differ = {n: (str(env[n]), str(proj[n])) for n in both if env[n] != proj[n]}
    assert not differ, f"lower bounds differ, (environment.yml, pyproject.toml): {differ}"


def test_environment_python_satisfies_requires_python():
    env, _ = _environment()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert env["python"] is not None and Requirement(f"python{requires}").specifier.contains(env["python"])


def test_makefile_torch_pin_satisfies_pyproject():
    pins = parse_makefile_pin((ROOT / "Makefile").read_text())
    assert set(pins) == {"torch", "torchvision"}, f"Makefile TORCH pins {sorted(pins)}"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = {canonicalize_name(r.name): r for r in map(Requirement, deps)}
    for name, pin in pins.items():
        assert name in reqs, f"the Makefile pins {name} but pyproject.toml does not depend on it"
        assert reqs[name].specifier.contains(pin), f"the Makefile pins {name}=={pin}, pyproject.toml asks {reqs[name]}"


def test_makefile_extras_exist():
    m = re.search(r"^EXTRAS\s*:?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert m and set(m[1].split(",")) <= set(extras), f"Makefile EXTRAS={m and m[1]}; pyproject.toml has {set(extras)}"


def test_package_imports_are_declared_dependencies():
    """Every third-party module imported at module level by the package comes from a declared dependency:
    the core dependencies for every module outside the widgets (``import deepsim_lite`` needs no extra), the
    core ones or the notebooks extra for the widgets."""
    proj = _pyproject()
    core = {n for n, (where, _) in proj.items() if where == "dependencies"}
    widgets = core | {n for n, (where, _) in proj.items() if where == "notebooks"}
    pkg = ROOT / "deepsim_lite"
    widgets_dir = pkg / "teaching" / "widgets"
    every = {str(p.relative_to(ROOT)): p.read_text() for p in sorted(pkg.rglob("*.py"))}
    widget_modules = {k: v for k, v in every.items() if Path(ROOT / k).is_relative_to(widgets_dir)}
    modules = {k: v for k, v in every.items() if k not in widget_modules}
    assert "deepsim_lite/method/tps.py" in modules and "deepsim_lite/teaching/widgets/editor.py" in widget_modules
    problems = undeclared_imports(modules, core) | undeclared_imports(widget_modules, widgets)
    assert not problems, problems


def test_environment_installs_the_package_and_has_cuda():
    _, pip_section = _environment()
    assert "-e ." in pip_section
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    flat = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("pytorch-cuda") for d in flat) and any(d.startswith("faiss-gpu") for d in flat)


def test_extras_requested_by_the_design():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"notebooks", "cpu", "gpu", "test"} <= set(proj)
    assert {Requirement(r).name for r in proj["notebooks"]} >= {"jupyterlab", "ipywidgets", "anywidget", "matplotlib"}
    assert {Requirement(r).name for r in proj["test"]} >= {"pytest", "nbval", "hypothesis", "playwright"}


def test_parsers_and_import_check_on_known_text():
    env, pip = parse_environment(
        "dependencies:\n  - python=3.11\n  - conda-forge::pytorch >=2.3,<3\n  - Scikit_Image\n"
        "  - pip:\n      - lpips>=0.1.4\n      - -e .\n"
    )
    assert env == {"python": Version("3.11"), "torch": Version("2.3"), "scikit-image": None, "lpips": Version("0.1.4")}
    assert pip == ["lpips>=0.1.4", "-e ."]
    with pytest.raises(AssertionError, match="cannot read the version constraint"):
        parse_environment("dependencies:\n  - numpy>=1.24 *cuda*\n")
    proj = parse_pyproject('[project]\ndependencies = ["torch>=2.1,<3", "tqdm"]\n[project.optional-dependencies]\n'
                           'cpu = ["faiss-cpu~=1.7.4"]\n')
    assert proj == {"torch": ("dependencies", Version("2.1")), "tqdm": ("dependencies", None),
                    "faiss-cpu": ("cpu", Version("1.7.4"))}
    assert parse_makefile_pin("X := 1\nTORCH  := torch==2.0.1 torchvision==0.15.2\n") == {
        "torch": Version("2.0.1"), "torchvision": Version("0.15.2")}
    src = "import os\nimport numpy as np\nfrom . import tps\ntry:\n    import yaml\nexcept ImportError:\n    pass\n"
    assert top_level_imports(src + "def f():\n    import lpips\n") == {"os", "numpy", "yaml"}
    core = {n for n, (where, _) in _pyproject().items() if where == "dependencies"}
    assert list(undeclared_imports({"x.py": src}, core)) == ["x.py: yaml"]  # pyyaml: only the test extra has it
    assert "not installed" in undeclared_imports({"x.py": "import not_a_module_xyz"}, core)["x.py: not_a_module_xyz"]


def test_the_editor_front_end_ships_in_the_wheel():
    """canvas.js is package data (a wheel without it gives an editor with a blank canvas)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = data["deepsim_lite.teaching.widgets"]
    js = ROOT / "deepsim_lite" / "teaching" / "widgets" / "canvas.js"
    assert js.is_file() and any(Path(js.name).match(p) for p in patterns)
    assert "export default { render }" in js.read_text()  # the module anywidget loads


def test_every_subpackage_is_in_the_wheel():
    """pyproject lists the packages by name (the sample data is mapped in as one): a new subpackage missing
    from the list would be missing from the wheel, and its imports would fail only after installation."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "deepsim_lite").rglob("__init__.py")}
    assert found - listed == set(), f"subpackages missing from pyproject's packages: {sorted(found - listed)}"
    assert listed - found == {"deepsim_lite.sample_data"}, f"listed but not in the tree: {sorted(listed - found)}"
