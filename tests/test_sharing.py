"""GPU sharing (GpuPool spec.sharing, migProfile; compiler/sharing.py, docs/llm.md "GPU
sharing"): what a replica asks for is what the nodes of its pool offer, as the consuming
systems decide it, read from their sources:

- the GPU operator's MIG manager partitions a node to the mig-parted configuration its
  nvidia.com/mig.config label names (tests/upstream/gpu-operator/default-mig-parted-config.yaml,
  gpu-operator v26.7.0), and its device plugin with mig.strategy=mixed offers each slice as
  nvidia.com/mig-<profile> (k8s-device-plugin v0.20.0 README, "mixed");
- GKE partitions the GPUs of a node pool with gpu_partition_size (or time-shares them with
  gpu_sharing_config), offers each share as nvidia.com/gpu, and labels the nodes
  cloud.google.com/gke-gpu-partition-size (gke-gpu-sharing-strategy, gke-max-shared-clients-
  per-gpu) (GKE "Running multi-instance GPUs", "Share GPUs with multiple workloads using
  time-sharing");
- the device plugin reads the configuration its node label nvidia.com/device-plugin.config
  names, and refuses fewer than 2 time-slicing replicas (api/config/v1/replicas.go, v0.20.0);
- Kueue admits a pod only when its ClusterQueue covers every resource it requests
  (pkg/scheduler/flavorassigner/flavorassigner.go:1071, v0.19.2).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from compiler import catalog
from compiler.llm import LlmPlan
from compiler.llm.planning import fit_on
from compiler.load import load
from compiler.plan import EnvironmentPlan
from compiler.planner import build_plan
from compiler.render import render
from compiler.sharing import (
    DEVICE_PLUGIN_CONFIG_LABEL,
    GKE_CLIENTS_LABEL,
    GKE_PARTITION_LABEL,
    GKE_SHARING_LABEL,
    MIG_CONFIG_LABEL,
)
from compiler.slo import scale_target
from compiler.spec.gpupool import GpuSharing
from compiler.spec.llm import Llm
from compiler.validate import validate
from tests.conftest import UPSTREAM, copy_example
from tests.kfp_helpers import files_of, plan_of, yaml_docs
from tests.test_kueue import SCHEMAS as KUEUE_SCHEMAS
from tests.test_kueue import cel_problems, kueue_objects
from tests.test_terraform import (
    assert_terraform_loads,
    blocks,
    check_block,
    fmt_problems,
    parse,
    schemas,
    tolerates,
    write,
)

MIG_PARTED = UPSTREAM / "gpu-operator" / "default-mig-parted-config.yaml"
POOL_RESOURCE = {
    "gcp": "google_container_node_pool",
    "aws": "aws_eks_node_group",
    "azure": "azurerm_kubernetes_cluster_node_pool",
}


def mig_configs() -> dict[str, list[dict[str, Any]]]:
    configmap = YAML(typ="safe", pure=True).load(MIG_PARTED.read_text())
    configs: dict[str, list[dict[str, Any]]] = YAML(typ="safe", pure=True).load(
        configmap["data"]["config.yaml"]
    )["mig-configs"]
    return configs


# --- the catalog against NVIDIA's own configuration ---------------------------------------------


def test_every_catalog_profile_is_a_mig_manager_configuration() -> None:
    """`all-<profile>` exists in the operator's default configuration and cuts each GPU into
    the catalog's number of slices (for all-1g.10gb, per device: 7 on 80 GB, 4 on A100 40GB)."""
    configs = mig_configs()
    checked = 0
    for accelerator in catalog.accelerators():
        for profile in catalog.mig_profiles(accelerator):
            entries = configs[f"all-{profile.name}"]
            counts = {e["mig-devices"][profile.name] for e in entries}
            assert profile.per_gpu in counts, (accelerator, profile.name, counts)
            checked += 1
    assert checked == 24


def test_mig_is_on_the_gpus_that_have_it() -> None:
    for accelerator in ("nvidia-t4", "nvidia-l4", "nvidia-a10g"):
        assert catalog.mig_profiles(accelerator) == ()
    for accelerator in ("nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-h200"):
        profiles = catalog.mig_profiles(accelerator)
        whole = catalog.gpu_memory_gib(accelerator)
        assert profiles[-1].name.startswith("7g.") and profiles[-1].per_gpu == 1
        for p in profiles:
            nominal = int(re.fullmatch(r"\dg\.(\d+)gb", p.name)[1])  # type: ignore[index]
            # the name rounds NVML's size (GB in the name, MiB in NVML): within 6 %
            assert abs(p.memory_gib - nominal) / nominal < 0.06, p
            assert p.memory_gib <= whole and p.per_gpu * p.memory_gib <= whole + 1, p
        # AKS's gpu_instance MIG<n>g: one profile per compute size, never two
        aks = [p.aks_gpu_instance for p in profiles if p.aks_gpu_instance]
        assert aks == ["MIG1g", "MIG2g", "MIG3g", "MIG4g", "MIG7g"], accelerator


