"""`modelkiln promote` and `modelkiln rollback`: a rollout decision as an edit of one
environment's override in the Model's spec file (docs/gitops.md, "Promote and roll back").

Git says what is stable and what is the canary: `version` is what the canary serves,
`serving.rollout.stableVersion` what spec.predictor serves (Standard mode) and the revision
that keeps the traffic (Knative mode, compiler/deployment.running_canary_percent). Both
commands write only under spec.environments.<env>, splice the file in place
(compiler/gitops/yamledit.py), validate again and put the file back when the edit would
make the specs invalid. With a commit, the spec edit is committed, then the output is
compiled and committed by `modelkiln commit`'s own code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.deployment import artifact_uri, stable_storage_uri
from compiler.diagnostics import Diagnostic
from compiler.errors import UsageError
from compiler.fsutil import write_atomic
from compiler.gitops.commit import CommitResult, commit
from compiler.gitops.commit_parts import locate, refuse_dirty_specs, require_identity
from compiler.gitops.git import git
from compiler.gitops.history import committed_versions
from compiler.gitops.yamledit import Edit, EditError, apply_edits
from compiler.load import load
from compiler.validate import validate
from compiler.validate.context import ModelView

Changes = dict[tuple[str, ...], str | None]  # path in the environment's spec -> new value


class Refused(Exception):
    """The rollout cannot do what was asked (nothing to promote, no stable version to return
    to, a file it cannot edit in place): exit 1, nothing changed."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class InvalidSpecs(Exception):
    """The specs are invalid, before the edit or because of it (then the file is restored)."""

    def __init__(self, message: str, diagnostics: list[Diagnostic], texts: dict[str, list[str]]):
        super().__init__(message)
        self.diagnostics = diagnostics
        self.texts = texts


@dataclass(frozen=True)
class CommitOptions:
    branch: str | None = None
    push: bool = False
    remote: str = "origin"


@dataclass
class Outcome:
    model: str
    env: str
    file: str  # relative to the spec root
    subject: str  # what happened, one line (also the commit subject)
    edits: list[Edit] = field(default_factory=list)  # none: already as asked
    spec_commit: str | None = None
    output: CommitResult | None = None


@dataclass(frozen=True)
class Decision:
    changes: Changes
    subject: str


Decide = Callable[[ModelView, "str | None"], "Decision | None"]


def promote(root: Path, model: str, env: str, options: CommitOptions | None) -> Outcome:
    return _run(root, model, env, options, lambda view, registry: _promotion(view))


def rollback(
    root: Path, model: str, env: str, to: str | None, options: CommitOptions | None
) -> Outcome:
    def decide(view: ModelView, registry: str | None) -> Decision | None:
        if to is None:
            return _to_stable(view, registry)
        return _to_committed(view, registry, root, to)

    return _run(root, model, env, options, decide)


def _promotion(view: ModelView) -> Decision:
    spec, name, env = view.spec, view.name, view.env.name
    serving = spec.serving
    if serving is None or serving.rollout.strategy != "canary":
        raise Refused(
            f"nothing to promote: {name} has no canary rollout in {env}",
            "promote applies to serving.rollout.strategy: canary",
        )
    rollout = serving.rollout
    if rollout.stable_version == spec.version:
        raise Refused(
            f"nothing to promote: {name} in {env} serves {spec.version} only "
            "(stableVersion equals version)",
            "a canary runs when version differs from serving.rollout.stableVersion",
        )
    changes: Changes = {("serving", "rollout", "stableVersion"): spec.version}
    if rollout.stable_storage_uri is not None:
        # the stable artifact is now version's: explicit if storageUri is, else derived
        changes[("serving", "rollout", "stableStorageUri")] = serving.storage_uri
    was = rollout.stable_version or "the last rolled-out revision"
    return Decision(changes, f"modelkiln: promote {name} {spec.version} in {env} (was {was})")


def _to_stable(view: ModelView, registry: str | None) -> Decision | None:
    spec, name, env = view.spec, view.name, view.env.name
    serving = _served(view)
    stable = serving.rollout.stable_version
    if stable is None:
        raise Refused(
            f"nothing to roll back to: {name} in {env} records no serving.rollout.stableVersion",
            "name an earlier version: modelkiln rollback MODEL --env ENV --to VERSION",
        )
    if stable == spec.version:
        return None
    artifact = stable_storage_uri(spec, registry, name)
    if artifact is None:  # validation requires it with a canary (MK234); not without one
        raise Refused(
            f"the artifact of {name} {stable} is unknown: serving.storageUri is explicit "
            "and rollout.stableStorageUri is not set",
            "set serving.rollout.stableStorageUri, or use --to VERSION",
        )
    subject = f"modelkiln: roll back {name} in {env} from {spec.version} to {stable}"
    return Decision(_pin(view, stable, artifact), subject)


