"""The rollback workflows of examples/ci/ run for real: their shell scripts, as the CI
runner would run them, against a clone of a bare "origin", fed an alert built from the
rendered PrometheusRule. The Alertmanager webhook body is Alertmanager v0.34.0's
(notify/webhook/webhook.go Message over template/template.go Data: status, commonLabels,
alerts[].labels)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.cli_helpers import run
from tests.conftest import EXAMPLES, committed_example

GITHUB = EXAMPLES / "ci" / "github" / "modelkiln-rollback.yml"
GITLAB = EXAMPLES / "ci" / "gitlab" / "rollback.gitlab-ci.yml"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}
SUBJECT = "modelkiln: roll back recommender in prod-us from 5.1.0 to 5.0.2"


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _origin(tmp_path: Path) -> tuple[Path, Path]:
    """A bare origin whose main has specs and output, and a clone of it on main."""
    seed = committed_example(tmp_path, "seed")
    assert run("commit", seed).returncode == 0
    assert run("commit", seed, "--branch", "deploy").returncode == 0
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    work = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    return bare, work


def _alert_labels(work: Path) -> dict[str, str]:
    """The labels of the rendered ModelRolloutErrorRateHigh of recommender in prod-us."""
    path = work / "deploy/prod-us/models/recommender/serving/prometheusrule.yaml"
    rule = YAML(typ="safe").load(path.read_text())
    for group in rule["spec"]["groups"]:
        for alert in group["rules"]:
            if alert.get("alert") == "ModelRolloutErrorRateHigh":
                return {"alertname": alert["alert"], **alert["labels"]}
    raise AssertionError("no rollout alert rendered")


def _shell(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """bash as GitHub runs a `run:` step (bash --noprofile --norc -eo pipefail)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={"PATH": path, "HOME": os.environ.get("HOME", "/tmp"), **IDENTITY, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _steps() -> dict[str, dict[str, Any]]:
    workflow = YAML(typ="safe").load(GITHUB.read_text())
    steps = workflow["jobs"]["rollback"]["steps"]
    return {s.get("id") or s.get("name") or s["uses"]: s for s in steps}


def _check_alert(tmp_path: Path, payload: dict[str, str]) -> tuple[int, dict[str, str], str]:
    """The workflow's label check, with its env: the client_payload's values."""
    step = _steps()["alert"]
    env = {
        name: payload.get(expr.split(".")[-1].rstrip(" }"), "")
        for name, expr in step["env"].items()
    }
    assert all("client_payload" in expr for expr in step["env"].values())
    output = tmp_path / "github_output"
    output.write_text("")
    proc = _shell(step["run"], tmp_path, {**env, "GITHUB_OUTPUT": str(output)})
    pairs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return proc.returncode, pairs, proc.stdout + proc.stderr


def _assert_rolled_back(bare: Path) -> None:
    assert git(bare, "log", "-1", "--format=%s", "main") == SUBJECT  # the output commit
    assert git(bare, "log", "-1", "--format=%s", "main~1") == SUBJECT  # the spec commit
    assert git(bare, "log", "-1", "--format=%s", "deploy") == "modelkiln: compile recommender"
    text = git(
        bare, "show", "deploy:deploy/prod-us/models/recommender/serving/inferenceservice.yaml"
    )
    service = YAML(typ="safe").load(text)
    assert "canary" not in service["spec"]
    assert service["spec"]["predictor"]["model"]["storageUri"].endswith("/recommender/5.0.2")
    # prod-eu (the other environment serving the model) still runs its canary
    eu = git(bare, "show", "main:deploy/prod-eu/models/recommender/serving/inferenceservice.yaml")
    assert YAML(typ="safe").load(eu)["spec"]["predictor"]["canaryTrafficPercent"] == 5


def test_github_workflow_rolls_back_from_an_alert(tmp_path: Path) -> None:
    bare, work = _origin(tmp_path)
    labels = _alert_labels(work)
    payload = {"status": "firing", **labels}
    code, outputs, said = _check_alert(tmp_path, payload)
    assert code == 0, said
    assert outputs == {"run": "true", "model": "recommender", "environment": "prod-us"}
    step = _steps()["Roll back, commit to main, publish the deploy branch"]
    assert "${{" not in step["run"]  # inputs reach the script through env only
    env = {"MODEL": outputs["model"], "ENVIRONMENT": outputs["environment"]}
    proc = _shell(step["run"], work, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_rolled_back(bare)
    # Alertmanager repeats the alert: the second run changes nothing
    heads = git(bare, "rev-parse", "main", "deploy")
    again = _shell(step["run"], work, env)
    assert again.returncode == 0 and "already serves 5.0.2 only" in again.stdout
    assert git(bare, "rev-parse", "main", "deploy") == heads


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"model": 'recommender"; touch pwned; echo "'}, 1),
        ({"environment": "$(touch pwned)"}, 1),
        ({"modelkiln_rollback": "false"}, 1),
        ({"status": "resolved"}, 0),
    ],
)
def test_github_workflow_refuses_other_payloads(
    tmp_path: Path, change: dict[str, str], expected: int
) -> None:
    payload = {
        "status": "firing",
        "model": "recommender",
        "environment": "prod-us",
        "modelkiln_rollback": "true",
    }
    code, outputs, said = _check_alert(tmp_path, {**payload, **change})
    assert code == expected, said
    assert outputs.get("run", "false") == "false"
    assert not (tmp_path / "pwned").exists()


