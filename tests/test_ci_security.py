"""The CI examples are safe to copy: zizmor (static analysis of GitHub Actions) finds
nothing at medium severity or above, and check-jsonschema accepts every file against its
CI system's schema (SchemaStore's GitHub workflow and GitLab CI schemas, which
check-jsonschema ships: --builtin-schema vendor.github-workflows / vendor.gitlab-ci).
Both run offline. The negative cases show each check catches what it is for."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ci_files import CI_ROOT, ci_files, github_files, jobs, load, system

BIN = Path(sys.executable).parent
SCHEMA = {"github": "vendor.github-workflows", "gitlab": "vendor.gitlab-ci"}
# `uses: owner/repo[/path]@<full commit SHA> # vX.Y.Z`
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")


def zizmor(*paths: Path) -> list[dict[str, Any]]:
    """zizmor's findings at medium or above (its default, "regular" persona), offline: no
    GitHub API call, so no online audit (e.g. known-vulnerable action versions) runs."""
    proc = subprocess.run(
        [
            str(BIN / "zizmor"),
            "--offline",
            "--min-severity",
            "medium",
            "--format",
            "json",
            "--no-progress",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # exit 0: nothing found; 10-14: findings (by highest severity); anything else: an error
    assert proc.returncode == 0 or 10 <= proc.returncode <= 14, proc.stderr
    findings: list[dict[str, Any]] = json.loads(proc.stdout)
    assert (proc.returncode == 0) == (findings == []), (proc.returncode, findings)
    return findings


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", SCHEMA[system(path)], str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_zizmor_finds_nothing() -> None:
    findings = zizmor(*github_files())
    assert [(f["ident"], f["determinations"]["severity"]) for f in findings] == []


@pytest.mark.parametrize("path", ci_files(), ids=lambda p: str(p.relative_to(CI_ROOT)))
def test_ci_file_matches_its_schema(path: Path) -> None:
    proc = check_jsonschema(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", github_files(), ids=lambda p: str(p.relative_to(CI_ROOT)))
def test_actions_pinned_by_sha_with_version(path: Path) -> None:
    """Every `uses:` names a full commit SHA and, in its comment, the release it is (the
    SHAs were read from the actions' repositories: `git rev-parse <tag>^{commit}`)."""
    lines = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert lines
    assert [line for line in lines if not PINNED.match(line)] == []


@pytest.mark.parametrize("path", github_files(), ids=lambda p: str(p.relative_to(CI_ROOT)))
def test_no_secrets_no_expressions_in_scripts(path: Path) -> None:
    """No `${{ }}` inside a run: script (contexts go through env:); no stored secret but
    the job's own token (cloud credentials come from OIDC), except in a step's env: of a job
    bound to a GitHub environment, whose protection rules guard that environment's secrets
    (the KFP token of `deploy pipelines`); checkout keeps its credentials only in a job that
    pushes; every job's permissions are stated (its own, or the workflow's)."""
    workflow_permissions = "permissions" in load(path)
    for job in jobs(path):
        stored = re.findall(r"secrets\.(?!GITHUB_TOKEN\b)\w+", json.dumps(job.body))
        in_step_env = re.findall(
            r"secrets\.\w+",
            json.dumps([s.get("env", {}) for s in job.body.get("steps", [])]),
        )
        assert stored == [] or ("environment" in job.body and len(stored) == len(in_step_env)), (
            f"{job.name}: stored secrets {stored} outside an environment's step env"
        )
        assert [s for s in job.scripts if "${{" in s] == [], job.name
        persisted = [
            s
            for s in job.body.get("steps", [])
            if "actions/checkout@" in s.get("uses", "")
            and s.get("with", {}).get("persist-credentials") is not False
        ]
        pushes = any(re.search(r"--push\b|\bgit push\b", s) for s in job.scripts)
        assert bool(persisted) <= pushes, f"{job.name}: checkout keeps credentials, no push"
        assert "permissions" in job.body or workflow_permissions, f"{job.name}: permissions"


def _copy(tmp_path: Path, path: Path) -> Path:
    dest = tmp_path / ".github" / "workflows" / path.name
    dest.parent.mkdir(parents=True)
    shutil.copy(path, dest)
    return dest


@pytest.mark.parametrize(
    ("change", "ident"),
    [
        # an action by tag, not by commit
        (
            lambda t: re.sub(r"(actions/checkout)@[0-9a-f]{40}", r"\1@v7", t, count=1),
            "unpinned-uses",
        ),
        # a context expanded inside a script: template injection
        (
            lambda t: t.replace(
                '--base "origin/$BASE_REF"', '--base "origin/${{ github.head_ref }}"'
            ),
            "template-injection",
        ),
        # credentials left in .git for every later step (checkout's default)
        (
            lambda t: t.replace("\n          persist-credentials: false", "", 1),
            "artipacked",
        ),
    ],
    ids=["unpinned", "injection", "persisted-credentials"],
)
def test_zizmor_catches_each_mistake(tmp_path: Path, change: Any, ident: str) -> None:
    source = CI_ROOT / "github" / "modelkiln.yml"
    copy = _copy(tmp_path, source)
    changed = change(source.read_text())
    assert changed != source.read_text()
    copy.write_text(changed)
    assert ident in {f["ident"] for f in zizmor(copy)}


def test_check_jsonschema_catches_a_wrong_key(tmp_path: Path) -> None:
    for path, (old, new) in [
        (CI_ROOT / "github" / "modelkiln.yml", ("runs-on:", "run-on:")),
        (CI_ROOT / "gitlab" / ".gitlab-ci.yml", ("when: manual", "when: by-hand")),
    ]:
        copy = tmp_path / system(path) / path.name
        copy.parent.mkdir()
        copy.write_text(path.read_text().replace(old, new, 1))
        # same folder layout, so system() still says which schema
        proc = subprocess.run(
            [str(BIN / "check-jsonschema"), "--builtin-schema", SCHEMA[system(path)], str(copy)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 1, proc.stdout