# --- the example: every placed replica gets what its pool's nodes offer ------------------------


def offered(provider: str, body: dict[str, Any], labels: dict[str, str]) -> set[str]:
    """The extended resources the nodes of one rendered node pool offer, and the labels the
    cloud adds to what Terraform sets (GKE), as the cloud and the GPU operator decide."""
    if provider == "gcp":
        accelerator = body["node_config"][0]["guest_accelerator"][0]
        if "gpu_partition_size" in accelerator:
            labels[GKE_PARTITION_LABEL] = accelerator["gpu_partition_size"].strip('"')
        for sharing in accelerator.get("gpu_sharing_config", []):
            labels[GKE_SHARING_LABEL] = "time-sharing"
            labels[GKE_CLIENTS_LABEL] = str(sharing["max_shared_clients_per_gpu"])
        return {"nvidia.com/gpu"}
    config = labels.get(MIG_CONFIG_LABEL)
    if config is None:
        return {"nvidia.com/gpu"}
    # the mixed strategy: one resource per MIG profile the node is partitioned into
    return {f"nvidia.com/mig-{p}" for e in mig_configs()[config] for p in e["mig-devices"]}


def node_pools(env: EnvironmentPlan, files: dict[str, bytes]) -> dict[str, Any]:
    from tests.test_terraform import pool_labels_and_taints

    main = parse(files[f"{env.name}/terraform/main.tf"])
    out = {}
    for _, name, body in blocks(main, "resource"):
        labels, taints = pool_labels_and_taints(env.provider, body)
        resources = offered(env.provider, body, labels)
        out[name] = (labels, taints, resources)
    return out


def predictors(files: dict[str, bytes], env: str) -> list[dict[str, Any]]:
    """Every model server's pod placement and resource limits, as {limits, nodeSelector,
    tolerations}: InferenceService spec.predictor (its model container) and
    LLMInferenceService spec.template (a pod spec)."""
    out = []
    for path, data in files.items():
        if not path.startswith(f"{env}/models/"):
            continue
        for doc in yaml_docs(data):
            if doc.get("kind") == "InferenceService":
                pod = doc["spec"]["predictor"]
                containers = [pod["model"]]
            elif doc.get("kind") == "LLMInferenceService":
                pod = doc["spec"]["template"]
                containers = pod["containers"]
            else:
                continue
            limits: dict[str, Any] = {}
            for c in containers:
                limits |= c.get("resources", {}).get("limits", {})
            out.append(
                {
                    "limits": limits,
                    "nodeSelector": pod.get("nodeSelector", {}),
                    "tolerations": pod.get("tolerations", []),
                }
            )
    return out


def test_every_replica_fits_a_node_that_offers_what_it_asks_for() -> None:
    plan, files = plan_of("llm"), files_of("llm")
    checked = set()
    for env in plan.environments:
        pools = node_pools(env, files)
        for predictor in predictors(files, env.name):
            asks = {k for k in predictor["limits"] if "/" in k}
            selector = predictor.get("nodeSelector", {})
            fits = [
                name
                for name, (labels, taints, resources) in pools.items()
                if all(labels.get(k) == v for k, v in selector.items())
                and all(tolerates(predictor.get("tolerations", []), t) for t in taints)
                and asks <= resources
            ]
            assert fits, (env.name, selector, asks)
            checked |= {(env.provider, r) for r in asks}
    # the example does exercise both ways a MIG slice is asked for
    assert {("aws", "nvidia.com/mig-1g.10gb"), ("gcp", "nvidia.com/gpu")} <= checked


def test_the_plan_gives_the_slice_its_memory_and_its_share_of_the_price() -> None:
    for env in plan_of("llm").environments:
        model = next(m for m in env.models if m.name == "assist-1b")
        serving = model.serving
        assert serving is not None and serving.llm is not None and serving.pool is not None
        fit = serving.llm.fit
        assert fit is not None and fit.device_gib == 10.0 and fit.fits
        price = serving.pool.cost.usd_per_gpu_hour
        replicas_cost = price / 7 * _needed(serving.llm)
        peak = serving.llm.peak_tokens_per_second
        expected = replicas_cost / (peak * 3600) * 1_000_000
        assert serving.llm.usd_per_million_tokens == pytest.approx(expected)


