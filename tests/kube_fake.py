"""An in-memory Kubernetes API server for custom objects, a fake training controller and a
fake clock, for running the launcher step (steps.launch_training_job) as it runs in a cluster.

The store answers as the API server does for custom resources (k8s.io/apiserver registry and
apimachinery validation): create of an existing name (also one still being deleted) is 409
AlreadyExists; get and delete of a missing one 404 NotFound; names must be DNS-1123 subdomains
and label values valid; a delete precondition on a uid that differs is 409 Conflict; a
foreground delete keeps the object (deletionTimestamp, finalizer `foregroundDeletion`) until
its dependents are gone; an update with a stale resourceVersion is 409 Conflict. The TrainJob
CRD adds its own rule on names (RFC 1035 label, at most 63: trainer v2.3.0
pkg/apis/trainer/v1alpha1/trainjob_types.go, the XValidation markers on TrainJob), and so does
the Training Operator's PyTorchJob webhook. Errors are
the kubernetes client's own ApiException with the server's Status body.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
HTTP_REASONS = {404: "Not Found", 409: "Conflict", 422: "Unprocessable Entity"}
HTTP_REASONS |= {400: "Bad Request", 503: "Service Unavailable"}


def api_error(code: int, reason: str, message: str) -> ApiException:
    """The client's exception as it raises it for a Status response."""
    err = ApiException(status=code, reason=HTTP_REASONS[code])
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure"}
    err.body = json.dumps(status | {"message": message, "reason": reason, "code": code})
    return err


Key = tuple[str, str, str, str]  # group, plural, namespace, name


@dataclass
class Call:
    verb: str
    namespace: str
    name: str
    thread: int
    body: Any = None


