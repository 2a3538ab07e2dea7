"""The drift job's image (images/drift/): it pins exactly what the job imports, by version
and hash, runs as the user the CronJob names, and nothing is installed when the job runs."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.targets import kubernetes
from compiler.targets.serving import drift
from tests.conftest import REPO, copy_example
from tests.kfp_helpers import files_of, yaml_docs

IMAGE = REPO / "images" / "drift"
JOB = REPO / "compiler" / "targets" / "serving"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>[0-9][0-9A-Za-z.]*)\s*\\?$")
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"numpy": "numpy", "pyarrow": "pyarrow"}


def requirements() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of images/drift/requirements.txt."""
    out: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in (IMAGE / "requirements.txt").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            current = match["name"].lower()
            out[current] = (match["version"], [])
        else:
            hashes = re.fullmatch(r"--hash=sha256:([0-9a-f]{64})\s*\\?", line)
            assert hashes and current, f"requirements.txt: cannot read {raw!r}"
            out[current][1].append(hashes[1])
    return out


def third_party_imports() -> set[str]:
    """The top-level modules the job's files import that are not the standard library or
    the job's own files."""
    own = {Path(name).stem for name in drift.SCRIPTS}
    found: set[str] = set()
    for name in drift.SCRIPTS:
        for node in ast.walk(ast.parse((JOB / name).read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in own}


def test_the_pins_are_what_the_job_imports() -> None:
    assert third_party_imports() == {"numpy", "pyarrow"}
    pinned = requirements()
    assert set(pinned) == {DISTRIBUTIONS[m] for m in third_party_imports()}
    for name, (version, hashes) in pinned.items():
        assert len(hashes) >= 2, f"{name}=={version}: a hash per platform (x86_64, aarch64)"


def test_the_job_runs_with_the_pinned_versions_here() -> None:
    """The suite tests the job with the versions the image ships (else the pins are stale)."""
    import numpy
    import pyarrow

    pinned = requirements()
    assert (numpy.__version__, pyarrow.__version__) == (pinned["numpy"][0], pinned["pyarrow"][0])


def dockerfile() -> list[str]:
    text = (IMAGE / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_dockerfile_installs_by_hash_and_drops_pip() -> None:
    lines = dockerfile()
    installs = [line for line in lines if "pip install" in line]
    assert len(installs) == 1
    for flag in (
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        "-r /tmp/requirements.txt",
    ):
        assert flag in installs[0]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    assert not any("pip install" in line for line in final_stage)
    assert any("pip uninstall --yes pip" in line for line in final_stage)
    assert "ENTRYPOINT" not in " ".join(final_stage) or 'ENTRYPOINT ["python"]' in final_stage


def test_the_image_user_is_the_cronjobs() -> None:
    users = [line.split()[1] for line in dockerfile() if line.startswith("USER ")]
    uid = kubernetes.NON_ROOT_UID
    assert users == [f"{uid}:{uid}"] and uid >= 10000


def _cron_job(root: Path) -> dict[str, Any]:
    files = files_of(str(root))  # an absolute path: the copy, not an example
    path = next(p for p in files if p.endswith("serving/drift.yaml"))
    doc: dict[str, Any] = yaml_docs(files[path])[1]
    return doc


@pytest.mark.parametrize("install_packages", [True, False])
def test_nothing_is_installed_when_the_job_runs(tmp_path: Path, install_packages: bool) -> None:
    root = copy_example(tmp_path, "quickstart")
    project = root / "modelkiln.yaml"
    project.write_text(
        project.read_text()
        + f"  pipelines:\n    installPackages: {str(install_packages).lower()}\n"
    )
    pod = _cron_job(root)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == [
        "python",
        "/etc/modelkiln/drift_job.py",
        "--config",
        "/etc/modelkiln/drift.json",
    ]
    assert "pip" not in " ".join(container["command"] + container.get("args", []))
    assert container["image"] == "ghcr.io/modelkiln/drift:0.2.0"
    assert container["imagePullPolicy"] == "Always"  # a tag can move


def test_a_digest_is_pulled_if_not_present(tmp_path: Path) -> None:
    root = copy_example(tmp_path, "quickstart")
    image = "registry.acme.internal/modelkiln/drift@sha256:" + "a" * 64
    project = root / "modelkiln.yaml"
    project.write_text(project.read_text() + f"  pipelines:\n    images:\n      drift: {image}\n")
    container = _cron_job(root)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert (container["image"], container["imagePullPolicy"]) == (image, "IfNotPresent")


def test_the_configmap_ships_every_file_the_job_imports() -> None:
    config_map = yaml_docs(files_of("quickstart")["prod/models/fraud-detector/serving/drift.yaml"])[
        0
    ]
    assert set(config_map["data"]) == {"drift.json", *drift.SCRIPTS}
    for name in drift.SCRIPTS:
        assert config_map["data"][name] == (JOB / name).read_text()