def _needed(llm: LlmPlan) -> int:
    """The replicas the peak needs at the SLO's safe load per replica."""
    target = max(1, scale_target(llm.capacity_tokens_per_second))
    return max(1, math.ceil(llm.peak_tokens_per_second / target))


def test_a_model_that_fits_a_gpu_does_not_fit_a_slice() -> None:
    """Llama 3.1 8B in bf16 (15 GiB of weights) fits an H100, not its 1g.10gb slice;
    time-sliced between 4 it gets a quarter of vLLM's share of the memory."""
    llm = Llm.model_validate(
        {
            "source": "hf://meta-llama/Llama-3.1-8B-Instruct",
            "family": "llama-3.1-8b",
            "dtype": "bf16",
            "maxContextTokens": 4096,
            "concurrentSequences": 4,
            "slo": {
                "ttftP95Ms": 800,
                "tpotP95Ms": 40,
                "availability": 99.5,
                "tokensPerSecond": 100,
            },
        }
    )
    from compiler.sharing import pool_sharing

    whole = fit_on(llm, "nvidia-h100-80gb", 1)
    mig = pool_sharing("nvidia-h100-80gb", GpuSharing(mig="1g.10gb"), "aws")
    sliced = fit_on(llm, "nvidia-h100-80gb", 1, mig)
    shared = pool_sharing("nvidia-h100-80gb", GpuSharing(time_slicing=4), "aws")
    timesliced = fit_on(llm, "nvidia-h100-80gb", 1, shared)
    assert whole is not None and sliced is not None and timesliced is not None
    assert whole.fits and not sliced.fits and not timesliced.fits
    assert sliced.device_gib == 10.0
    assert timesliced.available_gib == pytest.approx(whole.available_gib / 4)


# --- other clouds and time-slicing: a copy of the example --------------------------------------

AZURE_ENV = """    - name: eu
      namespace: llm-eu
      cloud:
        provider: azure
        subscription: 00000000-0000-0000-0000-000000000000
        resourceGroup: llm-eu
        region: westeurope
      cluster: llm-eu-aks
      serving:
        mode: standard
        prometheus: http://prometheus-operated.monitoring.svc:9090
"""
SHARED_POOL = """---
apiVersion: modelkiln.dev/v1alpha1
kind: GpuPool
metadata: {name: l4-shared}
spec:
  accelerator: nvidia-l4
  gpusPerNode: 1
  machineType: g6.xlarge
  maxNodes: 2
  environments: [prod]
  sharing: {timeSlicing: 4}
---
apiVersion: modelkiln.dev/v1alpha1
kind: GpuPool
metadata: {name: a100-shared}
spec:
  accelerator: nvidia-a100-80gb
  gpusPerNode: 1
  maxNodes: 2
  environments: [eu, staging]
  sharing: {timeSlicing: 3}
"""
QUOTAS = """  quotas:
    servingQueues: true
    teams:
      assistant-team:
        prod:
          h100-mig: {gpus: 2}
          h100: {gpus: 16}
          l4-aws: {gpus: 16}
"""


def _shared_copy(tmp_path: Path) -> Path:
    repo = copy_example(tmp_path, "llm")
    project = repo / "modelkiln.yaml"
    text = project.read_text()
    text = text.replace("  policies:\n", QUOTAS + "  policies:\n")
    text = text.replace(
        "        llm: {api: llminferenceservice}\n",
        "        llm: {api: llminferenceservice}\n" + AZURE_ENV,
    )
    project.write_text(text)
    pools = repo / "pools" / "gpu-pools.yaml"
    # the H100 pool holds the 8B model's replicas in the Azure environment too
    text = pools.read_text().replace("maxNodes: 2\n  diskGb", "maxNodes: 3\n  diskGb")
    pools.write_text(text + SHARED_POOL)
    chat = repo / "models" / "chat-8b.yaml"  # Azure has no L4: the 8B model takes an H100 there
    chat.write_text(chat.read_text() + "    eu:\n      serving: {resources: {pool: h100}}\n")
    return repo