def _to_committed(view: ModelView, registry: str | None, root: Path, to: str) -> Decision | None:
    spec, name, env = view.spec, view.name, view.env.name
    _served(view)
    where = locate(root)
    rel = (Path(where.root_rel) / view.entry.doc.file).as_posix()
    history = committed_versions(where.work, rel, name, env)
    match = next((c for c in history if c.version == to), None)
    if match is None:
        known = ", ".join(c.version for c in history[:10]) or "none"
        raise UsageError(
            f"{name} {to} was never committed for {env} in {view.entry.doc.file}",
            f"versions in its git history, newest first: {known}",
        )
    if spec.version == to and _served(view).rollout.stable_version in (None, to):
        return None
    artifact = match.storage_uri or artifact_uri(registry, name, to)
    subject = f"modelkiln: roll back {name} in {env} from {spec.version} to {to}"
    return Decision(_pin(view, to, artifact), subject)


def _served(view: ModelView) -> Any:
    if view.spec.serving is None:
        raise Refused(f"nothing to roll back: {view.name} is not served in {view.env.name}")
    return view.spec.serving


def _pin(view: ModelView, version: str, artifact: str) -> Changes:
    """The environment serves version alone from artifact, with no canary (stableVersion =
    version), and trains nothing: the training section is the newer version's, and a run
    would write its model to the artifact being returned to (MODELKILN_STORAGE_URI)."""
    spec = view.spec
    changes: Changes = {
        ("version",): version,
        ("serving", "storageUri"): artifact,
        ("serving", "rollout", "stableVersion"): version,
    }
    assert spec.serving is not None
    if spec.serving.rollout.stable_storage_uri is not None:
        changes[("serving", "rollout", "stableStorageUri")] = artifact
    if spec.training is not None:
        changes[("training",)] = None
    if spec.evaluation is not None:
        changes[("evaluation",)] = None
    return changes


def _effective(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _run(
    root: Path, model: str, env: str, options: CommitOptions | None, decide: Decide
) -> Outcome:
    where = locate(root) if options is not None else None
    if where is not None:
        refuse_dirty_specs(where)
    view, registry = _view(root, model, env)
    decision = decide(view, registry)
    file = view.entry.doc.file
    if decision is None:
        version = view.spec.version
        return Outcome(model, env, file, f"{model} in {env} already serves {version} only")
    current = view.spec.model_dump(by_alias=True, exclude_none=True)
    edits = [
        Edit(("spec", "environments", env, *path), value)
        for path, value in decision.changes.items()
        if _effective(current, path) != value
    ]
    outcome = Outcome(model, env, file, decision.subject, edits)
    if not edits:
        outcome.subject = f"{model} in {env}: already as asked, nothing changed"
        return outcome
    _edit(root, file, view.entry.doc.index, edits)
    if where is not None and options is not None:
        require_identity(where.work)
        git(where.work, "commit", "--only", "-m", decision.subject, "--", str(root / file))
        outcome.spec_commit = git(where.work, "rev-parse", "HEAD").strip()
        outcome.output, _compiled = commit(
            root,
            custom_message=decision.subject,
            branch=options.branch,
            push=options.push,
            remote=options.remote,
        )
    return outcome


def _view(root: Path, model: str, env: str) -> tuple[ModelView, str | None]:
    sources = load(root)
    result = validate(sources)
    if not result.ok:
        message = "the specs are invalid; fix them first"
        raise InvalidSpecs(message, result.diagnostics, sources.texts)
    specs = result.specs
    if model not in specs.models:
        known = ", ".join(sorted(specs.models)[:10]) or "none"
        raise UsageError(f"unknown model {model!r}", f"models: {known}")
    names = [e.name for e in specs.environments]
    if env not in names:
        raise UsageError(f"unknown environment {env!r}", "environments: " + ", ".join(names))
    view = next(v for v in specs.views if v.name == model and v.env.name == env)
    assert specs.project is not None
    return view, specs.project.obj.spec.registry


def _edit(root: Path, file: str, index: int, edits: list[Edit]) -> None:
    """Write the edits; validate again; on invalid specs put the file back and raise."""
    path = root / file
    original = path.read_bytes()
    try:
        text = apply_edits(original.decode("utf-8"), index, edits)
    except (EditError, UnicodeDecodeError) as err:
        raise Refused(f"cannot edit {file} in place: {err}", "make the change by hand") from None
    write_atomic(path, text.encode("utf-8"))
    sources = load(root)
    result = validate(sources)
    if not result.ok:
        write_atomic(path, original)
        raise InvalidSpecs(
            f"the edit would make the specs invalid; {file} is restored",
            result.diagnostics,
            sources.texts,
        )
