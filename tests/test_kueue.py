"""Kueue quotas: the rendered objects pass Kueue v0.19.2's strict v1beta2 schemas and the
rules of its CRDs (CEL) and webhook; every flavor is a pool of the same compile's Terraform;
every queue label names a LocalQueue of its environment; the quota rules; determinism."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from compiler import catalog
from compiler.load import load
from compiler.plan import EnvironmentPlan
from compiler.planner import build_plan
from compiler.quota_plan import PRIORITY_LABEL, QUEUE_LABEL, scoped_name
from compiler.render import render
from compiler.validate import validate
from tests.conftest import UPSTREAM, copy_example
from tests.kfp_helpers import files_of, plan_of, yaml_docs
from tests.test_terraform import pools_of, tolerates

EXAMPLES = ("multi-cloud", "quickstart")
SCHEMAS = {
    kind: json.loads(
        (UPSTREAM / "kueue" / f"{kind.lower()}.v1beta2.strict.schema.json").read_text()
    )
    for kind in ("ResourceFlavor", "ClusterQueue", "LocalQueue", "WorkloadPriorityClass")
}
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


# --- helpers ---------------------------------------------------------------------------------


def kueue_objects(files: dict[str, bytes], env: str) -> dict[str, list[dict[str, Any]]]:
    """kind -> the objects under <env>/kueue/ (the kustomization left out)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path, data in files.items():
        if path.startswith(f"{env}/kueue/") and not path.endswith("/kustomization.yaml"):
            for doc in yaml_docs(data):
                out.setdefault(doc["kind"], []).append(doc)
    return out