def _compiled(repo: Path) -> tuple[list[EnvironmentPlan], dict[str, bytes]]:
    result = validate(load(repo))
    assert result.ok, [str(d) for d in result.diagnostics]
    plan = build_plan(result.specs)
    return list(plan.environments), render(plan, workers=1)


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[EnvironmentPlan], dict[str, bytes]]:
    return _compiled(_shared_copy(tmp_path_factory.mktemp("shared")))


def test_terraform_of_shared_pools_is_valid_on_every_cloud(
    shared: tuple[list[EnvironmentPlan], dict[str, bytes]], tmp_path: Path
) -> None:
    envs, files = shared
    known = schemas()
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for env in envs:
        tf = {p: d for p, d in files.items() if p.startswith(f"{env.name}/terraform/")}
        folder = write(tf, tmp_path / env.name)
        assert fmt_problems(folder) == ""
        assert_terraform_loads(folder, env.provider)
        for rtype, name, body in blocks(parse(tf[f"{env.name}/terraform/main.tf"]), "resource"):
            assert check_block(known[rtype], body, f"{rtype}.{name}") == []
            seen[env.provider, name] = body
    # what each cloud is told
    gke_mig = seen["gcp", "h100-mig"]["node_config"][0]["guest_accelerator"][0]
    assert gke_mig["gpu_partition_size"] == '"1g.10gb"'
    gke_shared = seen["gcp", "a100-shared"]["node_config"][0]["guest_accelerator"][0]
    assert gke_shared["gpu_sharing_config"] == [
        {
            "gpu_sharing_strategy": '"TIME_SHARING"',
            "max_shared_clients_per_gpu": 3,
            "__is_block__": True,
        }
    ]
    aks_mig = seen["azure", "h100-mig"]
    assert aks_mig["gpu_instance"] == '"MIG1g"'
    assert aks_mig["node_labels"]['"nvidia.com/mig.config"'] == '"all-1g.10gb"'
    eks = seen["aws", "l4-shared"]["labels"]
    assert eks['"nvidia.com/device-plugin.config"'] == '"time-slicing-4"'
    assert (
        seen["azure", "a100-shared"]["node_labels"]['"nvidia.com/device-plugin.config"']
        == '"time-slicing-3"'
    )


def test_the_device_plugin_config_has_what_the_labels_name(
    shared: tuple[list[EnvironmentPlan], dict[str, bytes]],
) -> None:
    envs, files = shared
    for env in envs:
        path = f"{env.name}/gpu-operator/device-plugin-config.yaml"
        wanted = {
            dict(p.labels)[DEVICE_PLUGIN_CONFIG_LABEL]
            for p in env.pools
            if DEVICE_PLUGIN_CONFIG_LABEL in dict(p.labels)
        }
        if env.provider == "gcp":  # GKE time-shares without the operator
            assert not wanted and path not in files
            continue
        assert wanted, env.name
        (configmap,) = yaml_docs(files[path])
        assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["namespace"]
        data = configmap["data"]
        assert wanted <= set(data) and "default" in data
        for key in wanted:
            config = YAML(typ="safe", pure=True).load(data[key])
            _device_plugin_accepts(config)
            clients = int(key.rsplit("-", 1)[1])
            assert config["sharing"]["timeSlicing"]["resources"] == [
                {"name": "nvidia.com/gpu", "replicas": clients}
            ]
        # not applied by Argo CD: the operator names it at install (docs/llm.md)
        listed = yaml_docs(files[f"{env.name}/kustomization.yaml"])[0]["resources"]
        assert not any("gpu-operator" in r for r in listed)


def _device_plugin_accepts(config: dict[str, Any]) -> None:
    """k8s-device-plugin v0.20.0 api/config/v1: version v1 (config.go parseConfigFrom), the
    keys of Config / Sharing / ReplicatedResources, replicas >= 2 (replicas.go)."""
    assert config["version"] == "v1"
    assert set(config) <= {"version", "flags", "resources", "sharing", "imex"}
    slicing = config["sharing"]["timeSlicing"]
    assert set(slicing) <= {"renameByDefault", "failRequestsGreaterThanOne", "resources"}
    for resource in slicing["resources"]:
        assert set(resource) <= {"name", "rename", "devices", "replicas"}
        assert resource["replicas"] >= 2


