"""`modelkiln diff` against real git repositories (no mocks): the base revision compiled
from a temporary worktree, the head from the working tree, the user's checkout untouched."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from compiler.diagnostics import Diagnostic
from compiler.errors import UsageError
from compiler.gitops.diff import diff
from compiler.gitops.report_markdown import diagnostics_table
from tests.cli_helpers import run, validate_json
from tests.conftest import EXAMPLES

GIT_IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com")


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *GIT_IDENTITY, "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def init_repo(path: Path) -> None:
    git(path, "init", "--quiet")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "specs")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def state(repo: Path) -> tuple[str, str, str]:
    """What a diff must leave alone: the status, the worktrees and HEAD."""
    return (
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "worktree", "list", "--porcelain"),
        git(repo, "rev-parse", "HEAD"),
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The multi-cloud example, committed in a fresh git repository."""
    dest = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "multi-cloud", dest)
    init_repo(dest)
    return dest


def test_version_bump_and_hyperparameter(repo: Path) -> None:
    model = repo / "models" / "recommender.yaml"
    edit(model, "version: 5.1.0", "version: 5.2.0")
    edit(model, "lr: 0.0003", "lr: 0.0005")
    text, code = diff(repo, "HEAD", "text")
    assert code == 0, text
    assert "models changed: recommender" in text
    assert "version: 5.1.0 -> 5.2.0 [all environments]" in text
    assert "training.hyperparameters.lr: 0.0003 -> 0.0005" in text
    assert "error[version-gate]" not in text
    assert "--- a/staging/models/recommender/pipeline.yaml\n" in text
    assert "+++ b/staging/models/recommender/pipeline.yaml\n" in text
    assert "-#    lr: float [Default: 0.0003]\n+#    lr: float [Default: 0.0005]\n" in text
    assert "manifest.json" not in text


def test_version_gate_markdown_then_json(repo: Path) -> None:
    """An image change without a version bump fails the gate; the bump passes it. The
    user's checkout, worktrees and HEAD are the same before and after."""
    churn = repo / "models" / "churn.yaml"
    edit(churn, "churn-train:2.0.3", "churn-train:2.0.4")
    before = state(repo)
    text, code = diff(repo, "HEAD", "markdown")
    assert state(repo) == before
    assert code == 1
    # the summary table first, a row per environment
    table = text.index("| environment | models added / removed / changed |")
    for env in ("staging", "prod-us", "prod-eu"):
        assert f"| `{env}` | 0 / 0 / 1 |" in text
    # the gate error, prominent, before the details
    caution = text.index("> [!CAUTION]")
    assert table < caution < text.index("<details>")
    assert "**version-gate**: model 'churn': training.image changed" in text
    assert "bump spec.version in models/churn.yaml above 2.0.3 (e.g. 2.0.4)" in text
    # the changed model: what changed, then its pipeline
    assert "<summary><b>churn</b> (staging, prod-us, prod-eu)</summary>" in text
    assert "`ghcr.io/acme/churn-train:2.0.3` | `ghcr.io/acme/churn-train:2.0.4`" in text
    block = text[text.index("```mermaid\n") :]
    block = block[: block.index("\n```\n")]
    assert block.startswith("```mermaid\nflowchart LR\n")
    assert '["data-check-customers"]' in block and '["train"]' in block
    assert "train --> gate --> register" in block and "evaluate" not in block
    assert "class train changed" in block
    # the artifact diffs, folded
    assert "<summary><code>staging/models/churn/pipeline.yaml</code> (changed)</summary>" in text
    assert "```diff\n--- a/staging/models/churn/pipeline.yaml\n" in text

    edit(churn, "version: 2.0.3", "version: 2.0.4")
    before = state(repo)
    text, code = diff(repo, "HEAD", "json")
    assert state(repo) == before
    assert code == 0
    doc = json.loads(text)
    keys = ["artifacts", "base", "base_commit", "base_note", "environments", "errors", "models"]
    assert list(doc) == keys
    assert doc["base"] == "HEAD" and doc["base_commit"] == before[2].strip()
    assert doc["errors"] == []
    assert set(doc["artifacts"]) == {"changed", "added", "removed"}
    assert "staging/models/churn/pipeline.yaml" in doc["artifacts"]["changed"]
    assert doc["models"]["added"] == [] and doc["models"]["removed"] == []
    churn_changes = doc["models"]["changed"]["churn"]
    assert sorted(churn_changes) == ["prod-eu", "prod-us", "staging"]
    assert churn_changes["staging"]["version"] == ["2.0.3", "2.0.4"]
    assert churn_changes["staging"]["training.image"][1] == "ghcr.io/acme/churn-train:2.0.4"
    staging = doc["environments"]["staging"]
    assert set(staging) == {"status", "gpus", "monthly_cost_usd", "models"}
    assert staging["models"]["changed"] == ["churn"]
    assert staging["gpus"]["delta"] == [0, 0]
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"


