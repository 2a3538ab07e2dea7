"""The incremental drift gate, `compile --check --changed-since BASE`, on real git: BASE is
main with its compiled output committed (it passed the gate when it merged); each test is
a pull request on top of it. The gate must trust BASE's committed output only, never the
pull request's own manifest.json."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.cli_helpers import run
from tests.conftest import committed_example
from tests.test_gitops import git

OUT = "deploy"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: the multi-cloud example and its output, committed; then a PR branch."""
    repo = committed_example(tmp_path)
    assert run("compile", repo).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "output")
    git(repo, "checkout", "-q", "-b", "pr")
    return repo


def gate(repo: Path, base: str = "main") -> tuple[int, list[str]]:
    proc = run("compile", repo, "--check", "--changed-since", base)
    assert proc.stderr == "", proc.stderr
    return proc.returncode, proc.stdout.splitlines()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_clean_pull_request_passes_and_renders_only_its_model(repo: Path) -> None:
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: 2.0.4")
    assert run("compile", repo).returncode == 0
    git(repo, "commit", "-q", "-am", "churn 2.0.4")
    code, lines = gate(repo)
    assert code == 0, lines
    assert lines[0].startswith("checked the models changed since main: churn;")
    listed = json.loads((repo / OUT / "manifest.json").read_text())["outputs"]
    assert lines[-1].endswith(f"{OUT} is up to date ({len(listed)} files)")
    assert run("compile", repo, "--check").returncode == 0  # the full check agrees


