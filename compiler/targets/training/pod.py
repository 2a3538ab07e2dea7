"""What every training pod gets, whoever runs it (pipeline step, TrainJob, PyTorchJob): the
memory-backed /dev/shm, the hardening, the labels, and the environment of the container."""

from __future__ import annotations

from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan, TrainingPlan
from compiler.targets.kubernetes import RUNTIME_DEFAULT_SECCOMP

SHM_VOLUME = "dshm"
SHM_PATH = "/dev/shm"


def job_name(model: ModelPlan) -> str:
    """The job's name in the manifest; the launcher replaces it with a run-scoped one."""
    return f"{model.name}-train"[:63].rstrip("-")


def shm_volume(training: TrainingPlan) -> dict[str, Any]:
    """/dev/shm as a memory-backed emptyDir (the container runtime's default is 64 MiB, too
    small for DataLoader workers and NCCL); its sizeLimit is the plan's shm size."""
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    if training.shm_size:
        empty_dir["sizeLimit"] = training.shm_size
    return {"name": SHM_VOLUME, "emptyDir": empty_dir}


def shm_mount() -> dict[str, Any]:
    return {"name": SHM_VOLUME, "mountPath": SHM_PATH}


def pod_security_context(training: TrainingPlan) -> dict[str, Any]:
    """The runtime's default seccomp profile; never root only when the Model says its image
    allows it (runAsNonRoot: many training images run as root)."""
    out: dict[str, Any] = {}
    if training.run_as_non_root:
        out["runAsNonRoot"] = True
    out["seccompProfile"] = dict(RUNTIME_DEFAULT_SECCOMP)
    return out


def pod_security_context_default() -> dict[str, Any]:
    """The pod securityContext of a runtime (no Model known): the default seccomp profile."""
    return {"seccompProfile": dict(RUNTIME_DEFAULT_SECCOMP)}


def container_security_context(training: TrainingPlan | None = None) -> dict[str, Any]:
    """No privilege escalation, no capabilities, the default seccomp profile (and never root
    when the Model says so). The root filesystem stays writable: training code writes
    checkpoints and caches wherever its image expects."""
    out: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    if training is not None and training.run_as_non_root:
        out["runAsNonRoot"] = True
    out["seccompProfile"] = dict(RUNTIME_DEFAULT_SECCOMP)
    return out


def env_vars(env: EnvironmentPlan, model: ModelPlan) -> list[dict[str, Any]]:
    """The training container's environment: the user's, modelkiln's MODELKILN_*, MLflow's,
    and the Secrets as secretKeyRef (never their values)."""
    training = model.training
    assert training is not None
    out: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in training.env]
    out += [
        {"name": "MODELKILN_DISTRIBUTED_STRATEGY", "value": training.strategy or "ddp"},
        {"name": "MODELKILN_ENVIRONMENT", "value": env.name},
        {"name": "MODELKILN_MODEL", "value": model.name},
        {"name": "MODELKILN_MODEL_VERSION", "value": model.version},
        {"name": "MODELKILN_STORAGE_URI", "value": model.storage_uri},
    ]
    out += [{"name": k, "value": v} for k, v in model.tracking]
    out += [
        {"name": s.env, "valueFrom": {"secretKeyRef": {"name": s.name, "key": s.key}}}
        for s in training.secrets
    ]
    return out
