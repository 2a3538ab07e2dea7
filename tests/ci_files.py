"""The CI examples under examples/ci/, read as their CI systems read them: every file, sorted
into GitHub Actions workflows (github/) and GitLab CI files (gitlab/), and the shell
scripts their jobs run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import EXAMPLES

CI_ROOT = EXAMPLES / "ci"
# GitLab keywords that are not jobs (https://docs.gitlab.com/ci/yaml/).
GITLAB_GLOBAL = {
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
}


def ci_files() -> list[Path]:
    """Every file under examples/ci (dotfiles too), so a new example is checked at once."""
    files = sorted(p for p in CI_ROOT.rglob("*") if p.is_file())
    assert files, CI_ROOT
    return files


def system(path: Path) -> str:
    """'github' or 'gitlab': the folder under examples/ci says which."""
    kind = path.relative_to(CI_ROOT).parts[0]
    assert kind in ("github", "gitlab"), f"{path}: put CI examples under github/ or gitlab/"
    return kind


def github_files() -> list[Path]:
    return [p for p in ci_files() if system(p) == "github"]


def gitlab_files() -> list[Path]:
    return [p for p in ci_files() if system(p) == "gitlab"]


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe", pure=True).load(path.read_text())
    assert isinstance(data, dict), path
    return data


@dataclass(frozen=True)
class Job:
    name: str
    body: dict[str, Any]
    scripts: tuple[str, ...]  # the shell scripts it runs, in order


def _as_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def jobs(path: Path) -> list[Job]:
    data = load(path)
    if system(path) == "github":
        return [
            Job(name, body, tuple(s["run"] for s in body.get("steps", []) if "run" in s))
            for name, body in data["jobs"].items()
        ]
    templates = {k: v for k, v in data.items() if k.startswith(".")}
    default = data.get("default", {})
    found = []
    for name, body in data.items():
        if name in GITLAB_GLOBAL or name.startswith(".") or not isinstance(body, dict):
            continue
        merged = dict(default)
        for parent in _as_lines(body.get("extends")):
            merged.update(templates[parent])
        merged.update(body)
        scripts = [
            *_as_lines(merged.get("before_script")),
            *_as_lines(merged.get("script")),
            *_as_lines(merged.get("after_script")),
        ]
        found.append(Job(name, merged, tuple(scripts)))
    return found
