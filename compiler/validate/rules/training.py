"""Training that torchrun can run as planned: one process per GPU set through PET_* (which
modelkiln owns), processes that fit the GPUs, /dev/shm that fits the memory (docs/training.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from compiler.diagnostics import Diagnostic, quote, shorten
from compiler.spec.model import Training
from compiler.spec.types import parse_quantity
from compiler.training import processes_per_node
from compiler.validate.context import At, Specs

# torchrun reads PET_<OPTION> as an option's default (torch/distributed/argparse_util.py);
# Kubeflow Trainer refuses its own (pkg/constants/constants.go TorchRunReservedEnvNames, v2.3.0)
RESERVED_PREFIX = "PET_"
# the torchrun options modelkiln sets through PET_NPROC_PER_NODE and PET_NNODES
# (torch/distributed/run.py, get_args_parser; argparse also accepts the `--opt=value` form)
OWNED_OPTIONS = ("--nproc-per-node", "--nproc_per_node", "--nnodes")
_PYTHONS = ("python", "python3")


def torchrun_led(command: list[str]) -> bool:
    """`torchrun ...` or `python -m torch.distributed.run ...` (torchrun's module)."""
    if not command:
        return False
    exe = command[0].rsplit("/", 1)[-1]
    if exe == "torchrun":
        return True
    python = exe in _PYTHONS or exe.startswith("python3.")
    return python and command[1:3] == ["-m", "torch.distributed.run"]


def torchrun_form(command: list[str]) -> str:
    """The command as torchrun would run it, for a hint."""
    exe = command[0].rsplit("/", 1)[-1]
    rest = command[1:] if exe in _PYTHONS or exe.startswith("python3.") else command
    if rest and rest[0] != "-m" and not rest[0].endswith(".py"):
        rest = ["--no-python", *rest]  # torchrun runs a non-Python executable this way
    return "[" + ", ".join(["torchrun", *rest]) + "]"


def reserved_env(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for _entry, spec, at in specs.model_specs():
        t = spec.training
        if t is None:
            continue
        names: list[tuple[tuple[str | int, ...], str]] = [
            (("training", "env", k), k) for k in t.env
        ]
        names += [(("training", "secrets", i, "env"), s.env) for i, s in enumerate(t.secrets)]
        for path, name in names:
            if name.startswith(RESERVED_PREFIX):
                yield at(
                    path,
                    "MK350",
                    f"env {shorten(name)} is reserved: PET_* variables are torchrun's options, "
                    "which modelkiln and Kubeflow Trainer set",
                    "set processesPerNode (and resources.nodes) instead, or rename it",
                    path[-1] != "env",
                )


def torchrun_command(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for _entry, spec, at in specs.model_specs():
        t = spec.training
        if t is None:
            continue
        procs = processes_per_node(t, specs.gpus_of(t.resources))
        if procs > 1 and t.command and not torchrun_led(t.command):
            yield at(
                ("training", "command"),
                "MK351",
                f"training runs {procs} processes per node, but its command does not start "
                "torchrun, which starts them",
                f"command: {torchrun_form(t.command)}; or set processesPerNode: 1",
                False,
            )
        for field in ("command", "args"):
            for i, token in enumerate(getattr(t, field) or []):
                option = token.split("=", 1)[0]
                if option in OWNED_OPTIONS:
                    yield at(
                        ("training", field, i),
                        "MK352",
                        f"{quote(option)} is set by modelkiln (PET_NPROC_PER_NODE, PET_NNODES)",
                        "remove it (and its value); set training.processesPerNode or "
                        "resources.nodes instead",
                        False,
                    )


def processes_fit(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for _entry, spec, at in specs.model_specs():
        t = spec.training
        if t is None:
            continue
        gpus = specs.gpus_of(t.resources)
        if t.processes_per_node is not None and 0 < gpus < t.processes_per_node:
            yield at(
                ("training", "processesPerNode"),
                "MK353",
                f"processesPerNode {t.processes_per_node} is more than the {gpus} GPU(s) per "
                "node: processes would share a GPU",
                f"at most {gpus} (one process per GPU is the default)",
                False,
                patch=gpus,
            )
        yield from _shm_fits(t, at)


def _shm_fits(t: Training, at: At) -> Iterator[Diagnostic]:
    res = t.resources
    if res.shm_size is None or res.memory is None:
        return
    if parse_quantity(res.shm_size) > parse_quantity(res.memory):
        yield at(
            ("training", "resources", "shmSize"),
            "MK354",
            f"shmSize {res.shm_size} is larger than the memory request {res.memory}; "
            "/dev/shm is memory-backed and counts against it",
            f"at most {res.memory}, or remove shmSize to use the Project's shmFraction",
            False,
        )


def cluster_runtime(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """A ClusterTrainingRuntime modelkiln does not render may retry failed pods itself (the
    upstream torch-distributed leaves Kubernetes' Job backoffLimit of 6)."""
    project = specs.project
    if project is None or project.obj.spec.training.runtime is None:
        return
    name = project.obj.spec.training.runtime
    d = project.at(
        ("spec", "training", "runtime"),
        "MK355",
        f"TrainJobs use ClusterTrainingRuntime {quote(name)}: modelkiln cannot guarantee that a "
        "failed job is attempted 1 + retries times (the runtime's Job backoffLimit and JobSet "
        "failurePolicy retry too)",
        "remove runtime to use modelkiln's TrainingRuntime, or give the runtime backoffLimit: 0 "
        "and failurePolicy.maxRestarts: 0",
    )
    yield replace(d, severity="warning")