def test_added_and_removed_models(repo: Path) -> None:
    fraud = (repo / "models" / "churn.yaml").read_text().replace("name: churn", "name: fraud")
    (repo / "models" / "fraud.yaml").write_text(fraud)
    (repo / "models" / "ticket-router.yaml").unlink()
    text, code = diff(repo, "HEAD", "json")
    assert code == 0, text
    doc = json.loads(text)
    assert doc["models"]["added"] == ["fraud"]
    assert doc["models"]["removed"] == ["ticket-router"]
    assert doc["models"]["changed"] == {}
    for env in ("staging", "prod-us", "prod-eu"):
        models = doc["environments"][env]["models"]
        assert models == {"added": ["fraud"], "removed": ["ticket-router"], "changed": []}
    artifacts = doc["artifacts"]
    assert "staging/models/fraud/pipeline.yaml" in artifacts["added"]
    assert "prod-eu/models/ticket-router/serving/inferenceservice.yaml" in artifacts["removed"]
    assert all("/ticket-router/" in p for p in artifacts["removed"])
    assert all("/fraud/" in p for p in artifacts["added"])


def test_pool_capacity_moves_gpus_and_cost(repo: Path) -> None:
    edit(repo / "pools" / "train.yaml", "maxNodes: 2", "maxNodes: 3")  # 8 GPUs per node
    text, code = diff(repo, "HEAD", "text")
    assert code == 0, text  # a pool's size changes no model: no version gate
    assert "GPUs: 1-40 -> 1-48 (+0/+8)" in text  # staging
    assert "GPUs: 1-48 -> 1-56 (+0/+8)" in text  # prod-eu
    assert text.count("est. monthly cost: ") == 3
    for line in text.splitlines():
        if line.startswith("  est. monthly cost: "):
            assert "(+$0/+$" in line, line
    assert "--- a/staging/terraform/main.tf" in text
    assert "error[version-gate]" not in text


def test_bad_ref_and_invalid_head(repo: Path) -> None:
    before = state(repo)
    for ref in ("no-such-branch", "-n", "HEAD~5"):
        with pytest.raises(UsageError):
            diff(repo, ref, "text")
    with pytest.raises(UsageError):
        diff(repo, "HEAD", "yaml")
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: two")
    text, code = diff(repo, "HEAD", "text")
    assert code == 1
    assert text.startswith("models/churn.yaml:")
    assert state(repo)[1:] == before[1:]


