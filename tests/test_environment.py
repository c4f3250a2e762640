"""environment.yml (conda, GPU) and pyproject.toml (pip) must name the same packages."""

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda name -> pip name where they differ
CONDA_TO_PIP = {"pytorch": "torch"}
CONDA_ONLY = {"python", "pip", "pytorch-cuda"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_names(extras_skipped=("cpu",)):
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in proj["dependencies"]}
    for extra, reqs in proj["optional-dependencies"].items():
        if extra not in extras_skipped:
            names |= {_name(r) for r in reqs}
    return names


def _environment_names():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names, pip_section = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
        else:
            names.add(CONDA_TO_PIP.get(_name(dep), _name(dep)))
    names |= {_name(r) for r in pip_section if not r.startswith("-e")}
    return names - CONDA_ONLY, pip_section


def test_same_packages_named():
    env, _ = _environment_names()
    proj = _pyproject_names()  # environment.yml is the GPU flavour: faiss-gpu, not faiss-cpu
    assert env == proj, f"only in environment.yml: {env - proj}; only in pyproject.toml: {proj - env}"


def test_environment_installs_the_package_and_has_cuda():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    _, pip_section = _environment_names()
    assert "-e ." in pip_section
    flat = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("pytorch-cuda") for d in flat) and any(d.startswith("faiss-gpu") for d in flat)


def test_extras_requested_by_the_design():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"notebooks", "cpu", "gpu", "test"} <= set(proj)
    assert {_name(r) for r in proj["notebooks"]} >= {"jupyterlab", "ipywidgets", "ipycanvas", "matplotlib"}
    assert {_name(r) for r in proj["test"]} >= {"pytest", "nbval", "hypothesis", "playwright"}
