"""The whole GitOps loop on real git, as docs/gitops.md describes it: a spec pull request
(validate, diff, drift gate), the merge, `commit --branch deploy --push`, `deploy pipelines`
from the deploy branch against the KFP API (tests/kfp_server.py: kfp-server-api models),
then a rollback that an alert triggers through the GitHub rollback workflow's own script,
and `deploy pipelines` again. It ends with KFP and the deploy branch in the expected state."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from compiler.deploy.pipelines import run_name
from tests.cli_helpers import run
from tests.kfp_server import State, serve
from tests.test_rollback_ci import _alert_labels, _check_alert, _origin, _shell, _steps, git

ENV = "prod-us"
IDENTITY = ["-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
ROLLBACK_STEP = "Roll back, commit to main, publish the deploy branch"


def _deploy_pipelines(tmp_path: Path, bare: Path, host: str, name: str) -> None:
    """What the CI `pipelines` job does: a checkout of the deploy branch, then the command
    with the committed output folder as its root."""
    checkout = tmp_path / name
    git(tmp_path, "clone", "-q", "--branch", "deploy", str(bare), str(checkout))
    proc = run("deploy", "pipelines", checkout / "deploy", "--env", ENV, "--host", host)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _schedule_of(state: State, model: str) -> Any:
    live = [r for r in state.live_runs() if r.display_name == run_name(ENV, model)]
    assert len(live) <= 1, "two live schedules for one model"
    return live[0] if live else None


def _version_of(state: State, run: Any) -> str:
    version_id = run.pipeline_version_reference.pipeline_version_id
    return str(state.versions[version_id].name)


def _isvc(bare: Path) -> dict[str, Any]:
    text = git(
        bare, "show", f"deploy:deploy/{ENV}/models/recommender/serving/inferenceservice.yaml"
    )
    service: dict[str, Any] = YAML(typ="safe").load(text)
    return service


def _pull_request(tmp_path: Path, bare: Path) -> Path:
    """A developer's branch: recommender 5.1.0 -> 5.2.0 (5.0.2 stays stable), recompiled
    and committed with its output, as the drift gate expects."""
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(bare), str(dev))
    git(dev, "checkout", "-q", "-b", "recommender-5.2.0")
    spec = dev / "models" / "recommender.yaml"
    text = spec.read_text()
    assert text.count("version: 5.1.0") == 1
    spec.write_text(text.replace("version: 5.1.0", "version: 5.2.0"))
    assert run("compile", dev).returncode == 0
    git(dev, *IDENTITY, "commit", "-q", "-am", "recommender 5.2.0")
    return dev


def _review(dev: Path) -> None:
    """The pull request's checks, each as the CI example runs it."""
    assert run("validate", dev).returncode == 0
    diff = run("diff", dev, "--base", "origin/main", "--format", "markdown")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    assert "recommender" in diff.stdout and "5.2.0" in diff.stdout
    gate = run("compile", dev, "--check", "--changed-since", "origin/main")
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_the_whole_loop(tmp_path: Path) -> None:
    bare, work = _origin(tmp_path)  # main: specs + output; deploy: the output alone
    git(work, "push", "-q", "origin", "main:main")
    with serve() as (host, state):
        _deploy_pipelines(tmp_path, bare, host, "deploy-1")
        first = _schedule_of(state, "recommender")
        assert re.fullmatch(r"5\.1\.0-[0-9a-f]{12}", _version_of(state, first))

        dev = _pull_request(tmp_path, bare)
        _review(dev)
        git(dev, "push", "-q", "origin", "HEAD:main")  # the merge (fast-forward)
        git(work, "pull", "-q", "--ff-only")
        published = run("commit", work, "--branch", "deploy", "--push")
        assert published.returncode == 0, published.stdout + published.stderr
        assert _isvc(bare)["spec"]["canary"]  # 5.2.0 is the canary, 5.0.2 stable
        _deploy_pipelines(tmp_path, bare, host, "deploy-2")
        second = _schedule_of(state, "recommender")
        assert re.fullmatch(r"5\.2\.0-[0-9a-f]{12}", _version_of(state, second))
        assert state.runs[first.recurring_run_id].mode == "DISABLE"

        # the canary misbehaves: Alertmanager sends the rollout alert to the workflow
        code, outputs, said = _check_alert(tmp_path, {"status": "firing", **_alert_labels(work)})
        assert code == 0 and outputs["run"] == "true", said
        env = {"MODEL": outputs["model"], "ENVIRONMENT": outputs["environment"]}
        rolled = _shell(_steps()[ROLLBACK_STEP]["run"], work, env)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        _deploy_pipelines(tmp_path, bare, host, "deploy-3")

        # serving: 5.0.2 alone; pipelines: the rollback paused training in prod-us, so its
        # schedule is off (no run would write over the artifact served now); churn untouched
        service = _isvc(bare)
        assert "canary" not in service["spec"]
        assert service["spec"]["predictor"]["model"]["storageUri"].endswith("/recommender/5.0.2")
        assert _schedule_of(state, "recommender") is None
        assert git(bare, "log", "-1", "--format=%s", "deploy") == "modelkiln: compile recommender"
        assert not (work / "deploy" / ENV / "models" / "recommender" / "pipeline.yaml").exists()
        assert (work / "deploy" / "prod-eu" / "models" / "recommender" / "pipeline.yaml").exists()
