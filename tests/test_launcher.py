"""The launcher step (steps.launch_training_job) against an in-memory API server (kube_fake):
run-scoped job names, ownership by run label, retries of the step, failure, timeout,
cancellation (SIGTERM), transient API errors, and the source text kfp ships to the cluster.

(No `from __future__ import annotations`: kfp reads the test pipeline's signature.)
"""

import functools
import itertools
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
import yaml
from kfp import compiler, dsl
from kubernetes.client.exceptions import ApiException

from compiler.plan import StepImages
from compiler.targets.kubeflow import steps
from compiler.targets.kubeflow.components import builtin
from tests.kube_fake import (
    DNS1035_LABEL,
    Clock,
    Controller,
    CustomObjectsApi,
    Store,
    api_error,
    pod_name_problem,
)

RUN_A = "3f2b8c1e-5d6a-4f0b-9c7e-1a2b3c4d5e6f"
RUN_B = "3f2b8c1e-0000-4000-8000-000000000001"  # the same first 8 characters as RUN_A
TRAINJOB_SUCCESS = ["created", "suspended", "running", "running", "complete"]
TRAINJOB_FAILURE = ["created", "suspended", "running", "failed"]
RUNNING = ["created", "running"]
Launch = Callable[..., str]


class Artifact:
    """What kfp hands a step for an output artifact: an object with a local path."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)


def trainjob(
    model: str = "recommender", namespace: str = "ml-prod", nodes: int = 2
) -> dict[str, Any]:
    """A TrainJob as the renderer hands it to the launcher (trainer.kubeflow.org/v1alpha1)."""
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {
            "name": f"{model}-train",
            "namespace": namespace,
            "labels": {"modelkiln.dev/model": model, "kueue.x-k8s.io/queue-name": "team-a"},
        },
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "activeDeadlineSeconds": 86400,
            "trainer": {
                "image": "ghcr.io/acme/recsys@sha256:" + "a" * 64,
                "command": ["torchrun", "-m", "recsys.train"],
                "args": ["--epochs", "3"],
                "numNodes": nodes,
                "numProcPerNode": 8,
            },
        },
    }


def pytorchjob(model: str = "recommender") -> dict[str, Any]:
    """A legacy Training Operator PyTorchJob (kubeflow.org/v1)."""
    container = {"name": "pytorch", "image": "ghcr.io/acme/recsys:1", "args": ["--epochs", "3"]}
    replica = {"replicas": 1, "template": {"spec": {"containers": [container]}}}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": f"{model}-train", "namespace": "ml-prod"},
        "spec": {"pytorchReplicaSpecs": {"Master": replica, "Worker": replica}},
    }


class Cluster:
    def __init__(self, store: Store, controller: Controller, clock: Clock, tmp: Path) -> None:
        self.store, self.controller, self.clock, self.tmp = store, controller, clock, tmp
        self.outputs = itertools.count()

    def run(
        self,
        job: dict[str, Any],
        run_id: str,
        timeout: int = 7 * 86400,
        launch: Launch = steps.launch_training_job,
        storage: Path | None = None,
    ) -> str:
        out = self.tmp / f"out-{next(self.outputs)}"
        out.mkdir()
        return launch(
            manifest=json.dumps(job),
            hyperparameters=json.dumps({"lr": 0.01}),
            storage_uri=str(storage or self.tmp / "models" / "recommender"),
            run_id=run_id,
            timeout_seconds=timeout,
            model=Artifact(out / "model"),
            metrics=Artifact(out / "metrics"),
        )

    def verbs(self, thread: int | None = None) -> list[tuple[str, str, str]]:
        return [
            (c.verb, c.namespace, c.name)
            for c in self.store.calls
            if thread is None or c.thread == thread
        ]


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cluster]:
    store = Store()
    controller = Controller(store, {RUN_A: TRAINJOB_SUCCESS, RUN_B: TRAINJOB_SUCCESS})
    clock = Clock(controller)
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", lambda: None)
    monkeypatch.setattr(kubernetes.client, "CustomObjectsApi", lambda: CustomObjectsApi(store))
    monkeypatch.setattr(time, "monotonic", clock.monotonic)
    monkeypatch.setattr(time, "sleep", clock.sleep)
    yield Cluster(store, controller, clock, tmp_path)


def only_object(cluster: Cluster, name: str) -> dict[str, Any]:
    found = cluster.store.named(name)
    assert len(found) == 1, found
    return found[0][1]


def test_success_streams_status_and_writes_artifacts(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = cluster.tmp / "models" / "recommender"
    storage.mkdir(parents=True)
    (storage / "metrics.json").write_text('{"auc": 0.93}')
    name = cluster.run(trainjob(), RUN_A, storage=storage)
    out = next(cluster.tmp.glob("out-*"))
    assert (out / "model").read_text() == f"{storage}\n"
    assert json.loads((out / "metrics").read_text()) == {"auc": 0.93}
    job = only_object(cluster, name)
    assert job["metadata"]["labels"]["modelkiln.dev/run-id"] == RUN_A
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"  # kept
    assert job["spec"]["trainer"]["args"] == ["--epochs", "3", "--lr", "0.01"]
    log = capsys.readouterr().out
    # One line per change of a condition, in order: Kueue's hold, its admission, the end.
    lines = [line for line in log.splitlines() if "reason=" in line]
    assert [re.sub(r".*: (\w+=\w+) reason=(\w+).*", r"\1 \2", x) for x in lines] == [
        "Suspended=True Suspended",
        "Suspended=False Resumed",
        "Complete=True AllJobsCompleted",
    ]
    assert '"active": 2' in log  # pod counts of the running job
    assert cluster.verbs().count(("create", "ml-prod", name)) == 1
    assert all(s == 15.0 for s in cluster.clock.sleeps)  # a modest, steady poll


def test_failure_raises_with_the_jobs_message_and_keeps_the_job(cluster: Cluster) -> None:
    cluster.controller.scripts[RUN_A] = TRAINJOB_FAILURE
    with pytest.raises(RuntimeError, match=r"failed \(FailedJobs\): jobset failed due to one or"):
        cluster.run(trainjob(), RUN_A)
    (job,) = [obj for _, obj in cluster.store.objects.items()]
    assert "deletionTimestamp" not in job["metadata"]  # kept for its logs
    assert not list(cluster.tmp.glob("out-*/model"))


def test_pytorchjob_success_and_failure(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.controller.scripts[RUN_A] = ["created", "running", "complete"]
    name = cluster.run(pytorchjob(), RUN_A)
    job = only_object(cluster, name)
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["--epochs", "3", "--lr", "0.01"]
    assert "Succeeded=True reason=PyTorchJobSucceeded" in capsys.readouterr().out
    cluster.controller.scripts[RUN_B] = ["created", "running", "failed"]
    with pytest.raises(RuntimeError, match="1 Worker replica"):
        cluster.run(pytorchjob(), RUN_B)


def test_timeout_deletes_own_job_and_raises(cluster: Cluster) -> None:
    cluster.controller.scripts[RUN_A] = RUNNING
    with pytest.raises(TimeoutError, match="within 3600 s"):
        cluster.run(trainjob(), RUN_A, timeout=3600)
    assert cluster.clock.now - 1000.0 <= 3600 + 1e-9  # the timeout counts from the start
    deletes = [c for c in cluster.store.calls if c.verb == "delete"]
    assert len(deletes) == 1
    created = next(c for c in cluster.store.calls if c.verb == "create")
    assert deletes[0].name == created.name
    assert deletes[0].body["propagationPolicy"] == "Foreground"
    cluster.clock.sleep(1)
    cluster.clock.sleep(1)
    assert cluster.store.objects == {}


def test_time_in_the_queue_does_not_count(cluster: Cluster) -> None:
    """Kueue holds the job suspended for longer than the timeout; once admitted it finishes
    in time, so the step succeeds (Trainer's activeDeadlineSeconds also restarts at the
    resume: trainjob_controller.go reconcileDeadline, v2.3.0)."""
    cluster.controller.scripts[RUN_A] = ["created", *["suspended"] * 12, "running", "complete"]
    name = cluster.run(trainjob(), RUN_A, timeout=60)
    assert cluster.clock.now - 1000.0 > 60 * 2  # far longer than the timeout in all
    assert name.startswith("recommender-train-")
    assert not [c for c in cluster.store.calls if c.verb == "delete"]


def test_concurrent_runs_of_one_model_never_touch_each_other(cluster: Cluster) -> None:
    cluster.controller.scripts[RUN_B] = TRAINJOB_FAILURE
    results: dict[str, Any] = {}
    threads: dict[str, int] = {}

    def launch(run_id: str) -> None:
        threads[run_id] = threading.get_ident()
        try:
            results[run_id] = cluster.run(trainjob(), run_id)
        except Exception as err:
            results[run_id] = err

    workers = [threading.Thread(target=launch, args=(r,)) for r in (RUN_A, RUN_B)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    name_a = results[RUN_A]
    assert isinstance(name_a, str) and isinstance(results[RUN_B], RuntimeError)
    name_b = next(c.name for c in cluster.store.calls if c.thread == threads[RUN_B])
    assert name_a != name_b
    for run_id, name in ((RUN_A, name_a), (RUN_B, name_b)):
        touched = {n for _, _, n in cluster.verbs(threads[run_id])}
        assert touched == {name}, (run_id, touched)
    assert "delete" not in {v for v, _, _ in cluster.verbs()}
    assert only_object(cluster, name_b)["status"]["conditions"][-1]["type"] == "Failed"


def test_retry_after_failure_replaces_only_its_own_job(cluster: Cluster) -> None:
    other = cluster.run(trainjob(), RUN_B)  # another run of the model, finished
    other_before = only_object(cluster, other)
    cluster.controller.scripts[RUN_A] = TRAINJOB_FAILURE
    with pytest.raises(RuntimeError):
        cluster.run(trainjob(), RUN_A)
    failed_name = cluster.store.calls[-1].name
    first = only_object(cluster, failed_name)
    cluster.controller.scripts[RUN_A] = TRAINJOB_SUCCESS
    assert cluster.run(trainjob(), RUN_A) == failed_name  # KFP's retry: same run id
    second = only_object(cluster, failed_name)
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    (delete,) = [c for c in cluster.store.calls if c.verb == "delete"]
    assert delete.body["preconditions"]["uid"] == first["metadata"]["uid"]
    assert only_object(cluster, other) == other_before  # not even its resourceVersion moved


def test_retry_after_a_killed_attempt_replaces_the_abandoned_job(cluster: Cluster) -> None:
    cluster.controller.scripts[RUN_A] = RUNNING
    with pytest.raises(TimeoutError):  # learn the name; the job is deleted at the timeout
        cluster.run(trainjob(), RUN_A, timeout=60)
    name = next(c.name for c in cluster.store.calls if c.verb == "create")
    cluster.clock.sleep(1)
    cluster.clock.sleep(1)
    # An attempt killed with SIGKILL (node lost) leaves its job running:
    abandoned = json.loads(json.dumps(trainjob()))
    abandoned["metadata"] |= {"name": name, "annotations": {"modelkiln.dev/launcher-attempt": "x"}}
    abandoned["metadata"]["labels"]["modelkiln.dev/run-id"] = RUN_A
    cluster.store.create("trainer.kubeflow.org", "v1alpha1", "ml-prod", "trainjobs", abandoned)
    cluster.controller.scripts[RUN_A] = TRAINJOB_SUCCESS
    assert cluster.run(trainjob(), RUN_A) == name
    assert (
        only_object(cluster, name)["metadata"]["annotations"]["modelkiln.dev/launcher-attempt"]
        != "x"
    )


def test_completed_job_of_this_run_is_reused(cluster: Cluster) -> None:
    name = cluster.run(trainjob(), RUN_A)
    before = only_object(cluster, name)
    assert cluster.run(trainjob(), RUN_A) == name
    assert only_object(cluster, name) == before
    assert [v for v, _, _ in cluster.verbs()].count("create") == 1
    assert len(list(cluster.tmp.glob("out-*/model"))) == 2  # both attempts have their outputs


@pytest.mark.parametrize("label", [RUN_B, None])
def test_a_foreign_job_with_the_name_is_never_touched(cluster: Cluster, label: str | None) -> None:
    name = cluster.run(trainjob(namespace="elsewhere"), RUN_A)  # learn this run's name
    foreign = trainjob()
    foreign["metadata"]["name"] = name
    if label is None:
        del foreign["metadata"]["labels"]
    else:
        foreign["metadata"]["labels"]["modelkiln.dev/run-id"] = label
    cluster.store.create("trainer.kubeflow.org", "v1alpha1", "ml-prod", "trainjobs", foreign)
    ((key, before),) = [(k, v) for k, v in cluster.store.named(name) if k[2] == "ml-prod"]
    calls = len(cluster.store.calls)
    with pytest.raises(RuntimeError, match=r"is not this run's.*left alone"):
        cluster.run(trainjob(), RUN_A)
    assert cluster.store.objects[key] == before
    assert {c.verb for c in cluster.store.calls[calls:]} == {"get"}


def test_transient_api_errors_are_survived(cluster: Cluster) -> None:
    reset = urllib3.exceptions.ProtocolError(
        "Connection aborted.", ConnectionResetError(104, "Connection reset by peer")
    )
    cluster.store.fail("get", api_error(503, "ServiceUnavailable", "etcd leader changed"), times=2)
    cluster.store.fail("get", reset)
    # The server commits a create but the response is lost: the retried create meets 409
    # on its own object and goes on with it.
    cluster.store.fail("create", api_error(503, "ServiceUnavailable", "timeout"), when="after")
    name = cluster.run(trainjob(), RUN_A)
    assert [v for v, _, _ in cluster.verbs()].count("create") == 2
    assert only_object(cluster, name)["status"]["conditions"][-1]["type"] == "Complete"


def test_persistent_api_errors_give_up_and_clean_up(cluster: Cluster) -> None:
    name = cluster.run(trainjob(namespace="elsewhere"), RUN_A)  # learn the name
    cluster.store.objects.clear()
    cluster.controller.scripts[RUN_A] = RUNNING
    err = api_error(503, "ServiceUnavailable", "down")
    original = cluster.store.create

    def create_then_break(*args: Any, **kwargs: Any) -> Any:
        created = original(*args, **kwargs)
        cluster.store.fail("get", err, times=6)  # every retry of the first poll fails
        return created

    cluster.store.create = create_then_break  # type: ignore[method-assign]
    cluster.store.calls.clear()
    cluster.clock.sleeps.clear()
    with pytest.raises(ApiException) as raised:
        cluster.run(trainjob(), RUN_A)
    assert raised.value.status == 503
    assert cluster.clock.sleeps == [1, 2, 4, 8, 16]  # bounded, with backoff
    assert ("delete", "ml-prod", name) in cluster.verbs()


def test_sigterm_deletes_own_job_and_exits_nonzero(cluster: Cluster) -> None:
    cluster.controller.scripts[RUN_A] = RUNNING
    before = signal.getsignal(signal.SIGTERM)

    def cancel(count: int) -> None:
        if count == 3:  # the run is cancelled while the job runs: Argo sends SIGTERM
            handler = signal.getsignal(signal.SIGTERM)
            assert callable(handler) and handler is not before
            handler(signal.SIGTERM, None)

    cluster.clock.on_sleep = cancel
    with pytest.raises(SystemExit) as exited:
        cluster.run(trainjob(), RUN_A)
    assert exited.value.code == 128 + signal.SIGTERM
    created = [c.name for c in cluster.store.calls if c.verb == "create"]
    assert [c.name for c in cluster.store.calls if c.verb == "delete"] == created
    assert signal.getsignal(signal.SIGTERM) is before


def test_names_are_run_scoped_deterministic_and_short(cluster: Cluster) -> None:
    long_model = "m" + "x" * 61 + "z"  # 63 characters, the longest Model name
    assert len(long_model) == 63
    cluster.controller.scripts = {r: ["complete"] for r in (RUN_A, RUN_B)}
    names = [
        cluster.run(trainjob(long_model, namespace=ns, nodes=1000), run)
        for ns, run in (("a", RUN_A), ("b", RUN_A), ("c", RUN_B))
    ]
    assert names[0] == names[1] != names[2]  # deterministic; runs sharing a prefix differ
    for name in names:
        assert len(name) <= 45 and DNS1035_LABEL.fullmatch(name)
        assert name.startswith("mxxxxxxxxx")  # readable: the model's name leads
        # What Trainer's JobSet must accept: pod names for up to 10,000 nodes; and a
        # PyTorchJob's pod and service names.
        big = {"metadata": {"name": name}, "spec": {"trainer": {"numNodes": 10000}}}
        assert pod_name_problem(big) is None
        assert len(f"{name}-worker-9999") <= 63
    assert cluster.controller.rejected == []
    cluster.controller.scripts = {RUN_A: ["complete"]}
    legacy = pytorchjob(long_model)
    assert cluster.run(legacy, RUN_A) == names[0]  # the same name for the legacy job
    assert cluster.run(trainjob("recommender", namespace="d"), RUN_A).startswith(
        "recommender-train-"
    )


def test_an_invalid_run_id_is_refused(cluster: Cluster) -> None:
    with pytest.raises(ValueError, match="run_id is empty"):
        cluster.run(trainjob(), " ")
    # Not a valid label value (kfp.local, other backends): a hash of it is the label instead.
    odd = "local run/" + "x" * 80
    with pytest.raises(TimeoutError):
        cluster.run(trainjob(), odd, timeout=30)
    created = next(c.body for c in cluster.store.calls if c.verb == "create")
    assert created["metadata"]["labels"]["modelkiln.dev/run-id"].startswith("sha256-")


IMAGES = StepImages("python:3.11", "python:3.11", "python:3.11", "python:3.11", False)


def test_the_source_kfp_ships_runs_on_its_own(cluster: Cluster, tmp_path: Path) -> None:
    """Compile the step into a pipeline and run the function text from the compiled file, in a
    namespace of its own: it must not lean on anything else in steps.py."""

    @dsl.pipeline
    def train() -> None:
        builtin("launch_training_job", IMAGES)(
            manifest=json.dumps(trainjob()),
            hyperparameters="{}",
            storage_uri="gs://models/recommender/1.0.0",
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            timeout_seconds=3600,
        )

    package = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(train, str(package))
    spec = yaml.safe_load(package.read_text())
    (executor,) = spec["deploymentSpec"]["executors"].values()
    (source,) = [
        part for part in executor["container"]["command"] if "def launch_training_job" in part
    ]
    task = spec["root"]["dag"]["tasks"]["launch-training-job"]["inputs"]["parameters"]
    assert task["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    namespace: dict[str, Any] = {"__name__": "ephemeral_component"}
    exec(compile(source, "ephemeral_component.py", "exec"), namespace)
    name = cluster.run(trainjob(), RUN_A, launch=namespace["launch_training_job"])
    assert only_object(cluster, name)["status"]["conditions"][-1]["type"] == "Complete"


def test_the_fake_answers_like_the_api_server() -> None:
    """The fake's own answers, so the tests above cannot pass on a lenient store."""
    store = Store()
    group, version, plural = "trainer.kubeflow.org", "v1alpha1", "trainjobs"

    def status(call: Callable[[], Any]) -> int:
        with pytest.raises(ApiException) as err:
            call()
        return int(err.value.status)

    for bad in ("x" * 64, "Upper", "1abc", "a.b"):  # valid subdomains, not TrainJob names
        job = trainjob()
        job["metadata"]["name"] = bad
        assert (
            status(functools.partial(store.create, group, version, "ml-prod", plural, job)) == 422
        )
    made = store.create(group, version, "ml-prod", plural, trainjob())
    assert status(lambda: store.create(group, version, "ml-prod", plural, trainjob())) == 409
    assert status(lambda: store.get(group, version, "ml-prod", plural, "nope")) == 404
    name = made["metadata"]["name"]
    wrong = kubernetes.client.V1DeleteOptions(preconditions={"uid": "someone-else"})
    assert status(lambda: store.delete(group, version, "ml-prod", plural, name, body=wrong)) == 409
    stale = made | {"status": {"conditions": []}}
    store.update((group, plural, "ml-prod", name), stale)
    assert status(lambda: store.update((group, plural, "ml-prod", name), stale)) == 409
    foreground = kubernetes.client.V1DeleteOptions(propagation_policy="Foreground")
    store.delete(group, version, "ml-prod", plural, name, body=foreground)
    assert status(lambda: store.create(group, version, "ml-prod", plural, trainjob())) == 409