def test_spec_root_in_a_subfolder(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    root = top / "ml"
    shutil.copytree(EXAMPLES / "multi-cloud", root)
    (top / "README.md").write_text("the ML specs are under ml/\n")
    init_repo(top)
    edit(root / "data" / "sources.yaml", 'version: "2026-11-20"', 'version: "2026-12-01"')
    before = state(top)
    text, code = diff(root, "HEAD", "text")
    assert state(top) == before
    assert code == 1  # recommender trains on clicks: a new data version needs a new version
    assert "data.clicks: 2026-11-20 -> 2026-12-01 [all environments]" in text
    assert "error[version-gate]: model 'recommender': data.clicks.version changed" in text
    assert "note:" not in text  # the base was found at ml/ in HEAD


def test_base_without_specs_or_invalid(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    top.mkdir()
    (top / "README.md").write_text("specs to come\n")
    init_repo(top)
    root = top / "ml"
    shutil.copytree(EXAMPLES / "multi-cloud", root)
    text, code = diff(root, "HEAD", "json")
    assert code == 0, text
    doc = json.loads(text)
    assert "has no modelkiln.yaml at ml" in doc["base_note"]
    assert doc["models"]["added"] == ["churn", "recommender", "ticket-router"]
    assert doc["artifacts"]["changed"] == [] and doc["artifacts"]["removed"] == []
    assert doc["environments"]["staging"]["gpus"]["base"] == [0, 0]
    assert doc["environments"]["staging"]["status"] == "added"

    # a base that does not validate is empty too, and the report says why
    churn = root / "models" / "churn.yaml"
    edit(churn, "version: 2.0.3", "version: two")
    git(top, "add", "--all")
    git(top, "commit", "--quiet", "-m", "broken specs")
    edit(churn, "version: two", "version: 2.0.3")
    text, code = diff(root, "HEAD", "markdown")
    assert code == 0, text
    assert "do not validate (1 error(s))" in text
    assert "| `staging` (added) | 3 / 0 / 0 |" in text


def test_invalid_head_in_every_format(repo: Path) -> None:
    """The head's diagnostics come in the format asked for; exit 1 in each."""
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: two")
    commit = state(repo)[2].strip()
    _, expected = validate_json(repo)
    text, code = diff(repo, "HEAD", "json")
    assert code == 1
    doc = json.loads(text)
    assert list(doc) == ["base", "base_commit", "head_validation"]
    assert doc["base"] == "HEAD" and doc["base_commit"] == commit
    assert doc["head_validation"] == expected  # what `validate --format json` says
    assert doc["head_validation"]["valid"] is False
    assert text == json.dumps(doc, indent=2, sort_keys=True) + "\n"

    text, code = diff(repo, "HEAD", "markdown")
    assert code == 1
    assert text.startswith("## modelkiln diff\n\n")
    assert f"Compared with `HEAD` (`{commit[:12]}`)." in text
    assert "do not validate: 1 error.**" in text
    assert "| where | what | message | hint |" in text
    row = "| `models/churn.yaml:7:12` | error MK209 | 'two' is not a semantic version"
    assert row in text
    assert "```" not in text and "| environment |" not in text  # no report

    text, code = diff(repo, "HEAD", "text")
    assert code == 1 and text.startswith("models/churn.yaml:7:12: error[MK209]")


def test_invalid_head_through_the_cli(repo: Path) -> None:
    edit(repo / "models" / "churn.yaml", "version: 2.0.3", "version: two")
    proc = run("diff", repo, "--base", "HEAD", "--format", "json")
    assert proc.returncode == 1 and proc.stderr == ""
    assert json.loads(proc.stdout)["head_validation"]["diagnostics"][0]["code"] == "MK209"
    proc = run("diff", repo, "--base", "HEAD", "--format", "md")
    assert proc.returncode == 1 and "| `models/churn.yaml:7:12` | error MK209 |" in proc.stdout


def test_invalid_base_diagnostics_in_markdown_and_json(repo: Path) -> None:
    churn = repo / "models" / "churn.yaml"
    edit(churn, "version: 2.0.3", "version: two")
    git(repo, "commit", "--quiet", "-am", "broken specs")
    edit(churn, "version: two", "version: 2.0.3")
    text, code = diff(repo, "HEAD", "json")
    assert code == 0, text
    doc = json.loads(text)
    assert "do not validate (1 error(s))" in doc["base_note"]
    (found,) = doc["base_validation"]["diagnostics"]
    assert doc["base_validation"]["valid"] is False
    assert (found["file"], found["line"], found["column"], found["code"]) == (
        "models/churn.yaml",
        7,
        12,
        "MK209",
    )
    text, code = diff(repo, "HEAD", "markdown")
    assert code == 0
    details = text[text.index("<summary>Why the base does not validate</summary>") :]
    details = details[: details.index("</details>")]
    assert "| `models/churn.yaml:7:12` | error MK209 | 'two' is not a semantic version" in details
    assert text.index("</details>") < text.index("| environment |")
    text, _ = diff(repo, "HEAD", "text")
    assert "do not validate (1 error(s))" in text and "MK209" not in text


def test_diagnostics_table_keeps_cells_whole() -> None:
    tricky = Diagnostic("a|b.yaml", 3, 4, "MK001", "x | y <b>z</b>\nnext", hint="use `a|b`")
    (header, rule, row) = diagnostics_table([tricky])
    assert header.count("|") == rule.count("|") == 5
    assert row == (
        "| `a\\|b.yaml:3:4` | error MK001 | x \\| y &lt;b&gt;z&lt;/b&gt; next | use `a\\|b` |"
    )
