"""GPU sharing of a pool (GpuPool spec.sharing), derived once for every target: what one
replica asks for, where it may run, what the nodes need so that the GPUs get shared, and
what one replica's device is (docs/llm.md, "GPU sharing").

MIG: every GPU of the pool is cut into slices of one profile (compiler/catalog).
  - GKE partitions the GPUs itself (node pool gpu_partition_size) and its device plugin
    offers each slice as `nvidia.com/gpu` on nodes labelled
    cloud.google.com/gke-gpu-partition-size=<profile> (GKE "Running multi-instance GPUs").
  - EKS and AKS run NVIDIA's GPU operator, installed with mig.strategy=mixed: its
    device plugin offers each slice as `nvidia.com/mig-<profile>`
    (k8s-device-plugin v0.20.0 README, "mixed" strategy). Its MIG manager partitions each
    node to the mig-parted configuration the node label nvidia.com/mig.config names
    (gpu-operator v26.7.0 controllers/state_manager.go migConfigLabelKey); the operator's
    default configuration holds `all-<profile>` for every profile of the catalog. Without
    the label the operator sets `all-disabled` (the same file), which would undo AKS's own
    partitioning (node pool gpu_instance): so AKS pools carry the label too.
Time-slicing: N pods take turns on each GPU; it still offers `nvidia.com/gpu`, N per GPU.
  - GKE: node pool gpu_sharing_config, nodes labelled cloud.google.com/gke-gpu-sharing-
    strategy=time-sharing and cloud.google.com/gke-max-shared-clients-per-gpu=N.
  - EKS, AKS: the GPU operator's device plugin applies the configuration of its ConfigMap
    that the node label nvidia.com/device-plugin.config names (k8s-device-plugin v0.20.0
    README, "Updating Per-Node Configuration With a Node Label"); modelkiln renders that
    ConfigMap (compiler/targets/gpu_operator.py) with one entry `time-slicing-<N>` per N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler import catalog
from compiler.spec.gpupool import GpuPoolSpec, GpuSharing

GPU_RESOURCE = "nvidia.com/gpu"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
GKE_PARTITION_LABEL = "cloud.google.com/gke-gpu-partition-size"
GKE_SHARING_LABEL = "cloud.google.com/gke-gpu-sharing-strategy"
GKE_CLIENTS_LABEL = "cloud.google.com/gke-max-shared-clients-per-gpu"
GKE_TIME_SHARING = "TIME_SHARING"  # container/v1 GPUSharingConfig.gpuSharingStrategy


@dataclass(frozen=True)
class PoolSharing:
    """How a pool's GPUs are shared in one environment (its cloud)."""

    kind: str  # mig | time-slicing
    per_gpu: int  # MIG slices or time-slicing clients per GPU
    resource: str  # the extended resource a replica asks for one of
    node_selector: tuple[tuple[str, str], ...]  # labels the cloud puts on the nodes
    node_labels: tuple[tuple[str, str], ...]  # labels Terraform puts on the nodes
    mig_profile: str | None = None
    slice_memory_gib: float | None = None  # one MIG slice; None: a whole GPU, shared
    gke_partition_size: str | None = None
    gke_max_shared_clients: int | None = None
    aks_gpu_instance: str | None = None
    device_plugin_config: str | None = None  # the device plugin ConfigMap's entry


def time_slicing_entry(clients: int) -> str:
    return f"time-slicing-{clients}"


def pool_sharing(accelerator: str, sharing: GpuSharing | None, cloud: str) -> PoolSharing | None:
    """None for whole GPUs. Validation has checked the profile and the cloud (MK380, MK383)."""
    if sharing is None:
        return None
    if sharing.mig is not None:
        return _mig(accelerator, sharing.mig, cloud)
    clients = sharing.time_slicing
    assert clients is not None  # exactly one of the two (MK244)
    if cloud == "gcp":
        selector = ((GKE_CLIENTS_LABEL, str(clients)), (GKE_SHARING_LABEL, "time-sharing"))
        return PoolSharing(
            "time-slicing", clients, GPU_RESOURCE, selector, (), gke_max_shared_clients=clients
        )
    labels = ((DEVICE_PLUGIN_CONFIG_LABEL, time_slicing_entry(clients)),)
    return PoolSharing(
        "time-slicing",
        clients,
        GPU_RESOURCE,
        (),
        labels,
        device_plugin_config=time_slicing_entry(clients),
    )


