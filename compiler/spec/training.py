"""Project `spec.training`: how launched training jobs run on the clusters (docs/training.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.spec.base import Strict
from compiler.spec.types import Name

# /dev/shm of a training pod as a share of its memory request: PyTorch's DataLoader workers
# pass batches through shared memory and NCCL keeps its intra-node buffers there; a quarter
# leaves three quarters of the request to the process heap (judgement, docs/training.md).
DEFAULT_SHM_FRACTION = 0.25


class ProjectTraining(Strict):
    backend: Literal["trainer", "pytorchjob"] = Field(
        default="trainer",
        description="What launched training jobs are: trainer (a Kubeflow Trainer v2.3 TrainJob, "
        "trainer.kubeflow.org/v1alpha1) or pytorchjob (a Training Operator v1 PyTorchJob, "
        "for clusters still on it).",
    )
    runtime: Name | None = Field(
        default=None,
        description="trainer: the name of an existing ClusterTrainingRuntime (e.g. "
        "torch-distributed) the TrainJobs reference. Absent: modelkiln renders a namespaced "
        "TrainingRuntime modelkiln-torch into each environment, whose jobs never retry.",
    )
    single_node_gpu_jobs: bool = Field(
        default=False,
        description="Single-node GPU training also runs as a launched job (TrainJob or "
        "PyTorchJob) instead of a pipeline step.",
    )
    shm_fraction: float = Field(
        default=DEFAULT_SHM_FRACTION,
        gt=0,
        lt=1,
        description="Size of /dev/shm of GPU training pods as a fraction of the memory request "
        "(a model's training.resources.shmSize overrides it).",
    )
