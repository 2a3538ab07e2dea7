"""Training values the plan derives once for every back end that runs training: processes
per node, the /dev/shm size, and whether the run is a launched job (docs/training.md)."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from compiler.spec.model import Training
from compiler.spec.training import ProjectTraining
from compiler.spec.types import parse_quantity

MI = 1024**2
# binary suffixes, largest first: a size is written with the largest one that divides it
_UNITS = (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", MI))


def processes_per_node(training: Training, gpus: int) -> int:
    """torchrun's --nproc-per-node: one process per GPU, 1 on CPU nodes, unless given."""
    if training.processes_per_node is not None:
        return training.processes_per_node
    return max(gpus, 1)


def format_bytes(amount: Decimal) -> str:
    """A byte count as a Kubernetes quantity, rounded down to whole MiB."""
    mib = int((amount / MI).to_integral_value(rounding=ROUND_FLOOR))
    total = mib * MI
    for suffix, size in _UNITS:
        if total % size == 0:
            return f"{total // size}{suffix}"
    raise AssertionError("unreachable: MiB divides every total")


def has_shm(training: Training, gpus: int) -> bool:
    """GPU training pods get a memory-backed /dev/shm; CPU ones when they ask (shmSize)."""
    return gpus > 0 or training.resources.shm_size is not None


def shm_size(training: Training, project: ProjectTraining) -> str | None:
    """The sizeLimit of /dev/shm: resources.shmSize, else the Project's fraction of the
    memory request. None without a memory request: the volume then has no sizeLimit and the
    kubelet bounds it by the pod's memory (a memory-backed emptyDir counts as the
    container's memory)."""
    res = training.resources
    if res.shm_size is not None:
        return res.shm_size
    if res.memory is None:
        return None
    return format_bytes(parse_quantity(res.memory) * Decimal(str(project.shm_fraction)))


def launched(project: ProjectTraining, nodes: int, gpus: int) -> bool:
    """Runs as a launched job (TrainJob / PyTorchJob) rather than as the pipeline's step."""
    return nodes > 1 or (project.single_node_gpu_jobs and gpus > 0)
