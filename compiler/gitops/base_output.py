"""BASE's committed output folder, read from git objects (never from the working tree), and
the paths where the working tree's output folder differs from it.

The drift gate trusts BASE (the protected branch passed the gate when it merged), so what
it knows of BASE comes from `git cat-file` / `git diff BASE`, byte for byte: a pull
request can edit its own manifest.json, but not BASE's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from compiler.errors import UsageError
from compiler.gitops.git import commit_of, git, git_or_none
from compiler.gitops.worktree import locate
from compiler.output import MANIFEST, Manifest


@dataclass
class BaseOutput:
    commit: str
    ref: str
    folder: str  # the output folder, relative to the top of the repository
    prefix: str  # the spec root, relative to the top ("" at the top, else ending in "/")
    manifest: Manifest | None  # BASE's manifest.json; None when BASE has none (or not JSON)
    # output paths (relative to the output folder) whose working-tree content differs from
    # BASE's: "A" not in BASE, "D" gone from the working tree, "M" changed
    differs: dict[str, str] = field(default_factory=dict)
    specs: list[str] = field(default_factory=list)  # spec files changed since BASE (root-relative)


def _manifest(data: str | None) -> Manifest | None:
    if data is None:
        return None
    try:
        parsed = json.loads(data)
        return Manifest(
            compiler=str(parsed["compiler"]),
            source_commit=parsed.get("sourceCommit"),
            inputs=dict(parsed.get("inputs", {})),
            outputs=dict(parsed.get("outputs", {})),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _changed(top: Path, commit: str, scopes: list[str]) -> dict[str, str]:
    """Every path under scopes where the working tree is not BASE: tracked files through
    `git diff` (content compared by git; an unchanged file costs one stat), untracked ones
    (not ignored) as added. One diff and one walk for the specs and the output together."""
    specs = [f":(literal){scope}" for scope in scopes]
    out = git(
        top, "diff", "--no-renames", "--no-ext-diff", "--name-status", "-z", commit, "--", *specs
    ).split("\0")
    found: dict[str, str] = {}
    for status, path in zip(out[0::2], out[1::2], strict=False):
        found[path] = "M" if status[:1] in ("M", "T") else status[:1]
    untracked = git(top, "ls-files", "-z", "--others", "--exclude-standard", "--", *specs)
    for path in filter(None, untracked.split("\0")):
        found[path] = "A"
    return found


def _split(changed: dict[str, str], prefix: str, folder: str) -> tuple[dict[str, str], list[str]]:
    """(output paths relative to the output folder, spec files relative to the spec root)."""
    inside = folder + "/"
    outputs = {p[len(inside) :]: s for p, s in changed.items() if p.startswith(inside)}
    specs = sorted(
        p[len(prefix) :]
        for p in changed
        if p.startswith(prefix) and not p.startswith(inside) and p.endswith((".yaml", ".yml"))
    )
    return outputs, specs


def _where(root: Path) -> tuple[Path, str]:
    """The top of root's working tree and root's prefix in it (one git call)."""
    answer = git_or_none(root, "rev-parse", "--show-toplevel", "--show-prefix", isolated=True)
    lines = answer.splitlines() if answer is not None else []
    if len(lines) != 2:
        where = locate(root)  # says why, as a UsageError
        return where.work_tree, "" if where.rel == Path(".") else f"{where.rel.as_posix()}/"
    return Path(lines[0]), lines[1]


def read_base(root: Path, target: Path, ref: str) -> BaseOutput:
    """BASE's output folder as git has it, for the output folder target of the spec root,
    and what the working tree changed since BASE in the specs and in the output."""
    top, prefix = _where(root)
    commit = commit_of(top, ref, isolated=True) if ref and not ref.startswith("-") else None
    if commit is None:
        raise UsageError(
            f"'{ref}' is not a commit of {top}",
            "give a branch, tag or commit, e.g. --changed-since origin/main (fetch it first in CI)",
        )
    try:
        folder = target.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"the output folder {target} is outside the repository of {root}",
            "--check --changed-since compares the output with BASE's committed output",
        ) from None
    text = git_or_none(top, "cat-file", "blob", f"{commit}:{folder}/{MANIFEST}")
    scopes = [prefix.rstrip("/") or "."] + ([] if folder.startswith(prefix) else [folder])
    outputs, specs = _split(_changed(top, commit, scopes), prefix, folder)
    return BaseOutput(commit, ref, folder, prefix, _manifest(text), outputs, specs)
