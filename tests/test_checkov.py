"""checkov over the Kubernetes manifests modelkiln renders for the examples: the hardening
checks pass on every pod, and only the checks docs/serving.md lists as deliberately unmet
fail.

checkov scans only Kubernetes' own kinds, not an InferenceService (a CRD). So for every
predictor this test also renders the pod KServe would create, as a Deployment: the
predictor's PodSpec fields, with the container of `predictor.model` (kserve v0.20.0
pkg/controller/v1beta1/inferenceservice/components/predictor.go buildPodSpec takes
isvc.Spec.Predictor.PodSpec and merges the model container over the ServingRuntime's;
reconcilers/deployment/deployment_reconciler.go createRawDefaultDeployment puts that
PodSpec in the Deployment's template). The runtime's own container fields (image, args,
probes) are not merged in: they are not modelkiln's output.

checkov runs from its own venv (.venv-checkov, `make checkov`); missing, the test skips, and
fails in CI (CI=true).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from compiler.output import write_files
from tests.conftest import IN_CI, REPO, UPSTREAM
from tests.kfp_helpers import files_of, yaml_docs
from tests.kserve_consumer import MODE, mergo_override
from tests.kserve_llmisvc_consumer import deployment as llmisvc_deployment

REQUIREMENTS = REPO / "tests" / "tools" / "checkov-requirements.txt"
ISVC_SCHEMA = UPSTREAM / "kserve" / "inferenceservice.v1beta1.strict.schema.json"
EXAMPLES = ("quickstart", "multi-cloud", "llm")

# The checks issue 10 names, and the others that guard a pod's isolation: each must pass on
# every CronJob and every predictor's Deployment.
REQUIRED = {
    "CKV_K8S_10": "CPU requests",
    "CKV_K8S_11": "CPU limits",
    "CKV_K8S_12": "memory requests",
    "CKV_K8S_13": "memory limits",
    "CKV_K8S_16": "not privileged",
    "CKV_K8S_17": "no host PID",
    "CKV_K8S_18": "no host IPC",
    "CKV_K8S_19": "no host network",
    "CKV_K8S_20": "allowPrivilegeEscalation: false",
    "CKV_K8S_21": "not in the default namespace",
    "CKV_K8S_22": "readOnlyRootFilesystem",
    "CKV_K8S_23": "runAsNonRoot",
    "CKV_K8S_25": "no added capabilities",
    "CKV_K8S_28": "drops NET_RAW (ALL)",
    "CKV_K8S_29": "a pod securityContext",
    "CKV_K8S_30": "a container securityContext",
    "CKV_K8S_31": "seccomp RuntimeDefault",
    "CKV_K8S_37": "drops ALL capabilities",
    "CKV_K8S_38": "no service account token",
    "CKV_K8S_39": "no SYS_ADMIN",
}
# Checks modelkiln deliberately does not satisfy, per kind; docs/serving.md says why.
ACCEPTED: dict[str, set[str]] = {
    "CronJob": {"CKV_K8S_43"},
    # the graph check on the Deployment's pods: a NetworkPolicy selects them
    "Pod": {"CKV2_K8S_6"},
    "Deployment": {
        "CKV_K8S_8",
        "CKV_K8S_9",
        "CKV_K8S_14",
        "CKV_K8S_15",
        "CKV_K8S_40",
        "CKV_K8S_43",
    },
}
# What the drift CronJob also passes (its image and user are modelkiln's).
REQUIRED_CRONJOB = {"CKV_K8S_14", "CKV_K8S_15", "CKV_K8S_40"}
# A predictor on GPUs keeps a writable root filesystem: the NVIDIA CDI hook writes into it
# (compiler/targets/serving/hardening.py read_only_root, kserve#5711).
ACCEPTED_GPU = {"CKV_K8S_22"}
# A Knative-mode predictor has no pod securityContext: Knative refuses one by default.
KNATIVE = "quickstart-knative"
ACCEPTED_KNATIVE = {"CKV_K8S_29"}


def checkov() -> str:
    """checkov from .venv-checkov, else from PATH; skipped where missing, failed in CI."""
    local = REPO / ".venv-checkov" / "bin" / "checkov"
    found = str(local) if local.is_file() else shutil.which("checkov")
    if found is None:
        if IN_CI:
            pytest.fail("checkov is missing in CI; `make test` installs it (make checkov)")
        pytest.skip("checkov is not installed: run `make checkov`")
    return found


def checkov_reports(folder: Path, framework: str) -> list[dict[str, Any]]:
    """checkov's JSON reports on a folder, as the suite runs it: no update check, no download
    of external checks; exit 1 only means that some check failed."""
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING"}
    command = [checkov(), "-d", str(folder), "--framework", framework, "-o", "json"]
    proc = subprocess.run(
        [*command, "--compact", "--skip-download"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    reports = json.loads(proc.stdout)
    return reports if isinstance(reports, list) else [reports]


def checks_by_resource(
    reports: list[dict[str, Any]],
) -> tuple[dict[tuple[str, str], set[str]], dict[tuple[str, str], set[str]]]:
    """(passed, failed): (file, resource) -> the check ids, over all reports."""
    passed: dict[tuple[str, str], set[str]] = defaultdict(set)
    failed: dict[tuple[str, str], set[str]] = defaultdict(set)
    for report in reports:
        results = report.get("results", {})
        for result, into in (("passed_checks", passed), ("failed_checks", failed)):
            for check in results.get(result, []):
                into[(check["file_path"], check["resource"])].add(check["check_id"])
    return dict(passed), dict(failed)


# --- the pods KServe would create ---------------------------------------------------------


@cache
def _schema_fields() -> tuple[frozenset[str], frozenset[str]]:
    """The PodSpec fields of a predictor (those its workerSpec, a plain PodSpec, has too) and
    the Container fields of predictor.model (minus ModelSpec's own, predictor_model.go)."""
    schema = json.loads(ISVC_SCHEMA.read_text())
    predictor = schema["properties"]["spec"]["properties"]["predictor"]["properties"]
    pod = set(predictor) & set(predictor["workerSpec"]["properties"])
    model_only = {
        "modelFormat",
        "runtime",
        "runtimeVersion",
        "protocolVersion",
        "storageUri",
        "storage",
        "confidential",
    }
    return frozenset(pod), frozenset(set(predictor["model"]["properties"]) - model_only)


def predictor_deployment(
    isvc: dict[str, Any], predictor: dict[str, Any] | None = None
) -> dict[str, Any]:
    pod_fields, container_fields = _schema_fields()
    predictor = predictor or isvc["spec"]["predictor"]
    model = predictor["model"]
    runtime = model.get("runtime") or model["modelFormat"]["name"]
    container = {"name": "kserve-container", "image": f"{runtime}:from-its-servingruntime"}
    container |= {k: copy.deepcopy(v) for k, v in model.items() if k in container_fields}
    pod = {k: copy.deepcopy(v) for k, v in predictor.items() if k in pod_fields}
    pod["containers"] = [container]
    # constants.PredictorServiceName: <isvc>-predictor, a named (canary) one <isvc>-<name>-…
    name = "-".join(p for p in (isvc["metadata"]["name"], predictor.get("name"), "predictor") if p)
    labels = {"app": f"isvc.{name}"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": isvc["metadata"]["namespace"]},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def predictor_deployments(isvc: dict[str, Any]) -> list[dict[str, Any]]:
    """The stable predictor's Deployment and each Standard-mode canary's: KServe merges a
    canary over the stable predictor (components/predictor.go buildCanaryPredictor)."""
    stable = isvc["spec"]["predictor"]
    canaries = [mergo_override(stable, c["predictor"]) for c in isvc["spec"].get("canary", [])]
    return [predictor_deployment(isvc, p) for p in (stable, *canaries)]


def knative_mode(isvc: dict[str, Any]) -> bool:
    return bool(isvc["metadata"].get("annotations", {}).get(MODE) == "Knative")


# --- removing a hardening field must fail its check ------------------------------------------

Pod = dict[str, Any]


def _container(pod: Pod) -> dict[str, Any]:
    container: dict[str, Any] = pod["containers"][0]
    return container


def _drop(path: str) -> Callable[[Pod], None]:
    """Remove a field of the pod ('pod.x.y') or of its first container ('container.x.y')."""
    where, *keys = path.split(".")

    def mutate(pod: Pod) -> None:
        node = _container(pod) if where == "container" else pod
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]
        if where == "pod" and keys == ["securityContext", "runAsNonRoot"]:
            # non-root is said three ways: runAsNonRoot at both levels and a non-zero runAsUser
            del _container(pod)["securityContext"]["runAsNonRoot"]
            pod["securityContext"].pop("runAsUser", None)

    return mutate


MUTATIONS: dict[str, tuple[str, str]] = {  # name: (field removed, the check that then fails)
    "no-cpu-request": ("container.resources.requests.cpu", "CKV_K8S_10"),
    "no-cpu-limit": ("container.resources.limits.cpu", "CKV_K8S_11"),
    "no-memory-request": ("container.resources.requests.memory", "CKV_K8S_12"),
    "no-memory-limit": ("container.resources.limits.memory", "CKV_K8S_13"),
    "escalation": ("container.securityContext.allowPrivilegeEscalation", "CKV_K8S_20"),
    "writable-root": ("container.securityContext.readOnlyRootFilesystem", "CKV_K8S_22"),
    "root": ("pod.securityContext.runAsNonRoot", "CKV_K8S_23"),
    "capabilities": ("container.securityContext.capabilities", "CKV_K8S_37"),
    "no-pod-context": ("pod.securityContext", "CKV_K8S_29"),
    "no-container-context": ("container.securityContext", "CKV_K8S_30"),
    "no-seccomp": ("pod.securityContext.seccompProfile", "CKV_K8S_31"),
    "token": ("pod.automountServiceAccountToken", "CKV_K8S_38"),
}


def _pod_of(doc: dict[str, Any]) -> Pod:
    spec = doc["spec"]
    template = (
        spec["jobTemplate"]["spec"]["template"] if doc["kind"] == "CronJob" else spec["template"]
    )
    pod: Pod = template["spec"]
    return pod


def on_gpu(doc: dict[str, Any]) -> bool:
    limits = _container(_pod_of(doc)).get("resources", {}).get("limits", {})
    return any(name.startswith("nvidia.com/") for name in limits)


def mutations_of(doc: dict[str, Any]) -> list[str]:
    """The mutations that apply: a GPU pod's root filesystem is writable already."""
    return [n for n in MUTATIONS if not (n == "writable-root" and on_gpu(doc))]


def mutants(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name in mutations_of(doc):
        path = MUTATIONS[name][0]
        mutant = copy.deepcopy(doc)
        mutant["metadata"]["name"] = f"{doc['metadata']['name']}-{name}"
        _drop(path)(_pod_of(mutant))
        if doc["kind"] == "Deployment" and path == "pod.securityContext.seccompProfile":
            del _container(_pod_of(mutant))["securityContext"]["seccompProfile"]
        out.append(mutant)
    return out


# --- one checkov run over everything -------------------------------------------------------


@dataclass
class Scan:
    passed: dict[tuple[str, str], set[str]]  # (file, resource) -> check ids
    failed: dict[tuple[str, str], set[str]]
    version: str
    resources: set[tuple[str, str]]  # the pods: CronJobs and Deployments


def _write(folder: Path, name: str, docs: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w") as out:
        YAML(typ="safe", pure=True).dump_all(docs, out)


def knative_quickstart(folder: Path) -> str:
    """A copy of the quickstart whose environment serves in Knative mode."""
    shutil.copytree(REPO / "examples" / "quickstart", folder)
    project = folder / "modelkiln.yaml"
    text = project.read_text()
    assert text.count("        mode: standard\n") == 1  # the quickstart's serving block
    project.write_text(text.replace("        mode: standard\n", "        mode: knative\n"))
    return str(folder)  # an absolute path: files_of compiles it, not an example


def _render(root: Path, name: str, files: dict[str, bytes], mutate: bool) -> None:
    write_files(root / "rendered" / name, files)
    for path, data in files.items():
        if path.endswith("/inferenceservice.yaml"):
            isvc = yaml_docs(data)[0]
            deployments = predictor_deployments(isvc)
            # a Knative-mode predictor of an example: accepted as the Knative copy's
            folder = root / "predictors" / name / ("knative-mode" if knative_mode(isvc) else "")
            folder = folder / ("gpu" if on_gpu(deployments[0]) else "")
            _write((folder / path).parent, "deployment.yaml", deployments)
            if mutate and not knative_mode(isvc):
                mutated = [m for d in deployments for m in mutants(d)]
                _write(root / "mutants" / name / path, "deployment.yaml", mutated)
        if path.endswith("llminferenceservice.yaml"):
            # the controller's Deployment: our template merged over its preset's (with the
            # preset's image, probes and mounts), tests/kserve_llmisvc_consumer.py
            deployments = [llmisvc_deployment(yaml_docs(data)[0])]
            folder = root / "predictors" / name / ("gpu" if on_gpu(deployments[0]) else "")
            _write((folder / path).parent, "deployment.yaml", deployments)
            if mutate:
                mutated = [m for d in deployments for m in mutants(d)]
                _write(root / "mutants" / name / path, "deployment.yaml", mutated)
        if path.endswith("drift.yaml") and mutate:
            cron_job = yaml_docs(data)[1]
            _write(root / "mutants" / name / path, "cronjob.yaml", mutants(cron_job))


@pytest.fixture(scope="session")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    root = tmp_path_factory.mktemp("checkov")
    for example in EXAMPLES:
        _render(root, example, files_of(example), mutate=True)
    knative = knative_quickstart(tmp_path_factory.mktemp("knative") / "quickstart")
    _render(root, KNATIVE, files_of(knative), mutate=False)
    reports = checkov_reports(root, "kubernetes")
    passed, failed = checks_by_resource(reports)
    version = ""
    for report in reports:
        version = report.get("summary", {}).get("checkov_version", version)
    pods = {
        key
        for key in passed.keys() | failed.keys()
        if key[1].startswith(("CronJob.", "Deployment."))
    }
    return Scan(passed, failed, version, pods)


def _ours(scan: Scan) -> list[tuple[str, str]]:
    return sorted(k for k in scan.resources if not k[0].startswith("/mutants/"))


def _knative(key: tuple[str, str]) -> bool:
    """A Knative-mode predictor: of the Knative copy, or of an example's Knative environment."""
    in_knative = f"/{KNATIVE}/" in key[0] or "/knative-mode/" in key[0]
    return in_knative and key[1].startswith("Deployment.")


def _gpu(key: tuple[str, str]) -> bool:
    return "/gpu/" in key[0] and key[1].startswith("Deployment.")


def _accepted(key: tuple[str, str]) -> set[str]:
    kind = key[1].split(".")[0]
    accepted = ACCEPTED.get(kind, set()) | (ACCEPTED_KNATIVE if _knative(key) else set())
    return accepted | (ACCEPTED_GPU if _gpu(key) else set())


def test_checkov_is_the_pinned_version(scan: Scan) -> None:
    pinned = next(
        line.split("==")[1].strip()
        for line in REQUIREMENTS.read_text().splitlines()
        if line.startswith("checkov==")
    )
    assert scan.version == pinned


def test_every_pod_was_scanned(scan: Scan) -> None:
    ours = _ours(scan)
    cron_jobs = [k for k in ours if k[1].startswith("CronJob.")]
    deployments = [k for k in ours if k[1].startswith("Deployment.")]
    # the examples (a Standard-mode canary has a Deployment of its own), and the Knative copy
    # of the quickstart (no spec.canary in Knative mode)
    files = [(p, d) for e in (*EXAMPLES, "quickstart") for p, d in files_of(e).items()]
    examples = [
        yaml_docs(d)[0]
        for e in EXAMPLES
        for p, d in files_of(e).items()
        if p.endswith("/inferenceservice.yaml")
    ]
    knative_copy = sum(1 for p in files_of("quickstart") if p.endswith("/inferenceservice.yaml"))
    llmisvcs = sum(
        1 for e in EXAMPLES for p in files_of(e) if p.endswith("/llminferenceservice.yaml")
    )
    canaries = sum(len(i["spec"].get("canary", [])) for i in examples)
    assert llmisvcs
    assert len(deployments) == len(examples) + canaries + knative_copy + llmisvcs
    assert len(cron_jobs) == sum(1 for p, _ in files if p.endswith("drift.yaml"))
    assert cron_jobs and deployments


def test_the_hardening_checks_pass_on_every_pod(scan: Scan) -> None:
    problems = []
    for key in _ours(scan):
        kind = key[1].split(".")[0]
        required = set(REQUIRED) | (REQUIRED_CRONJOB if kind == "CronJob" else set())
        missing = required - scan.passed.get(key, set()) - _accepted(key)
        if missing:
            problems.append(f"{key}: did not pass {sorted(missing)}")
    assert not problems, "\n".join(problems)


def unexpected_failures(
    failed: dict[tuple[str, str], set[str]], accepted: Callable[[tuple[str, str]], set[str]]
) -> list[str]:
    """The checks that failed on the rendered files (not the mutants) and that the docs do
    not list as accepted."""
    problems = []
    for key, ids in sorted(failed.items()):
        unexpected = ids - accepted(key)
        if not key[0].startswith("/mutants/") and unexpected:
            problems.append(f"{key}: failed {sorted(unexpected)}")
    return problems


def test_only_the_documented_checks_fail(scan: Scan) -> None:
    problems = unexpected_failures(scan.failed, _accepted)
    assert not problems, "\n".join(problems)


def test_removing_a_hardening_field_fails_its_check(scan: Scan) -> None:
    problems = []
    mutated = [k for k in scan.resources if k[0].startswith("/mutants/")]
    standard = [k for k in _ours(scan) if f"/{KNATIVE}/" not in k[0] and not _knative(k)]
    assert len(mutated) == sum(len(MUTATIONS) - _gpu(k) for k in standard)
    assert any(_gpu(k) for k in standard) and not all(_gpu(k) for k in standard)
    for key in mutated:
        name = next(n for n in MUTATIONS if key[1].endswith("-" + n))
        check = MUTATIONS[name][1]
        if check not in scan.failed.get(key, set()):
            problems.append(f"{key}: removing {MUTATIONS[name][0]} did not fail {check}")
    assert not problems, "\n".join(problems)


def test_the_docs_list_every_check_left_unmet() -> None:
    docs = (REPO / "docs" / "serving.md").read_text()
    section = docs.split("### Checks not satisfied", 1)[1].split("\n## ", 1)[0]
    extra = [("Knative mode", ACCEPTED_KNATIVE), ("GPU", ACCEPTED_GPU)]
    for kind, checks in [*ACCEPTED.items(), *extra]:
        for check in checks:
            assert f"{check}" in section and kind in section, (kind, check)


def test_a_knative_predictor_is_hardened_at_the_container(scan: Scan) -> None:
    knative = [k for k in _ours(scan) if _knative(k)]
    assert knative
    for key in knative:
        assert scan.failed.get(key, set()) & ACCEPTED_KNATIVE == ACCEPTED_KNATIVE, key
