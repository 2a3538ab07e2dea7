"""Compile examples with a Project `training` setting, and read what torchrun and the
consumers of launched jobs do with the rendered files (docs/training.md)."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from compiler.load import load
from compiler.planner import build_plan
from compiler.render import render
from compiler.validate import validate
from tests.conftest import EXAMPLES
from tests.kfp_helpers import files_of, yaml_docs

# Project settings the examples are also compiled with, so that every path is rendered:
# the default (TrainJob on modelkiln's runtime, single-node GPU training as a step), every
# GPU training as a job, and the legacy PyTorchJob.
VARIANTS: dict[str, str] = {
    "default": "",
    "gpu-jobs": "  training:\n    singleNodeGpuJobs: true\n",
    "pytorchjob": "  training:\n    backend: pytorchjob\n    singleNodeGpuJobs: true\n",
    "cluster-runtime": "  training:\n    runtime: torch-distributed\n    singleNodeGpuJobs: true\n",
}


@cache
def variant_files(example: str, variant: str, root: Path) -> dict[str, bytes]:
    """The compiled files of an example whose Project gets the variant's training section
    (the examples' modelkiln.yaml ends inside `spec`, so it is appended there)."""
    if not VARIANTS[variant]:
        return files_of(example)
    import shutil

    repo = root / f"{example}-{variant}"
    if not repo.exists():
        shutil.copytree(EXAMPLES / example, repo)
        project = repo / "modelkiln.yaml"
        project.write_text(project.read_text() + VARIANTS[variant])
    result = validate(load(repo))
    assert not [d for d in result.diagnostics if d.severity == "error"], result.diagnostics
    return render(build_plan(result.specs), workers=1)


def docs_ending(files: dict[str, bytes], suffix: str) -> dict[str, dict[str, Any]]:
    return {p: yaml_docs(d)[0] for p, d in files.items() if p.endswith(suffix)}


# --- torchrun ---------------------------------------------------------------------------
# The options of torchrun that decide how many workers it starts, with its semantics:
# torch/distributed/run.py get_args_parser (pytorch/pytorch @ 010929fd3f40): `--nnodes`
# (default "1:1") and `--nproc-per-node`/`--nproc_per_node` (default "1") use the `env`
# action of torch/distributed/argparse_util.py, whose default is PET_<DEST> when that
# variable is set; `-m`, `--no-python`, `--standalone` are flags; the first positional is
# the training script and the rest (argparse.REMAINDER) are the script's. Written here from
# that source (not copied); determine_local_world_size turns the value into a count.


class _Env(argparse.Action):
    def __init__(
        self, dest: str, default: Any = None, env: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        default = (env or {}).get(f"PET_{dest.upper()}", default)
        super().__init__(dest=dest, default=default, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, values)


def torchrun_workers(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """(workers per node, --nnodes) torchrun would use for argv (after `torchrun`) in env."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--nnodes", action=_Env, env=env, type=str, default="1:1")
    parser.add_argument(
        "--nproc-per-node", "--nproc_per_node", action=_Env, env=env, type=str, default="1"
    )
    for flag in ("--standalone", "-m", "--no-python", "--no_python"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("training_script")
    parser.add_argument("training_script_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return int(args.nproc_per_node), args.nnodes  # an int: modelkiln never writes "auto"


def torchrun_argv(command: list[str]) -> list[str]:
    """The arguments torchrun receives from a torchrun-led command."""
    if command[0].rsplit("/", 1)[-1] == "torchrun":
        return command[1:]
    assert command[1:3] == ["-m", "torch.distributed.run"], command
    return command[3:]


def step_argv(container: dict[str, Any], tmp: Path) -> list[str]:
    """What the train step's container executes: its real `sh -c` wrapper is run with a
    stand-in for the first program (which prints its argv), so the wrapper's shifting and
    quoting is what it is in the pod."""
    argv = [*container["command"], *container["args"]]
    script_index = len(container["command"]) + 3  # the wrapper consumes three paths
    program = argv[script_index]
    fake = tmp / program.rsplit("/", 1)[-1]
    fake.write_text('#!/bin/sh\nfor a in "$0" "$@"; do printf "%s\\0" "$a"; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    argv[script_index] = str(fake)
    out = subprocess.run(
        argv, capture_output=True, check=True, env={"PATH": os.environ["PATH"]}, timeout=30
    ).stdout.decode()
    words = out.split("\0")[:-1]
    return [program, *words[1:]]


def attempts_of_retry_policy(task: dict[str, Any]) -> int:
    """Attempts of a KFP task: 1 + its retryPolicy.maxRetryCount (none: no retry)."""
    return 1 + int(task.get("retryPolicy", {}).get("maxRetryCount", 0))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
