"""`modelkiln deploy pipelines`: the real kfp.Client against a KFP v2beta1 API in the test
process (tests/kfp_server.py: request and response bodies are kfp-server-api models,
unknown fields and wrong types refused as the real server refuses them)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from compiler.build import compile_repository
from compiler.deploy import kfp_api
from compiler.deploy.committed import OutputInvalid
from compiler.deploy.pipelines import MARKER, from_output, run_name
from compiler.errors import HostError
from compiler.output import sha256
from compiler.targets.kubeflow.index import version_name
from tests.cli_helpers import EXE
from tests.conftest import copy_example
from tests.kfp_server import State, serve

ENV = "prod-us"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


FAST = {"MODELKILN_DEPLOY_BACKOFF_S": "0.01"}


def run(*args: str | Path, env_extra: dict[str, str] | None = None) -> Any:
    """The installed console script, without KFP settings from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_PIPELINES_")}
    env.update(env_extra or {})
    command = [EXE, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kfp_api, "BACKOFF_S", 0.01)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = copy_example(tmp_path, "multi-cloud")
    compile_repository(root, source_commit=COMMIT)
    return root


@pytest.fixture
def kfp() -> Iterator[tuple[str, State]]:
    with serve() as server:
        yield server


def recompile(root: Path) -> None:
    assert compile_repository(root, source_commit=COMMIT).ok


def bump_recommender(root: Path) -> None:
    spec = root / "models" / "recommender.yaml"
    text = spec.read_text().replace("version: 5.1.0", "version: 5.2.0")
    spec.write_text(text.replace("lr: 0.0003", "lr: 0.0004"))
    recompile(root)


def expected_version(root: Path, model: str, model_version: str) -> str:
    data = (root / "deploy" / ENV / "models" / model / "pipeline.yaml").read_bytes()
    return version_name(model_version, sha256(data))


def live(state: State, name: str) -> list[Any]:
    return [r for r in state.live_runs() if r.display_name == name]