def test_kueue_covers_the_slices_a_mig_pool_offers(
    shared: tuple[list[EnvironmentPlan], dict[str, bytes]],
) -> None:
    _, files = shared
    objects = kueue_objects(files, "prod")
    for kind, docs in objects.items():
        for doc in docs:
            jsonschema.validate(doc, KUEUE_SCHEMAS[kind])
    assert cel_problems(objects) == []
    (queue,) = objects["ClusterQueue"]
    (group,) = queue["spec"]["resourceGroups"]
    assert group["coveredResources"] == [
        "cpu",
        "memory",
        "nvidia.com/gpu",
        "nvidia.com/mig-1g.10gb",
    ]
    quotas = {
        f["name"]: {r["name"]: r["nominalQuota"] for r in f["resources"]} for f in group["flavors"]
    }
    mig = next(v for k, v in quotas.items() if k.endswith("h100-mig"))
    assert mig["nvidia.com/mig-1g.10gb"] == 14 and mig["nvidia.com/gpu"] == 0  # 2 GPUs × 7
    whole = next(v for k, v in quotas.items() if k.endswith("-h100"))
    assert whole["nvidia.com/gpu"] == 16 and whole["nvidia.com/mig-1g.10gb"] == 0
    # every resource a queued predictor asks for is covered: Kueue would admit it
    asked = {k for p in predictors(files, "prod") for k in p["limits"] if "/" in k}
    assert "nvidia.com/mig-1g.10gb" in asked
    assert asked <= set(group["coveredResources"])


def test_mk313_counts_slices(tmp_path: Path) -> None:
    """h100-mig holds 2 nodes × 1 GPU × 7 slices = 14 replicas of one slice."""
    repo = copy_example(tmp_path, "llm")
    model = repo / "models" / "assist-1b.yaml"
    scaling = "    autoscaling: {minReplicas: 1, maxReplicas: 15}\n"
    model.write_text(model.read_text().replace("    llm:\n", scaling + "    llm:\n", 1))
    found = [d for d in validate(load(repo)).diagnostics if d.code == "MK313"]
    assert len(found) == 2, [str(d) for d in found]  # in both environments
    assert "holds at most 14 MIG 1g.10gb slices" in found[0].message
    assert "(2 nodes × 1 GPUs × 7)" in found[0].message
    model.write_text(model.read_text().replace("maxReplicas: 15", "maxReplicas: 14"))
    assert [d for d in validate(load(repo)).diagnostics if d.code == "MK313"] == []


def test_a_quota_on_a_mig_pool_counts_slices(tmp_path: Path) -> None:
    """assistant-team's quota of 2 GPUs on h100-mig in prod is 14 slices for Kueue (the
    ClusterQueue above): 14 replicas of one slice are admitted, 15 never."""
    repo = _shared_copy(tmp_path)
    model = repo / "models" / "assist-1b.yaml"
    base = model.read_text()
    for replicas, refused in ((14, False), (15, True)):
        scaling = f"    autoscaling: {{minReplicas: {replicas}, maxReplicas: {replicas}}}\n"
        model.write_text(base.replace("    llm:\n", scaling + "    llm:\n", 1))
        (repo / "pools" / "gpu-pools.yaml").write_text(
            (repo / "pools" / "gpu-pools.yaml")
            .read_text()
            .replace("maxNodes: 2\n  sharing: {mig", "maxNodes: 3\n  sharing: {mig")
        )
        found = [d for d in validate(load(repo)).diagnostics if d.code == "MK360"]
        assert bool(found) == refused, [str(d) for d in found]
        if refused:
            assert "15 GPUs (15 × 1)" in found[0].message and "at most 14 GPUs" in found[0].message
            assert "the 7 shared devices each GPU of the pool offers" in found[0].message


def test_the_fit_check_uses_the_slice_and_names_shared_remedies(tmp_path: Path) -> None:
    """MK370 on a MIG pool: 16 sequences of 8k tokens do not fit a 1g.10gb slice, though
    they would a whole H100; the hint offers the next profile that fits, a whole GPU, and
    the remedies on the same slice."""
    repo = copy_example(tmp_path, "llm")
    model = repo / "models" / "assist-1b.yaml"
    model.write_text(
        model.read_text().replace("concurrentSequences: 12", "concurrentSequences: 16")
    )
    found = [d for d in validate(load(repo)).diagnostics if d.code == "MK370"]
    assert found, "a slice-sized model that no longer fits must be refused"
    first = found[0]
    assert "1 × MIG 1g.10gb slice of nvidia-h100-80gb" in first.message
    assert "(1 × 10.0 GiB × gpuMemoryUtilization 0.9)" in first.message
    assert first.hint is not None
    assert first.hint.startswith("it fits with a GpuPool with sharing: {mig: 1g.20gb}")
    assert "a GpuPool of whole nvidia-h100-80gb GPUs" in first.hint
