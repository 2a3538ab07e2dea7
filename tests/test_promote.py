"""`modelkiln promote` / `rollback` on real git repositories: the spec edit (one environment,
the rest of the file byte for byte), what the next compile serves in both KServe modes,
--to from git history, --commit onto a deploy branch, refusals that change nothing."""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.cli_helpers import run
from tests.conftest import committed_example

ENVS = ("staging", "prod-us", "prod-eu")
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


@pytest.fixture(autouse=True)
def _identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def compiled(repo: Path, out: Path) -> dict[str, bytes]:
    proc = run("compile", repo, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def isvc(files: dict[str, bytes], env: str, model: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(
        files[f"{env}/models/{model}/serving/inferenceservice.yaml"]
    )
    return data


def of_env(files: dict[str, bytes], env: str) -> dict[str, bytes]:
    """An environment's files, without the manifest (it names every file's hash)."""
    return {k: v for k, v in files.items() if k.startswith(f"{env}/")}


def ksvc_traffic(predictor: dict[str, Any], last_rolled_out: str) -> dict[str, int]:
    """Where KServe v0.20.0 sends a Knative-mode predictor's requests: the traffic block of
    pkg/controller/v1beta1/inferenceservice/reconcilers/knative/ksvc_reconciler.go (with
    canaryTrafficPercent and a rolled-out revision: that share to the latest revision, the
    rest to the last rolled-out one; without it: 100 % to the latest)."""
    percent = predictor.get("canaryTrafficPercent")
    if percent is not None and last_rolled_out:
        split = {"latest": percent}
        if percent < 100:
            split[last_rolled_out] = 100 - percent
        return split
    return {"latest": 100}


def added_only(before: str, after: str) -> list[str]:
    """The lines after adds; fails when any line of before was changed or removed."""
    added = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, before.splitlines(True), after.splitlines(True), autojunk=False
    ).get_opcodes():
        assert tag in ("equal", "insert"), (tag, before.splitlines()[i1:i2])
        added += after.splitlines()[j1:j2] if tag == "insert" else []
    return added


@pytest.mark.parametrize("env", ["prod-us", "prod-eu"])
def test_promote_serves_only_the_new_version(tmp_path: Path, env: str) -> None:
    repo = committed_example(tmp_path)
    spec = repo / "models" / "recommender.yaml"
    text = spec.read_text()
    before = compiled(repo, tmp_path / "before")
    if env == "prod-us":  # standard mode: 5.1.0 is a spec.canary beside 5.0.2
        assert isvc(before, env, "recommender")["spec"]["canary"][0]["trafficPercent"] == 5
    else:  # knative: the new revision gets 5 %, the last rolled-out one 95 %
        predictor = isvc(before, env, "recommender")["spec"]["predictor"]
        assert ksvc_traffic(predictor, "recommender-predictor-00001") == {
            "latest": 5,
            "recommender-predictor-00001": 95,
        }
    proc = run("promote", "recommender", "--env", env, repo)
    assert proc.returncode == 0, proc.stderr
    assert "promote recommender 5.1.0 in " + env in proc.stdout
    added = added_only(text, spec.read_text())
    if env == "prod-us":
        assert added == [
            "    prod-us:",
            "      serving:",
            "        rollout:",
            "          stableVersion: 5.1.0",
        ]
    else:
        assert added == ["        rollout:", "          stableVersion: 5.1.0"]
    after = compiled(repo, tmp_path / "after")
    service = isvc(after, env, "recommender")
    predictor = service["spec"]["predictor"]
    assert "canary" not in service["spec"]
    assert "modelkiln.dev/stable-version" not in service["metadata"]["annotations"]
    assert predictor["model"]["storageUri"] == "s3://acme-models/recommender/5.1.0"
    assert ksvc_traffic(predictor, "recommender-predictor-00001") == {"latest": 100}
    for other in ENVS:
        if other != env:
            assert of_env(after, other) == of_env(before, other)
    # a second promote has nothing to do: exit 1, the file as the first one left it
    again = run("promote", "recommender", "--env", env, repo)
    assert again.returncode == 1 and "nothing to promote" in again.stderr


@pytest.mark.parametrize("env", ["prod-us", "prod-eu"])
def test_rollback_returns_to_the_stable_version_alone(tmp_path: Path, env: str) -> None:
    repo = committed_example(tmp_path)
    spec = repo / "models" / "recommender.yaml"
    text = spec.read_text()
    before = compiled(repo, tmp_path / "before")
    assert f"{env}/models/recommender/pipeline.yaml" in before
    proc = run("rollback", "recommender", "--env", env, repo)
    assert proc.returncode == 0, proc.stderr
    assert f"roll back recommender in {env} from 5.1.0 to 5.0.2" in proc.stdout
    added = added_only(text, spec.read_text())
    assert "      version: 5.0.2" in added and "      training: null" in added
    assert '        storageUri: "s3://acme-models/recommender/5.0.2"' in added
    after = compiled(repo, tmp_path / "after")
    service = isvc(after, env, "recommender")
    predictor = service["spec"]["predictor"]
    assert "canary" not in service["spec"]
    assert service["metadata"]["labels"]["modelkiln.dev/version"] == "5.0.2"
    # the new revision (Knative) or the only predictor (Standard) serves the stable artifact
    assert predictor["model"]["storageUri"] == "s3://acme-models/recommender/5.0.2"
    assert ksvc_traffic(predictor, "recommender-predictor-00002") == {"latest": 100}
    # no pipeline would retrain into the artifact just returned to
    assert not [p for p in after if p.startswith(f"{env}/models/recommender/pipeline")]
    for other in ENVS:
        if other != env:
            assert of_env(after, other) == of_env(before, other)
    # the alert repeats: rolling back again changes nothing and succeeds
    again = run("rollback", "recommender", "--env", env, repo)
    assert again.returncode == 0 and "already serves 5.0.2 only" in again.stdout
    assert run("validate", repo).returncode == 0


def _bump_churn(repo: Path, old: str, new: str) -> None:
    path = repo / "models" / "churn.yaml"
    text = path.read_text().replace(f"  version: {old}", f"  version: {new}", 1)
    path.write_text(text.replace(f"churn-train:{old}", f"churn-train:{new}"))
    git(repo, "commit", "-qam", f"churn {new}")


def test_rollback_to_a_version_from_git_history(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    _bump_churn(repo, "2.0.3", "2.1.0")  # prod-us: 2.1.0 is a canary beside 2.0.3
    assert run("promote", "churn", "--env", "prod-us", repo).returncode == 0
    git(repo, "commit", "-qam", "promote")
    _bump_churn(repo, "2.1.0", "2.2.0")
    spec = repo / "models" / "churn.yaml"
    text = spec.read_text()
    never = run("rollback", "churn", "--env", "prod-us", "--to", "1.9.0", repo)
    assert never.returncode == 2
    assert "churn 1.9.0 was never committed for prod-us" in never.stderr
    assert "2.2.0, 2.1.0, 2.0.3" in never.stderr
    assert spec.read_text() == text
    proc = run("rollback", "churn", "--env", "prod-us", "--to", "2.0.3", repo)
    assert proc.returncode == 0, proc.stderr
    assert "from 2.2.0 to 2.0.3" in proc.stdout
    after = compiled(repo, tmp_path / "out")
    service = isvc(after, "prod-us", "churn")
    assert "canary" not in service["spec"]
    assert service["spec"]["predictor"]["model"]["storageUri"] == "s3://acme-models/churn/2.0.3"
    # staging was never promoted nor rolled back: it runs the 2.2.0 canary
    assert isvc(after, "staging", "churn")["spec"]["canary"][0]["predictor"]["model"][
        "storageUri"
    ].endswith("/churn/2.2.0")


def test_commit_puts_the_rollback_on_the_deploy_branch(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    head = git(repo, "rev-parse", "HEAD")
    proc = run(
        "rollback", "recommender", "--env", "prod-us", repo, "--commit", "--branch", "deploy"
    )
    assert proc.returncode == 0, proc.stderr
    subject = "modelkiln: roll back recommender in prod-us from 5.1.0 to 5.0.2"
    assert git(repo, "log", "-1", "--format=%s") == subject
    assert git(repo, "rev-parse", "HEAD~1") == head
    assert git(repo, "diff", "--name-only", "HEAD~1", "HEAD") == "models/recommender.yaml"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "log", "-1", "--format=%s", "deploy") == subject
    trailer = git(repo, "log", "-1", "--format=%(trailers:key=Modelkiln-Source-Commit)", "deploy")
    assert git(repo, "rev-parse", "HEAD") in trailer
    deployed = git(
        repo, "show", "deploy:deploy/prod-us/models/recommender/serving/inferenceservice.yaml"
    )
    service = YAML(typ="safe").load(deployed)
    assert "canary" not in service["spec"]
    assert service["spec"]["predictor"]["model"]["storageUri"].endswith("/recommender/5.0.2")
    again = run(
        "rollback", "recommender", "--env", "prod-us", repo, "--commit", "--branch", "deploy"
    )
    assert again.returncode == 0 and "already serves 5.0.2 only" in again.stdout
    assert git(repo, "rev-list", "--count", "deploy") == "1"


def test_an_invalid_result_puts_the_file_back(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    spec = repo / "models" / "ticket-router.yaml"
    original = spec.read_text()
    # an old commit served the model from a URI form refused today (MK211)
    spec.write_text(
        original.replace("version: 1.4.0", "version: 1.0.0").replace(
            "storageUri: hf://", "storageUri: wasbs://c@acct.blob.core.windows.net/"
        )
    )
    git(repo, "commit", "-qam", "old")
    spec.write_text(original)
    git(repo, "commit", "-qam", "new")
    proc = run("rollback", "ticket-router", "--env", "prod-eu", "--to", "1.0.0", repo)
    assert proc.returncode == 1
    assert "MK211" in proc.stdout and "ticket-router.yaml is restored" in proc.stderr
    assert spec.read_text() == original and git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("promote", "nope", "--env", "prod-us"), 2, "unknown model 'nope'"),
        (("promote", "churn", "--env", "qa"), 2, "unknown environment 'qa'"),
        (("promote", "churn", "--env", "prod-us"), 1, "nothing to promote"),
        (("promote", "ticket-router", "--env", "staging", "--push"), 2, "need --commit"),
        (("rollback", "churn", "--env", "prod-us"), 0, "already serves 2.0.3 only"),
    ],
)
def test_refusals_change_nothing(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    repo = committed_example(tmp_path)
    proc = run(*args, repo)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stdout + proc.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_commit_refuses_uncommitted_specs(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    (repo / "models" / "churn.yaml").write_text(
        (repo / "models" / "churn.yaml").read_text() + "# edited\n"
    )
    proc = run("rollback", "recommender", "--env", "prod-us", repo, "--commit")
    assert proc.returncode == 1 and "uncommitted changes" in proc.stderr
    assert git(repo, "diff", "--name-only") == "models/churn.yaml"


MULTI = """\
# two models in one file: comments, flow mappings, quoting, anchors, an explicit end
---
apiVersion: modelkiln.dev/v1alpha1
kind: Model
metadata: {name: "alpha", owner: 'ml'}   # flow, quoted
spec:
  version: "1.1.0"
  framework: sklearn
  serving:
    storageUri: s3://acme-models/alpha/1.1.0
    resources: &res {cpu: "1", memory: 2Gi}
    capacityRps: 50
    slo: { latencyP99Ms: 100, availability: 99.5, throughputRps: 40 }
    rollout:
      strategy: canary        # keep this comment
      stableVersion: '1.0.0'
      stableStorageUri: "s3://acme-models/alpha/1.0.0"
  environments:
    prod-us: {serving: {rollout: {canaryPercent: 5}}}
...
---
apiVersion: modelkiln.dev/v1alpha1
kind: Model
metadata:
    name: beta
    owner: ml
spec:
    version: 2.1.0
    framework: sklearn
    serving:
        storageUri: "s3://acme-models/beta/2.1.0"
        capacityRps: 50
        slo: {latencyP99Ms: 100, availability: 99.5, throughputRps: 40}
        rollout: {strategy: canary, stableVersion: 2.0.0, stableStorageUri: "s3://acme-models/beta/2.0.0"}
    environments:
        prod-eu:
            serving:
                rollout:
                    stableVersion: '2.0.5'   # prod-eu was promoted to 2.0.5
                    stableStorageUri: s3://acme-models/beta/2.0.5

        staging: {}
"""


def _multi(tmp_path: Path) -> tuple[Path, Path]:
    repo = committed_example(tmp_path)
    path = repo / "models" / "multi.yaml"
    path.write_text(MULTI)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "multi")
    return repo, path


def _changed(before: str, after: str) -> list[tuple[str, str]]:
    """(old, new) pairs of the lines that changed; every other line is the same, in order."""
    old, new = before.splitlines(True), after.splitlines(True)
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag != "equal":
            pairs.append(("".join(old[i1:i2]), "".join(new[j1:j2])))
    return pairs


def test_round_trip_changes_only_the_edited_lines(tmp_path: Path) -> None:
    repo, path = _multi(tmp_path)
    proc = run("promote", "alpha", "--env", "prod-us", repo)  # a flow mapping: one line
    assert proc.returncode == 0, proc.stderr
    after = path.read_text()
    assert _changed(MULTI, after) == [
        (
            "    prod-us: {serving: {rollout: {canaryPercent: 5}}}\n",
            "    prod-us: {serving: {rollout: {canaryPercent: 5, stableVersion: 1.1.0, "
            'stableStorageUri: "s3://acme-models/alpha/1.1.0"}}}\n',
        )
    ]
    # the second document, four-space indentation: quoted values replaced in their quotes
    proc = run("rollback", "beta", "--env", "prod-eu", repo)
    assert proc.returncode == 0, proc.stderr
    changes = _changed(after, path.read_text())
    assert changes == [  # inserted after the last line of prod-eu, at its indentation
        (
            "",
            '                storageUri: "s3://acme-models/beta/2.0.5"\n'
            "            version: 2.0.5\n",
        )
    ], changes
    data = list(YAML(typ="safe").load_all(path.read_text()))
    prod_eu = data[1]["spec"]["environments"]["prod-eu"]
    assert prod_eu["version"] == "2.0.5"
    assert prod_eu["serving"]["storageUri"] == "s3://acme-models/beta/2.0.5"
    assert data[1]["spec"]["environments"]["staging"] == {}
    assert run("validate", repo).returncode == 0


def test_round_trip_fills_an_empty_override_and_keeps_quotes(tmp_path: Path) -> None:
    repo, path = _multi(tmp_path)
    proc = run("rollback", "beta", "--env", "staging", repo)
    assert proc.returncode == 0, proc.stderr
    assert _changed(MULTI, path.read_text()) == [
        (
            "        staging: {}\n",
            '        staging: {version: 2.0.0, serving: {storageUri: "s3://acme-models/beta/2.0.0"}}\n',
        )
    ]
    # an existing quoted value is replaced inside its quotes
    text = path.read_text().replace("'2.0.5'   #", "'2.0.4'   #")
    path.write_text(text)
    git(repo, "commit", "-qam", "2.0.4")
    proc = run("promote", "beta", "--env", "prod-eu", repo)
    assert proc.returncode == 0, proc.stderr
    assert _changed(text, path.read_text()) == [
        (
            "                    stableVersion: '2.0.4'   # prod-eu was promoted to 2.0.5\n"
            "                    stableStorageUri: s3://acme-models/beta/2.0.5\n",
            "                    stableVersion: '2.1.0'   # prod-eu was promoted to 2.0.5\n"
            '                    stableStorageUri: "s3://acme-models/beta/2.1.0"\n',
        )
    ]


def test_promote_removes_a_stable_artifact_that_is_derived_now(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    spec = repo / "models" / "recommender.yaml"
    spec.write_text(
        spec.read_text().replace(
            "      stableVersion: 5.0.2",
            "      stableVersion: 5.0.2\n      stableStorageUri: s3://acme-models/recommender/5.0.2",
        )
    )
    git(repo, "commit", "-qam", "explicit stable artifact")
    text = spec.read_text()
    assert run("promote", "recommender", "--env", "prod-us", repo).returncode == 0
    assert added_only(text, spec.read_text())[-2:] == [
        "          stableVersion: 5.1.0",
        "          stableStorageUri: null",
    ]
    service = isvc(compiled(repo, tmp_path / "out"), "prod-us", "recommender")
    assert "canary" not in service["spec"]
    assert service["spec"]["predictor"]["model"]["storageUri"].endswith("/recommender/5.1.0")


def test_crlf_files_stay_crlf(tmp_path: Path) -> None:
    repo = committed_example(tmp_path)
    spec = repo / "models" / "recommender.yaml"
    spec.write_bytes(spec.read_bytes().replace(b"\n", b"\r\n"))
    git(repo, "commit", "-qam", "crlf")
    before = spec.read_bytes()
    assert run("rollback", "recommender", "--env", "prod-us", repo).returncode == 0
    after = spec.read_bytes()
    assert after.startswith(before) and b"\n" not in after.replace(b"\r\n", b"")
    assert after[len(before) :].count(b"\r\n") == 6
