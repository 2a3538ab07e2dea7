"""The compile phases end to end (load -> validate -> plan -> render -> output), shared by
the compile, commit and diff commands. No printing here; the CLI reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from compiler.diagnostics import Diagnostic
from compiler.errors import UsageError
from compiler.load import load
from compiler.output import Changes, Manifest, apply, carried_over, compiler_id, staging, stale
from compiler.plan import Plan
from compiler.planner import build_plan
from compiler.validate import validate
from compiler.validate.context import Specs


@dataclass
class Compiled:
    """What one compile found and did."""

    root: Path
    diagnostics: list[Diagnostic]
    texts: dict[str, list[str]]
    inputs: dict[str, str] = field(default_factory=dict)  # spec file -> sha256
    specs: Specs | None = None
    plan: Plan | None = None
    out: Path | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    changes: Changes | None = None
    stale: list[str] = field(default_factory=list)
    rendered_models: set[str] | None = None  # None: every Model
    base: str | None = None  # check --changed-since: the BASE the output was checked against
    full_reason: str | None = None  # ...and why every Model was checked, if it was

    @property
    def ok(self) -> bool:
        return self.plan is not None


def plan_repository(root: Path, envs: tuple[str, ...] = ()) -> Compiled:
    """load -> validate -> plan, in memory; nothing is written. The plan is None when the
    specs are invalid (the diagnostics say why). Shared by compile, commit and diff."""
    sources = load(root)
    result = validate(sources)
    compiled = Compiled(root, result.diagnostics, sources.texts, inputs=dict(sources.hashes))
    if not result.ok:
        return compiled
    known = [e.name for e in result.specs.environments]
    unknown = [e for e in envs if e not in known]
    if unknown:
        raise UsageError(
            f"unknown environment {', '.join(unknown)}", "environments: " + ", ".join(known)
        )
    compiled.specs = result.specs
    compiled.plan = build_plan(result.specs, list(envs) or None)
    return compiled


def compile_repository(
    root: Path,
    *,
    envs: tuple[str, ...] = (),
    out: Path | None = None,
    check: bool = False,
    only_models: set[str] | None = None,
    changed_since: str | None = None,
    source_commit: str | None = None,
) -> Compiled:
    """Validate ROOT, then render it into its output folder (or only compare, with check).

    only_models: render just these Models; every other output of the previous manifest is
    kept as it is (compile --changed-since). source_commit: recorded in manifest.json
    (default: read from git).
    """
    if check and changed_since is not None:  # the drift gate: trusts BASE's output only
        return _check_against_base(root, envs, out, changed_since)
    from compiler.gitops.changed import models_touched, start_changed_files
    from compiler.gitops.source import start_source_commit
    from compiler.load import output_folder
    from compiler.render import render_hashes, render_into

    # git answers (its walks of the working tree) come in while the specs are validated
    guess = output_folder(root)
    read_commit = start_source_commit(root, guess) if source_commit is None else None
    changed = start_changed_files(root, changed_since, guess) if changed_since else None
    compiled = plan_repository(root, envs)
    if compiled.specs is None or compiled.plan is None:
        return compiled
    plan = compiled.plan
    if plan.output != guess:  # modelkiln.yaml read alone named another folder: ask again
        read_commit = start_source_commit(root, plan.output) if source_commit is None else None
        if changed_since is not None:
            changed = start_changed_files(root, changed_since, plan.output)
    target = out if out is not None else root / plan.output
    if changed is not None and changed_since is not None:
        only_models = models_touched(root, changed_since, compiled.specs, changed())
    compiled.rendered_models = only_models
    manifest = Manifest(
        compiler=compiler_id(),
        source_commit=source_commit or (read_commit() if read_commit else None),
        inputs=dict(compiled.inputs),
    )
    previous = Manifest.read(target)  # read once: what to keep, prune and compare with
    keep = carried_over(previous, plan, only_models)
    compiled.out = target
    if check:  # writes nothing anywhere: works on a read-only checkout
        compiled.outputs = render_hashes(plan, only_models=only_models)
        compiled.stale = stale(target, compiled.outputs, manifest, keep, previous)
        return compiled
    with staging(target) as staged:
        compiled.outputs = render_into(plan, staged, only_models=only_models)
        compiled.changes = apply(target, staged, compiled.outputs, manifest, keep, previous)
    return compiled


def _check_against_base(root: Path, envs: tuple[str, ...], out: Path | None, ref: str) -> Compiled:
    """compile --check --changed-since: git reads BASE's side in the background while the
    specs are validated and planned (the output folder named by modelkiln.yaml alone)."""
    from compiler.gitops.base_output import start_base
    from compiler.gitops.basegate import check_against_base
    from compiler.load import output_folder

    first = out if out is not None else root / output_folder(root)
    pending = start_base(root, first, ref)
    try:
        compiled = plan_repository(root, envs)
        if compiled.specs is None or compiled.plan is None:
            return compiled
        target = out if out is not None else root / compiled.plan.output
        if target != first:  # modelkiln.yaml read alone named another folder (cannot, when valid)
            pending.stop()
            pending = start_base(root, target, ref)
        base = pending.result()
    finally:
        pending.stop()
    gate = check_against_base(root, target, base, compiled.specs, compiled.plan, compiled.inputs)
    compiled.out, compiled.base = target, ref
    compiled.outputs, compiled.stale = gate.outputs, gate.findings
    compiled.rendered_models, compiled.full_reason = gate.rendered, gate.full_reason
    return compiled