def _gitlab_env(tmp_path: Path, bare: Path, payload: dict[str, Any] | None) -> dict[str, str]:
    """The variables GitLab sets, and origin's https URL mapped onto the bare repository."""
    env = {
        "CI_COMMIT_REF_NAME": "main",
        "CI_SERVER_HOST": "gitlab.test",
        "CI_PROJECT_PATH": "acme/ml",
        "MODELKILN_PUSH_TOKEN": "token",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{bare}.insteadOf",
        "GIT_CONFIG_VALUE_0": "https://oauth2:token@gitlab.test/acme/ml.git",
    }
    if payload is not None:
        body = tmp_path / "trigger_payload.json"
        body.write_text(json.dumps(payload))
        env["TRIGGER_PAYLOAD"] = str(body)
    return env


def _gitlab_script() -> str:
    job = YAML(typ="safe").load(GITLAB.read_text())["rollback"]
    assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "trigger"'}]
    return "\n".join(job["script"])


def test_gitlab_job_rolls_back_from_the_alertmanager_body(tmp_path: Path) -> None:
    bare, work = _origin(tmp_path)
    labels = _alert_labels(work)
    alert = {"status": "firing", "labels": labels, "annotations": {}, "fingerprint": "f"}
    body = {
        "version": "4",
        "groupKey": "{}:{}",
        "status": "firing",
        "receiver": "rollback-bot",
        "groupLabels": {k: labels[k] for k in ("alertname", "model", "environment")},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager",
        "alerts": [alert],
    }
    proc = _shell(_gitlab_script(), work, _gitlab_env(tmp_path, bare, body))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_rolled_back(bare)


def test_gitlab_job_takes_trigger_variables_and_refuses_bad_ones(tmp_path: Path) -> None:
    bare, work = _origin(tmp_path)
    env = _gitlab_env(tmp_path, bare, None)
    bad = {"MODELKILN_ROLLBACK": "true", "MODELKILN_MODEL": "x;id", "MODELKILN_ENVIRONMENT": "a"}
    refused = _shell(_gitlab_script(), work, {**env, **bad})
    assert refused.returncode == 1 and "not a modelkiln name" in refused.stdout
    good = {**bad, "MODELKILN_MODEL": "recommender", "MODELKILN_ENVIRONMENT": "prod-us"}
    proc = _shell(_gitlab_script(), work, {**env, **good})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_rolled_back(bare)
