"""modelkiln installed the way users install it.

The sdist and the wheel are built as a release builds them (`python -m build`: the wheel is
built from the sdist, so a file missing from the sdist is missing from the wheel too), from
a copy of the repository's files (never from stale build state in the work tree). The wheel
is installed into a fresh venv, not editable, with its dependencies from the package index
(pip's cache makes it faster); then the installed `modelkiln` compiles every example and a
fresh `modelkiln init` repository, and the output must equal, byte for byte and
manifest.json included, what the editable install (the source tree) writes for the same
repository and `--out` layout. One build and one venv serve the whole module (~40 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler import __version__
from tests.conftest import EXAMPLES, REPO
from tests.kfp_helpers import read_tree

pytestmark = pytest.mark.packaging

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=t@example.com"]
# every example project (examples/broken and examples/ci hold no Project at their root)
EXAMPLE_PROJECTS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "modelkiln.yaml").is_file())
REPOSITORIES = [*EXAMPLE_PROJECTS, "init"]


def _environment() -> dict[str, str]:
    """This process's environment without what would point Python at the source tree."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(command: list[str | Path], cwd: Path, timeout: float = 120) -> str:
    proc = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{command} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Installed:
    """The fresh venv the wheel is installed in."""

    venv: Path
    scratch: Path  # the working folder of its commands: not the source tree

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def modelkiln(self, *args: str | Path) -> str:
        return _run([self.venv / "bin" / "modelkiln", *args], cwd=self.scratch)


def from_source(*args: str | Path) -> str:
    """modelkiln from the editable install: the test venv running the source tree."""
    return _run([sys.executable, "-m", "compiler", *args], cwd=REPO)


def _repository_files() -> list[str]:
    """The files a checkout has: tracked or new, not ignored, not deleted."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO)
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    source = tmp_path_factory.mktemp("source")
    for name in _repository_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, source], cwd=source, timeout=600)
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(out.iterdir())
    return Dist(sdists[0], wheels[0])


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    venv = tmp_path_factory.mktemp("venv")
    scratch = tmp_path_factory.mktemp("scratch")
    # the test venv's pip installs into the new venv: the same result, without ensurepip
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=scratch)
    python = venv / "bin" / "python"
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install"]
    _run([*pip, "--no-input", dist.wheel], cwd=scratch, timeout=900)
    return Installed(venv, scratch)


def _templates() -> list[str]:
    root = REPO / "templates"
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.j2"))
    assert names, "no templates in templates/"
    return names


def test_the_package_list_covers_every_folder() -> None:
    """pyproject lists its packages (compiler.templates is mapped from templates/), so a new
    folder must be added there; this finds one that was not."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"compiler.templates": "templates"}
    folders = {"compiler": REPO / "compiler", "compiler.templates": REPO / "templates"}
    expected = set()
    for package, root in folders.items():
        for folder in [root, *root.rglob("*")]:
            if folder.is_dir() and folder.name != "__pycache__":
                parts = folder.relative_to(root).parts
                expected.add(".".join((package, *parts)))
    assert sorted(config["packages"]) == sorted(expected)


def test_the_editable_install_reads_the_templates_from_the_source_tree() -> None:
    code = "import importlib.resources as r; print(r.files('compiler.templates'))"
    found = _run([sys.executable, "-c", code], cwd=REPO.parent).strip()
    assert Path(found) == REPO / "templates"


def test_the_sdist_carries_the_templates_and_the_license(dist: Dist) -> None:
    top = f"modelkiln-{__version__}"
    assert dist.sdist.name == f"{top}.tar.gz"
    with tarfile.open(dist.sdist) as sdist:
        names = set(sdist.getnames())
        license_file = sdist.extractfile(f"{top}/LICENSE")
        assert license_file is not None
        assert license_file.read() == (REPO / "LICENSE").read_bytes()
    missing = [t for t in _templates() if f"{top}/templates/{t}" not in names]
    assert missing == []
    assert f"{top}/compiler/__main__.py" in names