@dataclass
class Store:
    """The object store: what an API server does with custom objects."""

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # verb -> errors to raise on its next calls; ("after", err) raises once the call is done
    faults: dict[str, list[tuple[str, ApiException | Exception]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail(
        self, verb: str, err: ApiException | Exception, times: int = 1, when: str = "before"
    ) -> None:
        self.faults.setdefault(verb, []).extend([(when, err)] * times)

    def _fault(self, verb: str, when: str) -> None:
        queue = self.faults.get(verb) or []
        if queue and queue[0][0] == when:
            raise queue.pop(0)[1]

    def _log(self, verb: str, namespace: str, name: str, body: Any = None) -> None:
        self.calls.append(Call(verb, namespace, name, threading.get_ident(), body))

    def create(self, group: str, version: str, namespace: str, plural: str, body: Any) -> Any:
        with self.lock:
            self._fault("create", "before")
            meta = body.get("metadata", {})
            name = meta.get("name", "")
            self._log("create", namespace, name, copy.deepcopy(body))
            if (
                body.get("apiVersion") != f"{group}/{version}"
                or body["kind"].lower() + "s" != plural
            ):
                raise api_error(
                    400, "BadRequest", f"the body is not a {plural} of {group}/{version}"
                )
            if meta.get("namespace", namespace) != namespace:
                raise api_error(400, "BadRequest", "the namespace of the object does not match")
            self._validate(body["kind"], name, meta.get("labels") or {})
            key = (group, plural, namespace, name)
            if key in self.objects:
                raise api_error(409, "AlreadyExists", f'{plural}.{group} "{name}" already exists')
            stored = copy.deepcopy(body)
            stored["metadata"] |= {
                "namespace": namespace,
                "uid": f"uid-{next(self._counter)}",
                "resourceVersion": str(next(self._counter)),
                "generation": 1,
            }
            stored.pop("status", None)  # status is a subresource: ignored on create
            self.objects[key] = stored
            self._fault("create", "after")
            return copy.deepcopy(stored)

    def _validate(self, kind: str, name: str, labels: dict[str, str]) -> None:
        problems = []
        if not name:
            problems.append("metadata.name: Required value: name or generateName is required")
        elif len(name) > 253 or not DNS1123_SUBDOMAIN.fullmatch(name):
            problems.append(
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain'
            )
        if kind == "TrainJob" and not DNS1035_LABEL.fullmatch(name):
            problems.append("metadata.name must match RFC 1035 DNS label format")
        if kind == "TrainJob" and len(name) > 63:
            problems.append("metadata.name must be no more than 63 characters")
        # Training Operator v1.9.4 pkg/webhooks/pytorch/pytorchjob_webhook.go: NameIsDNS1035Label
        if kind == "PyTorchJob" and (len(name) > 63 or not DNS1035_LABEL.fullmatch(name)):
            problems.append(f"metadata.name: Invalid value: {name!r}: a DNS-1035 label")
        for key, value in labels.items():
            if len(value) > 63 or not LABEL_VALUE.fullmatch(value):
                problems.append(f'metadata.labels: Invalid value: "{value}" for {key}')
        if problems:
            raise api_error(422, "Invalid", f'{kind} "{name}" is invalid: ' + "; ".join(problems))

    def get(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any:
        with self.lock:
            self._log("get", namespace, name)
            self._fault("get", "before")
            found = self.objects.get((group, plural, namespace, name))
            if found is None:
                raise api_error(404, "NotFound", f'{plural}.{group} "{name}" not found')
            return copy.deepcopy(found)

    def delete(
        self,
        group: str,
        version: str,
        namespace: str,
        plural: str,
        name: str,
        body: Any = None,
        **kwargs: Any,
    ) -> Any:
        with self.lock:
            options = ApiClient().sanitize_for_serialization(body) or {}
            self._log("delete", namespace, name, options)
            self._fault("delete", "before")
            key = (group, plural, namespace, name)
            found = self.objects.get(key)
            if found is None:
                raise api_error(404, "NotFound", f'{plural}.{group} "{name}" not found')
            uid = (options.get("preconditions") or {}).get("uid")
            if uid is not None and uid != found["metadata"]["uid"]:
                raise api_error(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {uid}, "
                    f"UID in object meta: {found['metadata']['uid']}",
                )
            policy = options.get("propagationPolicy") or kwargs.get("propagation_policy")
            if policy == "Foreground":
                meta = found["metadata"]
                if "deletionTimestamp" not in meta:
                    meta["deletionTimestamp"] = "2026-11-28T00:00:00Z"
                    meta["finalizers"] = [*meta.get("finalizers", []), "foregroundDeletion"]
                    meta["resourceVersion"] = str(next(self._counter))
                return {"kind": "Status", "status": "Success"} | {"details": {"name": name}}
            del self.objects[key]
            return {"kind": "Status", "status": "Success", "details": {"name": name}}

    def update(self, key: Key, obj: dict[str, Any]) -> None:
        """A controller's write (the status subresource): optimistic concurrency."""
        with self.lock:
            found = self.objects.get(key)
            if found is None:
                raise api_error(404, "NotFound", f'"{key[3]}" not found')
            if obj["metadata"]["resourceVersion"] != found["metadata"]["resourceVersion"]:
                raise api_error(
                    409,
                    "Conflict",
                    "the object has been modified; please apply "
                    "your changes to the latest version and try again",
                )
            stored = copy.deepcopy(obj)
            stored["metadata"]["resourceVersion"] = str(next(self._counter))
            self.objects[key] = stored

    def named(self, name: str) -> list[tuple[Key, dict[str, Any]]]:
        with self.lock:
            return [(k, copy.deepcopy(v)) for k, v in self.objects.items() if k[3] == name]


class CustomObjectsApi:
    """kubernetes.client.CustomObjectsApi's methods the launcher uses, on a Store."""

    def __init__(self, store: Store) -> None:
        self.create_namespaced_custom_object = store.create
        self.get_namespaced_custom_object = store.get
        self.delete_namespaced_custom_object = store.delete


def trainjob_status(step: str) -> dict[str, Any]:
    """TrainJob status as Trainer v2.3.0 writes it: no condition once created (the Created
    condition was removed upstream in #2621), Suspended True/False (reasons Suspended/Resumed,
    messages from pkg/constants/constants.go) around Kueue's admission, Complete or Failed copied
    from the JobSet's conditions (JobSet v0.12.0 reasons and messages)."""
    node = {"name": "node", "ready": 0, "succeeded": 0, "failed": 0, "active": 0, "suspended": 0}
    suspended = {
        "type": "Suspended",
        "status": "True",
        "reason": "Suspended",
        "message": "TrainJob is suspended",
    }
    resumed = suspended | {"status": "False", "reason": "Resumed", "message": "TrainJob is resumed"}
    states = {
        "created": [],
        "suspended": [suspended],
        "running": [resumed],
        "complete": [
            resumed,
            {
                "type": "Complete",
                "status": "True",
                "reason": "AllJobsCompleted",
                "message": "jobset completed successfully",
            },
        ],
        "failed": [
            resumed,
            {
                "type": "Failed",
                "status": "True",
                "reason": "FailedJobs",
                "message": "jobset failed due to one or more job failures",
            },
        ],
    }
    counts = {
        "suspended": {"suspended": 1},
        "running": {"active": 2, "ready": 2},
        "complete": {"succeeded": 2},
        "failed": {"failed": 1},
    }
    status: dict[str, Any] = {"conditions": states[step]}
    if step in counts:
        status["jobsStatus"] = [node | counts[step]]
    return status


def pytorchjob_status(step: str, name: str) -> dict[str, Any]:
    """PyTorchJob status as Training Operator v1.9.4 writes it (pkg/controller.v1/pytorch):
    Created, Running, then Succeeded (Running turns False) or Failed."""

    def cond(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {"type": kind, "status": status, "reason": "PyTorchJob" + reason, "message": message}

    created = cond("Created", "True", "Created", f"PyTorchJob {name} is created.")
    running = cond("Running", "True", "Running", f"PyTorchJob {name} is running.")
    states = {
        "created": [created],
        "running": [created, running],
        "complete": [
            created,
            running | {"status": "False"},
            cond("Succeeded", "True", "Succeeded", f"PyTorchJob {name} is successfully completed."),
        ],
        "failed": [
            created,
            running | {"status": "False"},
            cond(
                "Failed",
                "True",
                "Failed",
                f"PyTorchJob {name} is failed because 1 Worker replica(s) failed.",
            ),
        ],
    }
    return {
        "conditions": states.get(step, states["running"]),
        "replicaStatuses": {"Master": {"active": 1}, "Worker": {"active": 1}},
    }


def pod_name_problem(obj: dict[str, Any]) -> str | None:
    """What the JobSet v0.12.0 webhook (pkg/webhooks/jobset_webhook.go) says about the JobSet
    Trainer builds from a TrainJob: the longest pod name "<name>-node-0-<numNodes-1>-abcde"
    must be a DNS-1035 label."""
    nodes = obj["spec"].get("trainer", {}).get("numNodes", 1)
    longest = f"{obj['metadata']['name']}-node-0-{nodes - 1}-abcde"
    if len(longest) > 63 or not DNS1035_LABEL.fullmatch(longest):
        return f"{longest}: pod name too long or not a DNS-1035 label"
    return None


class Controller:
    """Advances each live job one status step per tick, along `script` (by run label), and
    finishes foreground deletions after `finalize_ticks` ticks (its pods terminating)."""

    def __init__(
        self, store: Store, scripts: dict[str, list[str]], finalize_ticks: int = 2
    ) -> None:
        self.store = store
        self.scripts = scripts
        self.finalize_ticks = finalize_ticks
        self.progress: dict[str, int] = {}
        self.rejected: list[str] = []

    def tick(self) -> None:
        with self.store.lock:
            for key, obj in list(self.store.objects.items()):
                meta = obj["metadata"]
                uid = meta["uid"]
                if "deletionTimestamp" in meta:
                    self.progress[uid] = self.progress.get(uid, 0) + 1
                    if self.progress[uid] >= self.finalize_ticks:
                        del self.store.objects[key]
                    continue
                script = self.scripts.get(
                    (meta.get("labels") or {}).get("modelkiln.dev/run-id", "")
                )
                if script is None:
                    continue
                step = self.progress.get(uid, 0)
                self.progress[uid] = step + 1
                state = script[min(step, len(script) - 1)]
                if obj["kind"] == "TrainJob" and (problem := pod_name_problem(obj)):
                    self.rejected.append(problem)
                    status = trainjob_status("running")
                    status["conditions"] = [
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "JobSetCreationFailed",
                            "message": problem,
                        }
                    ]
                elif obj["kind"] == "TrainJob":
                    status = trainjob_status(state)
                else:
                    status = pytorchjob_status(state, meta["name"])
                if obj.get("status") != status:  # an unchanged status is no write
                    self.store.update(key, obj | {"status": status})


class Clock:
    """time.monotonic and time.sleep for the launcher: sleeping advances the clock and lets the
    controller act; a real, tiny sleep lets another thread's launcher run in between."""

    def __init__(
        self, controller: Controller, on_sleep: Callable[[int], None] | None = None
    ) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.controller = controller
        self.on_sleep = on_sleep
        self._real_sleep = time.sleep
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "a zero sleep in a poll loop is a busy loop"
        with self._lock:
            self.now += seconds
            self.sleeps.append(seconds)
            count = len(self.sleeps)
        self.controller.tick()
        if self.on_sleep is not None:
            self.on_sleep(count)
        self._real_sleep(0.0005)
