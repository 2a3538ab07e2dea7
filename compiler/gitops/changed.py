"""`compile --changed-since REF`: the Models whose output can differ from REF's.

A Model is affected when its own document changed, or a DataSource or GpuPool document
it uses; a change to modelkiln.yaml (the Project) affects every Model. The documents of
changed files are compared on both sides (REF's version via `git show`), so renames and
deletions count too, and unchanged neighbours in a multi-document file do not. The rest
of the output is kept as it is; a test checks that the result equals a full compile.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from compiler.discover import Root, Unreadable, read_limited
from compiler.errors import UsageError
from compiler.gitops.git import Pending, commit_of, git, git_or_none
from compiler.gitops.source import spec_pathspecs
from compiler.load import MAX_FILE_BYTES, PROJECT_FILE, parse_text
from compiler.validate.context import Specs


def changed_files(root: Path, ref: str, output: str) -> list[str]:
    """Spec files (relative to root) that differ from REF, untracked ones included."""
    if commit_of(root, ref) is None:
        raise UsageError(f"{ref} is not a commit", "give a branch, tag or commit")
    scope = spec_pathspecs("", output)
    diff = git(
        root, "diff", "--no-renames", "--name-only", "--relative", ref, "--", *scope
    ).splitlines()
    new = git(root, "ls-files", "--others", "--exclude-standard", "--", *scope).splitlines()
    return sorted(set(diff) | set(new))


def start_changed_files(root: Path, ref: str, output: str) -> Callable[[], list[str]]:
    """changed_files, with git running in the background until the answer is asked for."""
    if commit_of(root, ref) is None:
        raise UsageError(f"{ref} is not a commit", "give a branch, tag or commit")
    scope = spec_pathspecs("", output)
    diff = Pending(root, "diff", "--no-renames", "--name-only", "--relative", ref, "--", *scope)
    new = Pending(root, "ls-files", "--others", "--exclude-standard", "--", *scope)
    return lambda: sorted(
        set((diff.result() or "").splitlines()) | set((new.result() or "").splitlines())
    )


def _documents(text: str) -> dict[tuple[str, str], Any]:
    documents, _ = parse_text("-", text)
    return {(str(d.kind), str(d.name)): d.data for d in documents if d.kind and d.name}


def _read_spec(root: Root, rel: str) -> str:
    """The file as the loader reads it (bounded, regular files inside the root only); ""
    for a file that is gone or that the loader refuses (it has no documents then)."""
    try:
        return read_limited(root, rel, MAX_FILE_BYTES).decode("utf-8", errors="replace")
    except Unreadable:
        return ""


def affected_models(root: Path, ref: str, specs: Specs, output: str) -> set[str] | None:
    """The Models to render, or None when every Model is affected."""
    return models_touched(root, ref, specs, changed_files(root, ref, output))


def models_touched(
    root: Path, ref: str, specs: Specs, files: list[str], prefix: str | None = None
) -> set[str] | None:
    """The Models that changed files (relative to root, from changed_files) affect; None
    when the Project changed (every Model). prefix: root's path in its repository."""
    if PROJECT_FILE in files:
        return None
    return models_affected(specs, documents_touched(root, ref, files, prefix))


def models_affected(specs: Specs, touched: set[tuple[str, str]]) -> set[str]:
    """The Models that changed documents (kind, name) affect: their own, or a data source
    or pool they use."""
    sources = {name for kind, name in touched if kind == "DataSource"}
    pools = {name for kind, name in touched if kind == "GpuPool"}
    models = {name for kind, name in touched if kind == "Model"}
    if sources or pools:
        models |= _users(specs, sources, pools)
    return {m for m in models if m in specs.models}


def documents_touched(
    root: Path, ref: str, files: list[str], prefix: str | None = None
) -> set[tuple[str, str]]:
    """(kind, name) of every document that changed files changed since REF: only those
    that changed, not their neighbours in the same file."""
    touched: set[tuple[str, str]] = set()
    if prefix is None:
        prefix = git(root, "rev-parse", "--show-prefix").strip()
    spec_root = Root.of(root)
    for rel in files:
        now = _documents(_read_spec(spec_root, rel))
        old_text = git_or_none(root, "show", f"{ref}:{prefix}{rel}")  # None: REF has no such file
        before = _documents(old_text) if old_text is not None else {}
        touched |= {key for key in now.keys() | before.keys() if now.get(key) != before.get(key)}
    return touched


def _users(specs: Specs, sources: set[str], pools: set[str]) -> set[str]:
    """The Models that read one of sources or run on one of pools, in any environment."""
    views: dict[str, list[Any]] = {}
    for view in specs.views:  # one pass: a lookup per Model is quadratic in 1,000 Models
        views.setdefault(view.name, []).append(view.spec)
    users = set()
    for entry in specs.models.values():
        for spec in views.get(entry.name) or [entry.obj.spec]:
            uses_pool = {
                part.resources.pool
                for part in (spec.training, spec.serving)
                if part is not None and part.resources.pool
            }
            if {d.source for d in spec.data} & sources or uses_pool & pools:
                users.add(entry.name)
    return users
