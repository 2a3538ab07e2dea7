"""Render a plan with every back end into {relative path: bytes}.

Pipelines dominate the cost (the kfp compiler takes ~13 ms each), so with many models
they are rendered in worker processes; every worker imports kfp once (before the fork)
and builds each built-in component once. The result does not depend on how the work was
split. `render_into` lets each worker also write its share, so that writing thousands of
files overlaps with rendering instead of following it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from compiler.plan import EnvironmentPlan, ModelPlan, Plan

PARALLEL_FROM = 24  # below this many pipelines a worker pool costs more than it saves

Job = tuple[EnvironmentPlan, tuple[ModelPlan, ...]]
T = TypeVar("T")


def _render_batch(job: Job) -> dict[str, bytes]:
    from compiler.targets import kubeflow, serving

    env, models = job
    files: dict[str, bytes] = {}
    for model in models:
        files.update(kubeflow.render_model(env, model))
        files.update(serving.render_model(env, model))
    return files


def _jobs(plan: Plan, workers: int, only_models: set[str] | None = None) -> list[Job]:
    jobs: list[Job] = []
    for env in plan.environments:
        models = [m for m in env.models if only_models is None or m.name in only_models]
        if not models:
            continue
        lean = dataclasses.replace(env, models=())  # each job carries only its own models
        size = max(1, len(models) // (workers * 4))
        jobs += [(lean, tuple(models[i : i + size])) for i in range(0, len(models), size)]
    return jobs


def pipeline_count(plan: Plan, only_models: set[str] | None = None) -> int:
    return sum(
        1
        for env in plan.environments
        for m in env.models
        if m.training is not None and (only_models is None or m.name in only_models)
    )


def _run(
    plan: Plan,
    work: Callable[[Job], T],
    workers: int | None,
    parallel_from: int,
    only_models: set[str] | None = None,
) -> list[T]:
    workers = workers or min(os.cpu_count() or 1, 8)
    if pipeline_count(plan, only_models) >= parallel_from and workers > 1:
        import multiprocessing

        import compiler.targets.kubeflow.pipeline  # noqa: F401  (imported once, before fork)

        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            return list(pool.map(work, _jobs(plan, workers, only_models)))
    return [work(job) for job in _jobs(plan, 1, only_models)]


def render_environments(plan: Plan, terraform: bool = True) -> dict[str, bytes]:
    """What belongs to an environment rather than a Model (cheap: rendered in-process);
    terraform=False leaves out every <env>/terraform/."""
    from compiler.targets import environment

    files: dict[str, bytes] = {}
    for env in plan.environments:
        files.update(environment.render(env, plan, terraform))
    return files


def render(
    plan: Plan, workers: int | None = None, parallel_from: int = PARALLEL_FROM
) -> dict[str, bytes]:
    """Every artifact of the plan, keyed by path relative to the output folder."""
    files = render_environments(plan)
    for part in _run(plan, _render_batch, workers, parallel_from):
        files.update(part)
    return dict(sorted(files.items()))


@dataclasses.dataclass(frozen=True)
class _WriteBatch:
    folder: Path

    def __call__(self, job: Job) -> dict[str, str]:
        from compiler.output import write_files

        return write_files(self.folder, _render_batch(job))


@dataclasses.dataclass(frozen=True)
class _HashBatch:
    def __call__(self, job: Job) -> dict[str, str]:
        from compiler.output import sha256

        return {rel: sha256(data) for rel, data in _render_batch(job).items()}


def render_hashes(
    plan: Plan,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
    only_models: set[str] | None = None,
    terraform: bool = True,
) -> dict[str, str]:
    """The sha256 of every file render_into would write, writing nothing (compile --check
    on a read-only checkout)."""
    from compiler.output import sha256

    own = render_environments(plan, terraform)
    hashes = {rel: sha256(data) for rel, data in own.items()}
    for part in _run(plan, _HashBatch(), workers, parallel_from, only_models):
        hashes.update(part)
    return dict(sorted(hashes.items()))


def render_into(
    plan: Plan,
    folder: Path,
    workers: int | None = None,
    parallel_from: int = PARALLEL_FROM,
    only_models: set[str] | None = None,
) -> dict[str, str]:
    """Render the plan into a fresh (staging) folder; returns the sha256 of every file.
    only_models: render just these Models' files (and every environment's own files)."""
    from compiler.output import write_files

    hashes = write_files(folder, render_environments(plan))
    for part in _run(plan, _WriteBatch(folder), workers, parallel_from, only_models):
        hashes.update(part)
    return dict(sorted(hashes.items()))
