"""The incremental drift gate: `compile --check --changed-since BASE`.

It trusts only BASE's committed output (the protected branch passed this gate when it
merged), never the pull request's manifest.json. The Models the change affects (their own
document, a data source or pool they use) and every environment's own files are rendered
and compared with the working tree; every other file under the output folder must be
byte for byte BASE's (git compares), so a hand edit of generated output, a deleted or an
added file fails even when the pull request also rewrote manifest.json to match. The
manifest itself must be exactly what this compile writes (the source commit aside).

Everything is checked (every Model rendered) when BASE's output cannot be trusted for the
Models that did not change: the Project changed, BASE has no manifest, another modelkiln
compiled it, or its recorded inputs are not BASE's spec files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from compiler.gitops.base_output import BaseOutput
from compiler.gitops.changed import documents_touched, models_affected
from compiler.load import PROJECT_FILE
from compiler.output import MANIFEST, Manifest, carried_over, compiler_id, model_of, sha256
from compiler.plan import Plan
from compiler.targets.environment import TERRAFORM
from compiler.validate.context import Specs


@dataclass
class GateResult:
    findings: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # what the output folder must list
    rendered: set[str] | None = None  # Models rendered; None: all of them
    full_reason: str | None = None  # why every Model was checked


def _full_reason(base: BaseOutput, files: list[str], inputs: dict[str, str]) -> str | None:
    """Why BASE's output cannot stand for the Models that did not change, if it cannot."""
    if PROJECT_FILE in files:
        return f"the Project ({PROJECT_FILE}) changed since {base.ref}"
    if base.manifest is None:
        return f"{base.ref} has no readable {base.folder}/{MANIFEST}"
    if base.manifest.compiler != compiler_id():
        return f"{base.ref}'s output was compiled by {base.manifest.compiler}, not {compiler_id()}"
    changed = set(files)
    old = {k: v for k, v in base.manifest.inputs.items() if k not in changed}
    now = {k: v for k, v in inputs.items() if k not in changed}
    if old != now:
        return f"{base.ref}'s {MANIFEST} does not record {base.ref}'s spec files"
    return None


def _source_of(path: str, specs: Specs) -> str:
    """What to recompile for a rendered file: its Model's spec file, or the whole repository."""
    owner = model_of(path)
    entry = specs.models.get(owner[1]) if owner else None
    if entry is not None:
        return f"model '{entry.name}' ({entry.doc.file})"
    return "the specs of its environment"


def _digest(target: Path, rel: str) -> str | None:
    """sha256 of the regular file target/rel; "" for anything else there (a symlink, a
    folder: not what the compile writes, nor what a reader of the output would get)."""
    path = target / rel
    try:
        if path.is_symlink() or not path.resolve().is_relative_to(target.resolve()):
            return ""
        return sha256(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError:
        return ""


def _check_rendered(target: Path, rendered: dict[str, str], specs: Specs) -> list[str]:
    found = []
    for rel, digest in sorted(rendered.items()):
        actual = _digest(target, rel)
        if actual == digest:
            continue
        word = "missing " if actual is None else "changed "
        found.append(
            f"{word} {rel}: not what {_source_of(rel, specs)} compiles to; "
            "run `modelkiln compile` and commit the result"
        )
    return found


def _check_rest(
    target: Path, scope: set[str], rendered: dict[str, str], base: BaseOutput
) -> list[str]:
    """Files the change renders no more, and every file outside the scope that is not BASE's."""
    found = []
    listed = set(base.manifest.outputs) if base.manifest else set()
    for rel in sorted(scope - set(rendered)):
        if rel in listed and (target / rel).is_file():
            found.append(f"obsolete {rel}: no spec renders it any more; run `modelkiln compile`")
    restore = f"restore it with `git checkout {base.ref} -- {base.folder}/"
    for rel, status in sorted(base.differs.items()):
        if rel in scope or rel in rendered or rel == MANIFEST:
            continue
        if status == "A":
            found.append(f"unexpected {rel}: not in {base.ref} and no spec renders it; remove it")
        elif status == "D":
            found.append(f"missing  {rel}: deleted by hand; {restore}{rel}`")
        else:
            found.append(
                f"changed  {rel}: edited by hand (no spec change since {base.ref} renders it "
                f"differently); {restore}{rel}`"
            )
    return found


def _check_manifest(target: Path, expected: Manifest) -> list[str]:
    try:
        data = (target / MANIFEST).read_bytes()
    except OSError:
        return [f"missing  {MANIFEST}: run `modelkiln compile`"]
    try:
        recorded = json.loads(data).get("sourceCommit")
    except (ValueError, AttributeError):
        recorded = None
    expected.source_commit = recorded  # provenance, not content: it moves with every commit
    if data != expected.to_bytes():
        return [
            f"changed  {MANIFEST}: not what the specs compile to (a stale compile, or hashes "
            "edited by hand); run `modelkiln compile`"
        ]
    return []


def _terraform(manifest: Manifest, plan: Plan) -> dict[str, str]:
    """The compiled environments' terraform/ files that BASE's manifest lists."""
    envs = {e.name for e in plan.environments}
    return {
        path: digest
        for path, digest in manifest.outputs.items()
        if path.split("/")[1:2] == [TERRAFORM] and path.split("/", 1)[0] in envs
    }


def check_against_base(
    root: Path,
    target: Path,
    base: BaseOutput,
    specs: Specs,
    plan: Plan,
    inputs: dict[str, str],
) -> GateResult:
    """Check the output folder target against BASE (base_output.read_base) for the specs
    of root."""
    from compiler.render import render_hashes

    result = GateResult(full_reason=_full_reason(base, base.specs, inputs))
    terraform = True  # Terraform derives from the Project and the pools alone
    if result.full_reason is None:
        touched = documents_touched(root, base.commit, base.specs, base.prefix)
        result.rendered = models_affected(specs, touched)
        terraform = any(kind == "GpuPool" for kind, _ in touched)
    rendered = render_hashes(plan, only_models=result.rendered, terraform=terraform)
    keep = carried_over(base.manifest, plan, result.rendered)
    if not terraform and base.manifest is not None:
        keep.update(_terraform(base.manifest, plan))
    listed = set(base.manifest.outputs) if base.manifest else set()
    scope = (listed | set(rendered)) - set(keep)
    result.outputs = {**keep, **rendered}
    result.findings = _check_rendered(target, rendered, specs) + _check_rest(
        target, scope, rendered, base
    )
    expected = Manifest(compiler_id(), None, dict(inputs), dict(result.outputs))
    result.findings += _check_manifest(target, expected)
    return result