def test_the_wheel_carries_the_templates_inside_the_package(dist: Dist) -> None:
    info = f"modelkiln-{__version__}.dist-info"
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"{info}/METADATA").decode()
        license_text = wheel.read(f"{info}/licenses/LICENSE")
    assert [t for t in _templates() if f"compiler/templates/{t}" not in names] == []
    assert sorted(n for n in names if not n.startswith(("compiler/", f"{info}/"))) == []
    assert license_text == (REPO / "LICENSE").read_bytes()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()


def test_the_installed_package_is_the_wheel(installed: Installed) -> None:
    code = (
        "import compiler, importlib.resources as r; "
        "print(compiler.__file__); print(r.files('compiler.templates'))"
    )
    lines = _run([installed.python, "-c", code], cwd=installed.scratch).splitlines()
    site = installed.venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert [Path(line) for line in lines] == [
        site / "site-packages" / "compiler" / "__init__.py",
        site / "site-packages" / "compiler" / "templates",
    ]


def test_the_installed_version(installed: Installed) -> None:
    expected = f"modelkiln, version {__version__}\n"
    assert installed.modelkiln("--version") == expected
    module = _run([installed.python, "-m", "compiler", "--version"], cwd=installed.scratch)
    assert module == expected
    assert from_source("--version") == expected


def _repository(installed: Installed, name: str, root: Path) -> Path:
    """A committed copy of an example, or a repository made by the installed `init`."""
    repo = root / name
    if name == "init":
        installed.modelkiln("init", repo, "--name", "starter")
        made_by_source = root / "init-by-source"
        from_source("init", made_by_source, "--name", "starter")
        assert read_tree(repo) == read_tree(made_by_source)
    else:
        shutil.copytree(EXAMPLES / name, repo)
    _run([*GIT, "init", "-q"], cwd=repo)
    _run([*GIT, "add", "-A"], cwd=repo)
    _run([*GIT, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "specs"], cwd=repo)
    return repo


def _versions(python: str | Path) -> dict[str, str]:
    listed = _run(
        [sys.executable, "-m", "pip", "--python", python, "list", "--format=freeze"], REPO
    )
    return dict(line.split("==", 1) for line in listed.splitlines() if "==" in line)


def _other_versions(installed: Installed) -> str:
    """For a failure message: the packages installed in other versions than in the test venv
    (a dependency released since the test venv was made can change the output)."""
    ours, theirs = _versions(sys.executable), _versions(installed.python)
    return "other versions in the fresh venv: " + ", ".join(
        f"{name} {ours[name]} -> {theirs[name]}"
        for name in sorted(ours.keys() & theirs.keys())
        if ours[name] != theirs[name]
    )


@pytest.mark.parametrize("name", REPOSITORIES)
def test_the_installed_compile_equals_the_source_tree(
    installed: Installed, name: str, tmp_path: Path
) -> None:
    repo = _repository(installed, name, tmp_path)
    installed.modelkiln("compile", repo, "--out", tmp_path / "wheel" / "out")
    from_source("compile", repo, "--out", tmp_path / "editable" / "out")
    by_wheel = read_tree(tmp_path / "wheel" / "out")
    by_source = read_tree(tmp_path / "editable" / "out")
    differing = sorted(
        p
        for p in by_wheel.keys() | by_source.keys()
        if p not in by_wheel or by_wheel[p] != by_source.get(p)
    )
    assert differing == [], _other_versions(installed)
    assert any(p.endswith("/terraform/main.tf") for p in by_wheel)  # the templates' output
    # manifest.json is compared whole above; it records the same compiler and commit
    head = _run(["git", "rev-parse", "HEAD"], cwd=repo).strip()
    manifest = by_wheel["manifest.json"].decode()
    assert f'"sourceCommit": "{head}"' in manifest
    assert f'"compiler": "modelkiln {__version__}"' in manifest