def cel_problems(objects: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The x-kubernetes-validations of the v1beta2 CRDs (config/components/crd/bases at
    v0.19.2) that apply to what modelkiln writes, and the ClusterQueue webhook's rules on
    resource order (pkg/webhooks/clusterqueue_webhook.go:302-344), in Python."""
    problems = []
    for cq in objects.get("ClusterQueue", []):
        spec, name = cq["spec"], cq["metadata"]["name"]
        seen: set[str] = set()
        for group in spec.get("resourceGroups", []):
            covered = group["coveredResources"]
            seen_flavors: set[str] = set()
            for flavor in group["flavors"]:
                names = [r["name"] for r in flavor["resources"]]
                if len(names) != len(covered):  # CEL on resourceGroups items
                    problems.append(f"{name}: flavors must have the same number of resources")
                if names != covered[: len(names)]:  # webhook: same order
                    problems.append(f"{name}: must match the name in coveredResources")
                if flavor["name"] in seen_flavors:
                    problems.append(f"{name}: duplicate flavor {flavor['name']}")
                seen_flavors.add(flavor["name"])
                limits = [r for r in flavor["resources"] if "borrowingLimit" in r]
                if limits and "cohortName" not in spec:  # CEL on spec
                    problems.append(f"{name}: borrowingLimit must be nil when cohort is empty")
            if seen & set(covered):
                problems.append(f"{name}: a resource in two groups")
            seen |= set(covered)
        preemption = spec.get("preemption", {})
        borrow = preemption.get("borrowWithinCohort", {}).get("policy", "Never")
        if preemption.get("reclaimWithinCohort", "Never") == "Never" and borrow != "Never":
            problems.append(f"{name}: reclaimWithinCohort=Never and borrowWithinCohort")
    for rf in objects.get("ResourceFlavor", []):
        spec, name = rf["spec"], rf["metadata"]["name"]
        for t in spec.get("nodeTaints", []):
            if t["effect"] not in EFFECTS:
                problems.append(f"{name}: supported taint effect values")
        for t in spec.get("tolerations", []):
            operator = t.get("operator", "Equal")
            if "key" not in t and operator != "Exists":
                problems.append(f"{name}: operator must be Exists when 'key' is empty")
            if operator not in ("Equal", "Exists"):
                problems.append(f"{name}: supported toleration values")
            if operator == "Exists" and "value" in t:
                problems.append(f"{name}: a value must be empty when 'operator' is 'Exists'")
            if "tolerationSeconds" in t and t.get("effect") != "NoExecute":
                problems.append(f"{name}: effect must be 'NoExecute' when 'tolerationSeconds'")
            if "effect" in t and t["effect"] not in EFFECTS:
                problems.append(f"{name}: supported taint effect values")
    return problems


def label_maps(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every `labels` mapping in a document: metadata.labels of any object, pod template
    labels, and the KFP platform spec's podMetadata labels."""
    if isinstance(node, dict):
        labels = node.get("labels")
        if isinstance(labels, dict):
            yield where, labels
        for key, value in node.items():
            yield from label_maps(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from label_maps(value, f"{where}[{i}]")


def queue_labels(files: dict[str, bytes], env: str) -> list[tuple[str, str, str]]:
    """(where, label key, value) of every Kueue queue or priority label in env's YAML."""
    found = []
    for path, data in files.items():
        if not path.startswith(f"{env}/") or not path.endswith((".yaml", ".yml")):
            continue
        for i, doc in enumerate(yaml_docs(data)):
            for where, labels in label_maps(doc, f"{path}#{i}"):
                for key in (QUEUE_LABEL, PRIORITY_LABEL):
                    if key in labels:
                        found.append((where, key, labels[key]))
    return found


def compiled(repo: Path) -> tuple[list[EnvironmentPlan], dict[str, bytes]]:
    result = validate(load(repo))
    assert result.ok, result.diagnostics
    plan = build_plan(result.specs)
    return list(plan.environments), render(plan, workers=1)


# --- rendered objects ------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_kueue_objects_pass_the_strict_schemas_and_cel_rules(example: str) -> None:
    files = files_of(example)
    kinds: set[str] = set()
    for env in plan_of(example).environments:
        objects = kueue_objects(files, env.name)
        assert objects, f"{env.name}: no Kueue objects"
        for kind, docs in objects.items():
            kinds.add(kind)
            for doc in docs:
                jsonschema.validate(doc, SCHEMAS[kind])
        assert cel_problems(objects) == []
        # the environment's kustomization applies kueue/, which lists every file
        kustomization = yaml_docs(files[f"{env.name}/kustomization.yaml"])[0]
        assert "kueue" in kustomization["resources"]
        listed = yaml_docs(files[f"{env.name}/kueue/kustomization.yaml"])[0]["resources"]
        assert sorted(f"{env.name}/kueue/{n}" for n in listed) == sorted(
            p for p in files if p.startswith(f"{env.name}/kueue/") and "kustomization" not in p
        )
    expected = {"ResourceFlavor", "ClusterQueue", "LocalQueue"}
    if example == "multi-cloud":
        expected.add("WorkloadPriorityClass")
    assert kinds == expected


def test_the_cel_checks_catch_what_kueue_refuses() -> None:
    """Each rule of cel_problems can fail: mutated copies of rendered objects break it."""
    objects = kueue_objects(files_of("quickstart"), "prod")
    cq = objects["ClusterQueue"][0]
    flavor = cq["spec"]["resourceGroups"][0]["flavors"][0]
    assert cel_problems(objects) == []
    flavor["resources"].reverse()
    assert "must match the name in coveredResources" in " ".join(cel_problems(objects))
    flavor["resources"].reverse()
    flavor["resources"].pop()
    assert "same number of resources" in " ".join(cel_problems(objects))
    objects = kueue_objects(files_of("quickstart"), "prod")
    objects["ClusterQueue"][0]["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2][
        "borrowingLimit"
    ] = 1
    assert "cohort is empty" in " ".join(cel_problems(objects))
    objects = kueue_objects(files_of("quickstart"), "prod")
    objects["ResourceFlavor"][0]["spec"]["tolerations"][0]["operator"] = "Exists"
    assert "value must be empty" in " ".join(cel_problems(objects))


@pytest.mark.parametrize("example", EXAMPLES)
def test_flavors_are_pools_of_the_same_compile(example: str) -> None:
    """Each ResourceFlavor: the node labels and taints of a node pool in the Terraform of
    the same compile, and tolerations that tolerate every one of those taints."""
    files = files_of(example)
    for env in plan_of(example).environments:
        pools = pools_of(env)
        flavors = kueue_objects(files, env.name)["ResourceFlavor"]
        assert len(flavors) == len(env.pools) == len(pools)
        for flavor in flavors:
            spec = flavor["spec"]
            taints = [(t["key"], t["value"], t["effect"]) for t in spec["nodeTaints"]]
            matches = [
                name
                for name, (labels, pool_taints) in pools.items()
                if labels == spec["nodeLabels"] and sorted(pool_taints) == sorted(taints)
            ]
            assert len(matches) == 1, (flavor["metadata"]["name"], pools)
            assert all(tolerates(spec["tolerations"], t) for t in taints)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_queue_label_names_a_queue_of_its_environment(example: str) -> None:
    files = files_of(example)
    serving_expected = trained = 0
    for env in plan_of(example).environments:
        objects = kueue_objects(files, env.name)
        queues = {q["metadata"]["name"] for q in objects.get("LocalQueue", [])}
        assert all(q["metadata"]["namespace"] == env.namespace for q in objects["LocalQueue"])
        classes = {c["metadata"]["name"] for c in objects.get("WorkloadPriorityClass", [])}
        cluster_queues = {c["metadata"]["name"] for c in objects["ClusterQueue"]}
        flavors = {f["metadata"]["name"] for f in objects["ResourceFlavor"]}
        for q in objects["LocalQueue"]:
            assert q["spec"]["clusterQueue"] in cluster_queues
        for cq in objects["ClusterQueue"]:
            for group in cq["spec"]["resourceGroups"]:
                assert {f["name"] for f in group["flavors"]} <= flavors
        found = queue_labels(files, env.name)
        for where, key, value in found:
            assert value in (queues if key == QUEUE_LABEL else classes), where
        isvcs = [w for w, k, _ in found if k == QUEUE_LABEL and "inferenceservice" in w]
        serving = [m for m in env.models if m.serving is not None and m.serving.queue]
        assert len(isvcs) == len(serving)
        serving_expected += len(serving)
        # each queued training: its TrainJob / PyTorchJob or its pipeline step's pod labels
        for model in env.models:
            if model.training is not None and model.training.queue:
                trained += 1
                prefix = f"{env.name}/models/{model.name}/"
                assert any(w.startswith(prefix) for w, k, _ in found if k == QUEUE_LABEL)
    assert trained >= 1  # the scan is not vacuous
    if example == "multi-cloud":
        assert serving_expected >= 4


def test_knative_environments_and_cpu_workloads_are_not_queued() -> None:
    plan = plan_of("multi-cloud")
    for env in plan.environments:
        for model in env.models:
            s, t = model.serving, model.training
            if s is not None and (env.serving_mode == "knative" or not s.gpus):
                assert s.queue is None, (env.name, model.name)
            if t is not None and not t.gpus:
                assert t.queue is None
    prod_eu = next(e for e in plan.environments if e.name == "prod-eu")
    queues = [m.training.queue for m in prod_eu.models if m.training and m.name == "recommender"]
    assert queues == ["growth-ml"]


def test_cpu_and_memory_derive_from_the_machine_shape() -> None:
    """quickstart: risk-ml holds all 4 GPUs of an a100-train node: all its vCPUs and
    memory (the catalog's shape of the pool's machine type)."""
    env = plan_of("quickstart").environments[0]
    pool = env.pools[0] if env.pools[0].name == "a100-train" else env.pools[1]
    shape = catalog.offering(pool.accelerator, env.provider).machine_shape(pool.machine_type)  # type: ignore[union-attr]
    assert shape is not None
    cq = kueue_objects(files_of("quickstart"), "prod")["ClusterQueue"][0]
    resources = {
        r["name"]: r["nominalQuota"]
        for r in cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"]
    }
    assert resources["cpu"] == str(shape.vcpus)
    assert resources["nvidia.com/gpu"] == 4
    gib = Decimal(str(shape.memory_gib))
    memory = resources["memory"]
    assert memory == (f"{int(gib)}Gi" if gib == int(gib) else f"{int(gib * 1024)}Mi")


def test_no_quotas_no_kueue(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "quickstart")
    project = repo / "modelkiln.yaml"
    text = project.read_text()
    start = text.index("  quotas:")
    end = text.index("  policies:")
    project.write_text(text[:start] + text[end:])
    envs, files = compiled(repo)
    assert not any("/kueue/" in p for p in files)
    assert "kueue" not in yaml_docs(files["prod/kustomization.yaml"])[0]["resources"]
    assert queue_labels(files, "prod") == []
    assert envs[0].kueue is None


def test_rendering_is_deterministic_whatever_the_order_of_teams(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "multi-cloud")
    project = repo / "modelkiln.yaml"
    text = project.read_text()
    growth = text[text.index("      growth-ml:") : text.index("      support-ml:")]
    support = text[text.index("      support-ml:") : text.index("  policies:")]
    project.write_text(text.replace(growth + support, support + growth))
    _, files = compiled(repo)
    kueue = {p: d for p, d in files.items() if "/kueue/" in p}
    assert kueue == {p: d for p, d in files_of("multi-cloud").items() if "/kueue/" in p}
    assert kueue == {
        p: d for p, d in render(plan_of("multi-cloud"), workers=1).items() if p in kueue
    }


def test_scoped_names_fit_a_label_value() -> None:
    env = "e" * 63
    a, b = scoped_name(env, "training"), scoped_name(env, "serving")
    assert len(a) <= 63 and len(b) <= 63 and a != b and a.endswith("-training")
    assert scoped_name("prod", "training") == "prod-training"


# --- validation ------------------------------------------------------------------------------


def _quickstart_with(tmp_path: Path, quotas: str, nodes: int = 1) -> list[Any]:
    """quickstart (copied to tmp_path/quickstart) with another quotas block and the
    a100-train pool grown to 2 nodes."""
    repo = copy_example(tmp_path, "quickstart")
    project = repo / "modelkiln.yaml"
    text = project.read_text().replace("maxMonthlyCostUsd: 25000", "maxMonthlyCostUsd: 250000")
    start = text.index("  quotas:")
    end = text.index("  policies:")
    project.write_text(text[:start] + quotas + text[end:])
    pools = repo / "pools" / "gpu-pools.yaml"
    pools.write_text(pools.read_text().replace("maxNodes: 1\n", "maxNodes: 2\n", 1))
    model = repo / "models" / "fraud-detector.yaml"
    model.write_text(
        model.read_text()
        .replace("gpus: 4, cpu", f"gpus: 4, nodes: {nodes}, cpu")
        .replace("    timeout: 12h", "    distributed: {strategy: ddp}\n    timeout: 12h")
    )
    return validate(load(repo)).diagnostics


TWO_TEAMS = """  quotas:
    borrowing: {borrowing}
    teams:
      risk-ml:
        prod:
          a100-train: {{gpus: 4{limit}}}
      growth-ml:
        prod:
          a100-train: {{gpus: 4}}
"""


def test_borrowing_lets_a_team_use_the_cohorts_idle_quota(tmp_path: Path) -> None:
    ok = _quickstart_with(tmp_path / "a", TWO_TEAMS.format(borrowing="true", limit=""), nodes=2)
    assert [d for d in ok if d.severity == "error"] == []


def test_without_borrowing_the_nominal_quota_is_the_limit(tmp_path: Path) -> None:
    found = _quickstart_with(tmp_path, TWO_TEAMS.format(borrowing="false", limit=""), nodes=2)
    (d,) = [d for d in found if d.code == "MK360"]
    # the GPUs, and the CPUs: 2 × 32 is more than the derived share, 1 node's 48 vCPUs
    assert "8 GPUs (2 × 4), 64 CPU (2 × 32)" in d.message
    assert "at most 4 GPUs, 48 CPU there (nominal)" in d.message
    assert d.file == "models/fraud-detector.yaml"
    text = (tmp_path / "quickstart" / "models" / "fraud-detector.yaml").read_text().splitlines()
    assert text[d.line - 1].strip().startswith("resources:")


def test_a_borrowing_limit_caps_what_a_team_may_borrow(tmp_path: Path) -> None:
    quotas = TWO_TEAMS.format(borrowing="true", limit=", borrowingLimit: 3")
    (d,) = [d for d in _quickstart_with(tmp_path, quotas, nodes=2) if d.code == "MK360"]
    assert "at most 7 GPUs there (nominal plus what it may borrow)" in d.message


def test_an_owner_without_quota_gets_the_entry_to_add(tmp_path: Path) -> None:
    quotas = (
        "  quotas:\n    teams:\n      growth-ml:\n        prod:\n          a100-train: {gpus: 4}\n"
    )
    (d,) = [d for d in _quickstart_with(tmp_path, quotas) if d.code == "MK361"]
    assert "team 'risk-ml' has no quota on GpuPool 'a100-train'" in d.message
    assert d.hint == "add quotas.teams.risk-ml.prod.a100-train: {gpus: 4} to modelkiln.yaml"


def test_overcommit_names_the_pool_and_excess(tmp_path: Path) -> None:
    quotas = TWO_TEAMS.format(borrowing="false", limit="").replace("gpus: 4}", "gpus: 6}")
    (d,) = [d for d in _quickstart_with(tmp_path, quotas) if d.code == "MK363"]
    assert d.severity == "warning"
    assert "'a100-train'" in d.message and "add up to 12" in d.message and "4 over" in d.message
    lines = (tmp_path / "quickstart" / "modelkiln.yaml").read_text().splitlines()
    assert lines[d.line - 1].strip().startswith("a100-train:")