def test_first_deploy(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    lines = from_output(repo, ENV, host, None, dry_run=False)
    assert any("recommender-prod-us: created" in line for line in lines), lines
    pipelines = {p.name: p for p in state.pipelines.values()}
    assert sorted(pipelines) == ["churn-prod-us", "recommender-prod-us"]
    versions = {v.name: v for v in state.versions.values()}
    rec = expected_version(repo, "recommender", "5.1.0")
    assert sorted(versions) == sorted([rec, expected_version(repo, "churn", "2.0.3")])
    assert re.fullmatch(r"5\.1\.0-[0-9a-f]{12}", rec)
    # the uploaded file is the committed pipeline, byte for byte what kfp reads
    pipeline_file = repo / "deploy" / ENV / "models" / "recommender" / "pipeline.yaml"
    assert versions[rec].pipeline_spec == next(yaml.safe_load_all(pipeline_file.read_text()))
    [schedule] = state.live_runs()
    assert schedule.display_name == run_name(ENV, "recommender")
    assert schedule.description.startswith(MARKER)
    assert schedule.trigger.cron_schedule.cron == "0 0 2 * * 0"  # "0 2 * * 0" with seconds
    assert (schedule.max_concurrency, schedule.no_catchup) == ("1", True)
    ref = schedule.pipeline_version_reference
    assert (ref.pipeline_id, ref.pipeline_version_id) == (
        pipelines["recommender-prod-us"].pipeline_id,
        versions[rec].pipeline_version_id,
    )
    params = schedule.runtime_config.parameters
    assert params["lr"] == 0.0003 and params["data_version_clicks"] == "2026-11-20"
    assert params["source_commit"] == COMMIT  # the deploy step passes the provenance
    [experiment] = state.experiments.values()
    assert schedule.experiment_id == experiment.experiment_id


def test_redeploy_changes_nothing(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    from_output(repo, ENV, host, None, dry_run=False)
    writes = list(state.writes)
    assert from_output(repo, ENV, host, None, dry_run=False) == [
        f"{ENV}: up to date (2 pipelines, 1 schedule)"
    ]
    assert state.writes == writes


def test_version_change_moves_the_schedule(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    from_output(repo, ENV, host, None, dry_run=False)
    [old] = state.live_runs()
    before = len(state.writes)
    bump_recommender(repo)
    from_output(repo, ENV, host, None, dry_run=False)
    new_version = expected_version(repo, "recommender", "5.2.0")
    assert re.fullmatch(r"5\.2\.0-[0-9a-f]{12}", new_version)
    # only the changed model gets a version; the new run exists before the old one stops
    assert state.writes[before:] == [
        f"upload version {new_version}",
        f"create run {run_name(ENV, 'recommender')}",
        f"disable {run_name(ENV, 'recommender')}",
    ]
    [now] = live(state, run_name(ENV, "recommender"))
    assert state.versions[now.pipeline_version_reference.pipeline_version_id].name == new_version
    assert now.runtime_config.parameters["lr"] == 0.0004
    assert old.mode == "DISABLE" and old.status == "DISABLED"


def test_removed_model_schedule_disabled_others_untouched(
    repo: Path, kfp: tuple[str, State]
) -> None:
    host, state = kfp
    from_output(repo, ENV, host, None, dry_run=False)
    [ours] = state.live_runs()
    # schedules people made in the same experiment: a plain one, and one that borrows the
    # name prefix but not the description
    client = kfp_api.client(host, None)
    ref = ours.pipeline_version_reference
    with kfp_api.quiet():
        for name in ("nightly-by-hand", run_name(ENV, "someone-elses")):
            client.create_recurring_run(
                ours.experiment_id,
                name,
                description="by hand",
                cron_expression="0 0 1 * * *",
                pipeline_id=ref.pipeline_id,
                version_id=ref.pipeline_version_id,
            )
    (repo / "models" / "recommender.yaml").unlink()
    recompile(repo)
    lines = from_output(repo, ENV, host, None, dry_run=False)
    assert any("no longer scheduled" in line for line in lines), lines
    assert ours.mode == "DISABLE"
    assert sorted(r.display_name for r in state.live_runs()) == [
        "modelkiln:prod-us/someone-elses",
        "nightly-by-hand",
    ]


def test_503_then_success(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    state.fail("POST", "/apis/v2beta1/pipelines/upload_version", 503)
    state.fail("GET", "/apis/v2beta1/recurringruns", 503)
    lines = from_output(repo, ENV, host, None, dry_run=False)
    assert not state.faults  # both were hit
    assert sum("uploaded" in line for line in lines) == 2, lines  # each said once
    assert len(state.versions) == 2 and len(state.live_runs()) == 1


def test_lost_answer_makes_no_duplicate(repo: Path, kfp: tuple[str, State]) -> None:
    """The server creates the run, then the connection drops: the step looks again."""
    host, state = kfp
    state.fail("POST", "/apis/v2beta1/recurringruns", "lost")
    state.fail("POST", "/apis/v2beta1/pipelines/upload_version", "lost")
    from_output(repo, ENV, host, None, dry_run=False)
    assert not state.faults
    assert len(state.versions) == 2 and len(state.live_runs()) == 1


def test_crash_half_way_then_rerun_converges(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    state.fail("POST", "/apis/v2beta1/recurringruns", 500, times=kfp_api.ATTEMPTS)
    with pytest.raises(HostError, match=r"schedule of recommender failed .*HTTP 500"):
        from_output(repo, ENV, host, None, dry_run=False)
    assert len(state.versions) == 2 and not state.runs  # stopped between the two
    from_output(repo, ENV, host, None, dry_run=False)
    assert len(state.live_runs()) == 1
    writes = list(state.writes)
    from_output(repo, ENV, host, None, dry_run=False)
    assert state.writes == writes


def test_dry_run_writes_nothing(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    lines = from_output(repo, ENV, host, None, dry_run=True)
    assert state.writes == []
    assert all(line.startswith(f"{ENV}: would: ") for line in lines), lines
    assert len(lines) == 5  # 2 pipelines, 2 versions, 1 schedule
    from_output(repo, ENV, host, None, dry_run=False)
    bump_recommender(repo)
    writes = list(state.writes)
    lines = from_output(repo, ENV, host, None, dry_run=True)
    assert state.writes == writes
    assert [line.split(": ")[2].split()[0] for line in lines] == [
        "pipeline",
        "schedule",
        "schedule",
    ]


def test_edited_output_is_refused(repo: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    pipeline = repo / "deploy" / ENV / "models" / "churn" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text() + "# a hand edit\n")
    with pytest.raises(OutputInvalid, match=r"churn/pipeline\.yaml was edited"):
        from_output(repo, ENV, host, None, dry_run=False)
    proc = run("deploy", "pipelines", repo, "--env", ENV, "--host", host)
    assert proc.returncode == 1, proc.stderr
    assert "was edited" in proc.stderr and state.writes == []


def test_edited_index_is_refused(repo: Path, kfp: tuple[str, State]) -> None:
    index = repo / "deploy" / ENV / "pipelines.json"
    data = json.loads(index.read_text())
    data["pipelines"][1]["schedule"]["cron"] = "0 * * * * *"
    index.write_text(json.dumps(data))
    proc = run("deploy", "pipelines", repo, "--env", ENV, "--host", kfp[0])
    assert proc.returncode == 1 and "pipelines.json was edited" in proc.stderr, proc.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_host_exits_3(repo: Path) -> None:
    host = f"http://127.0.0.1:{_closed_port()}"
    proc = run("deploy", "pipelines", repo, "--env", ENV, "--host", host, env_extra=FAST)
    assert proc.returncode == 3, proc.stderr
    [line, *_] = proc.stderr.splitlines()
    assert line.startswith(f"modelkiln: error: Kubeflow Pipelines API: connecting to {host}")


def test_cli_host_from_the_project(tmp_path: Path, kfp: tuple[str, State]) -> None:
    host, state = kfp
    root = copy_example(tmp_path, "multi-cloud")
    project = root / "modelkiln.yaml"
    text = project.read_text()
    assert "https://kfp.prod-us.acme.internal" in text
    project.write_text(text.replace("https://kfp.prod-us.acme.internal", host))
    assert run("compile", root).returncode == 0
    proc = run("deploy", "pipelines", root, "--env", ENV)
    assert proc.returncode == 0, proc.stderr
    assert "schedule modelkiln:prod-us/recommender: created" in proc.stdout
    # the deploy branch holds only the output folder: it is a ROOT too
    proc = run("deploy", "pipelines", root / "deploy", "--env", ENV)
    assert proc.stdout == f"{ENV}: up to date (2 pipelines, 1 schedule)\n", proc.stderr
    assert len(state.live_runs()) == 1


def test_cli_usage_errors(repo: Path) -> None:
    proc = run("deploy", "pipelines", repo, "--env", "staging")  # no host anywhere
    assert proc.returncode == 2 and "no Kubeflow Pipelines host" in proc.stderr
    proc = run("deploy", "pipelines", repo, "--env", "nowhere", "--host", "http://x")
    assert proc.returncode == 2 and "unknown environment nowhere" in proc.stderr
    assert run("deploy", "pipelines", repo).returncode == 2  # --env is required


def test_last_trained_model_removed(repo: Path, kfp: tuple[str, State]) -> None:
    """An environment left without trained models still has its pipelines.json (no
    entries), so its schedules are disabled too."""
    host, state = kfp
    from_output(repo, ENV, host, None, dry_run=False)
    for model in ("recommender", "churn"):
        (repo / "models" / f"{model}.yaml").unlink()
    recompile(repo)
    index = json.loads((repo / "deploy" / ENV / "pipelines.json").read_text())
    assert index["pipelines"] == []
    from_output(repo, ENV, host, None, dry_run=False)
    assert state.live_runs() == [] and len(state.runs) == 1