def _mig(accelerator: str, name: str, cloud: str) -> PoolSharing:
    profile = catalog.mig_profile(accelerator, name)
    assert profile is not None
    if cloud == "gcp":
        return PoolSharing(
            "mig",
            profile.per_gpu,
            GPU_RESOURCE,
            ((GKE_PARTITION_LABEL, name),),
            (),
            mig_profile=name,
            slice_memory_gib=profile.memory_gib,
            gke_partition_size=name,
        )
    return PoolSharing(
        "mig",
        profile.per_gpu,
        f"nvidia.com/mig-{name}",
        (),
        ((MIG_CONFIG_LABEL, f"all-{name}"),),
        mig_profile=name,
        slice_memory_gib=profile.memory_gib,
        aks_gpu_instance=profile.aks_gpu_instance if cloud == "azure" else None,
    )


def cloud_refusal(accelerator: str, sharing: GpuSharing, cloud: str) -> str | None:
    """Why the cloud cannot share this pool's GPUs this way, or None when it can."""
    if sharing.mig is None or cloud != "azure":
        return None  # GKE takes every catalog profile; EKS and AKS time-slice via the operator
    profile = catalog.mig_profile(accelerator, sharing.mig)
    if profile is not None and profile.aks_gpu_instance is None:
        sizes = [p.name for p in catalog.mig_profiles(accelerator) if p.aks_gpu_instance]
        return (
            f"AKS partitions {accelerator} only into {', '.join(sizes)} "
            "(node pool gpu_instance MIG1g..MIG7g), not into " + sharing.mig
        )
    return None


def devices_per_gpu(pool: GpuPoolSpec) -> int:
    """MIG slices or time-slicing clients per GPU of a pool spec; 1 for whole GPUs (and for
    an unknown profile, which MK380 reports)."""
    sharing = pool.sharing
    if sharing is None:
        return 1
    if sharing.mig is not None:
        profile = catalog.mig_profile(pool.accelerator, sharing.mig)
        return profile.per_gpu if profile else 1
    return sharing.time_slicing or 1


def device_memory_gib(accelerator: str, sharing: PoolSharing | None) -> float:
    """The memory of the device one replica gets, as vLLM sees its total: a MIG slice's
    (NVML's size, catalog), else the whole GPU's usable memory (catalog.usable_memory_gib;
    time-sliced replicas share it: see utilization_share)."""
    if sharing is not None and sharing.slice_memory_gib is not None:
        return sharing.slice_memory_gib
    return catalog.usable_memory_gib(accelerator)


def utilization_share(sharing: PoolSharing | None) -> int:
    """How many replicas share one device's memory: time-slicing does not partition memory,
    so each of N vLLM servers may take only 1/N of what one alone would (vLLM reads
    gpu_memory_utilization as a fraction of the device's total memory)."""
    if sharing is not None and sharing.kind == "time-slicing":
        return sharing.per_gpu
    return 1


def device_plugin_config(clients: int) -> dict[str, Any]:
    """The device plugin's time-slicing configuration for clients per GPU (k8s-device-plugin
    v0.20.0 api/config/v1 Config, README "With CUDA Time-Slicing"). A request for more than
    one shared GPU fails at admission (failRequestsGreaterThanOne): it would not get more of
    the GPU, only share it more (the README's note)."""
    return {
        "version": "v1",
        "sharing": {
            "timeSlicing": {
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": GPU_RESOURCE, "replicas": clients}],
            }
        },
    }