def test_a_hand_edit_with_its_manifest_hash_rewritten_fails(repo: Path) -> None:
    """The tamper case: no spec change, a generated file edited and manifest.json made to
    agree with it. The PR's manifest is consistent with its files; only BASE tells."""
    rel = "prod-us/models/recommender/serving/inferenceservice.yaml"
    target = repo / OUT / rel
    edit(target, "minReplicas:", "minReplicas: 0 #")
    manifest_path = repo / OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["outputs"][rel] = hashlib.sha256(target.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    git(repo, "commit", "-q", "-am", "tweak replicas")
    code, lines = gate(repo)
    assert code == 1
    assert any(
        line.startswith(f"changed  {rel}: edited by hand") and "git checkout main --" in line
        for line in lines
    ), lines
    assert any(line.startswith("changed  manifest.json") for line in lines), lines
    assert lines[0].endswith("none; every other file against main's committed output")


def test_a_manifest_hash_edited_alone_fails(repo: Path) -> None:
    manifest_path = repo / OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    first = sorted(manifest["outputs"])[0]
    manifest["outputs"][first] = "0" * 64
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    code, lines = gate(repo)
    assert code == 1
    assert [line.split(":")[0] for line in lines[1:-1]] == ["changed  manifest.json"]


def test_a_deleted_generated_file_fails(repo: Path) -> None:
    rel = "staging/models/churn/pipeline.yaml"
    (repo / OUT / rel).unlink()
    code, lines = gate(repo)
    assert code == 1
    assert any(line.startswith(f"missing  {rel}: deleted by hand") for line in lines), lines


def test_a_stray_file_under_the_output_fails(repo: Path) -> None:
    (repo / OUT / "prod-eu" / "extra.yaml").write_text("kind: ConfigMap\n")
    code, lines = gate(repo)
    assert code == 1
    assert any(line.startswith("unexpected prod-eu/extra.yaml") for line in lines), lines


def test_a_spec_change_without_recompiling_names_the_spec(repo: Path) -> None:
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: 2.0.4")
    code, lines = gate(repo)
    assert code == 1
    assert lines[0].startswith("checked the models changed since main: churn;")
    stale = [line for line in lines if line.startswith("changed  ")]
    assert stale and all(
        "not what model 'churn' (models/churn.yaml) compiles to" in line
        for line in stale
        if "/models/churn/" in line
    )
    assert any(line.startswith("changed  manifest.json") for line in lines)


def test_a_pool_change_checks_its_models_and_the_environment_files(repo: Path) -> None:
    edit(repo / "pools" / "serve.yaml", "maxNodes: 24", "maxNodes: 30")
    code, lines = gate(repo)
    assert code == 1
    assert lines[0].startswith("checked the models changed since main: recommender, ticket-router")
    assert any("/terraform/" in line and "its environment" in line for line in lines), lines
    assert run("compile", repo).returncode == 0
    assert gate(repo)[0] == 0


def test_a_hand_edit_of_an_environment_file_fails(repo: Path) -> None:
    edit(repo / OUT / "prod-us" / "kustomization.yaml", "resources:", "resources:\n- evil.yaml")
    code, lines = gate(repo)
    assert code == 1
    assert any(line.startswith("changed  prod-us/kustomization.yaml") for line in lines)


@pytest.mark.parametrize("recompile", [True, False])
def test_a_deleted_model_takes_its_files_with_it(repo: Path, recompile: bool) -> None:
    (repo / "models" / "churn.yaml").unlink()
    if recompile:
        assert run("compile", repo).returncode == 0
        assert not (repo / OUT / "prod-us" / "models" / "churn").exists()
    code, lines = gate(repo)
    assert code == (0 if recompile else 1), lines
    if not recompile:
        assert any(line.startswith("obsolete prod-us/models/churn/") for line in lines)


@pytest.mark.parametrize("recompile", [True, False])
def test_a_renamed_model(repo: Path, recompile: bool) -> None:
    old = repo / "models" / "churn.yaml"
    text = old.read_text().replace("name: churn", "name: attrition", 1)
    old.unlink()
    (repo / "models" / "attrition.yaml").write_text(text)
    if recompile:
        assert run("compile", repo).returncode == 0
    code, lines = gate(repo)
    assert lines[0].startswith("checked the models changed since main: attrition;"), lines
    assert code == (0 if recompile else 1), lines
    if not recompile:
        assert any(line.startswith("obsolete staging/models/churn/") for line in lines)
        assert any(line.startswith("missing  staging/models/attrition/") for line in lines)


def test_a_project_change_checks_every_model(repo: Path) -> None:
    edit(repo / "modelkiln.yaml", "name: acme-ml", "name: acme-ml2")
    assert run("compile", repo).returncode == 0
    code, lines = gate(repo)
    assert code == 0, lines
    assert lines[0] == "checked every model: the Project (modelkiln.yaml) changed since main"
    stray = repo / OUT / "staging" / "models" / "churn" / "notes.txt"
    stray.write_text("not rendered\n")
    code, lines = gate(repo)
    assert code == 1 and any(
        line.startswith("unexpected staging/models/churn/notes.txt") for line in lines
    )


def test_a_base_from_another_compiler_is_not_trusted(repo: Path) -> None:
    git(repo, "checkout", "-q", "main")
    manifest_path = repo / OUT / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["compiler"] = "modelkiln 0.0.1"
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    git(repo, "commit", "-q", "-am", "old compiler")
    git(repo, "checkout", "-q", "pr")
    git(repo, "merge", "-q", "main")
    assert run("compile", repo).returncode == 0
    code, lines = gate(repo)
    assert code == 0, lines
    assert lines[0].startswith("checked every model: main's output was compiled by modelkiln 0.0.1")


def test_base_without_output_checks_everything(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)  # main has specs only
    git(repo, "checkout", "-q", "-b", "pr")
    assert gate(repo)[0] == 1  # nothing compiled yet
    assert run("compile", repo).returncode == 0
    code, lines = gate(repo)
    assert code == 0, lines
    assert lines[0] == "checked every model: main has no readable deploy/manifest.json"


def test_the_gate_reads_base_from_git_not_from_a_checkout_of_it(repo: Path, tmp_path: Path) -> None:
    """A PR checked out elsewhere (CI clones), BASE only as a fetched ref."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--branch", "pr", str(repo), str(clone))
    edit(clone / "models" / "recommender.yaml", "version: 5.1.0", "version: 5.1.1")
    assert run("compile", clone).returncode == 0
    code, lines = gate(clone, "origin/main")
    assert code == 0, lines
    shutil.rmtree(clone / OUT / "staging" / "models" / "ticket-router")
    code, lines = gate(clone, "origin/main")
    assert code == 1
    assert all("deleted by hand" in line for line in lines[1:-1]), lines


def test_an_unknown_base_is_a_usage_error(repo: Path) -> None:
    proc = run("compile", repo, "--check", "--changed-since", "no-such-branch")
    assert proc.returncode == 2
    assert "no-such-branch" in proc.stderr


def test_a_symlink_in_place_of_a_rendered_file_fails(repo: Path) -> None:
    """Same bytes through a link are not the generated file (git commits the link)."""
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: 2.0.4")
    assert run("compile", repo).returncode == 0
    rel = "staging/models/churn/pipeline.yaml"
    real = repo / "elsewhere.txt"
    real.write_bytes((repo / OUT / rel).read_bytes())
    (repo / OUT / rel).unlink()
    (repo / OUT / rel).symlink_to(real)
    code, lines = gate(repo)
    assert code == 1
    assert any(line.startswith(f"changed  {rel}: not what model 'churn'") for line in lines), lines


@pytest.mark.parametrize("example", ["multi-cloud", "quickstart"])
def test_every_rendered_file_is_a_models_or_an_environments(example: str) -> None:
    """What the gate relies on to tell whose a file is: a Model's files live under
    <env>/models/<name>/, everything else is rendered with the environment (and so is
    always re-rendered and checked)."""
    from compiler.build import plan_repository
    from compiler.output import model_of
    from compiler.render import render, render_environments
    from tests.conftest import EXAMPLES

    plan = plan_repository(EXAMPLES / example).plan
    assert plan is not None
    every, own = render(plan, workers=1), render_environments(plan)
    models = {(e.name, m.name) for e in plan.environments for m in e.models}
    for path in every:
        owner = model_of(path)
        assert (path in own) != (owner is not None), path
        assert owner is None or owner in models, path


def test_terraform_is_held_to_base_when_no_pool_changed(repo: Path) -> None:
    """A Model change leaves terraform/ as BASE has it (it is rendered without the
    Models), so it is not re-rendered, and a hand edit of it still fails."""
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: 2.0.4")
    assert run("compile", repo).returncode == 0
    assert gate(repo)[0] == 0
    main_tf = next((repo / OUT).glob("*/terraform/main.tf"))
    main_tf.write_text(main_tf.read_text() + "# hand edit\n")
    code, lines = gate(repo)
    rel = main_tf.relative_to(repo / OUT).as_posix()
    assert code == 1
    assert any(line.startswith(f"changed  {rel}: edited by hand") for line in lines), lines
