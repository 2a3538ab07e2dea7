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
from compiler.gitops.git import Pending, commit_of, git_or_none
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


def _changed(diff: str, untracked: str) -> dict[str, str]:
    """Every path where the working tree is not BASE: tracked files through `git diff`
    (content compared by git; an unchanged file costs one stat), untracked ones (not
    ignored) as added."""
    out = diff.split("\0")
    found: dict[str, str] = {}
    for status, path in zip(out[0::2], out[1::2], strict=False):
        found[path] = "M" if status[:1] in ("M", "T") else status[:1]
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


@dataclass
class PendingBase:
    """BASE's side being read by git in the background, while the specs are validated:
    one diff and one walk of the working tree for the specs and the output together."""

    commit: str
    ref: str
    folder: str
    prefix: str
    commands: tuple[Pending, Pending, Pending]  # diff, untracked files, BASE's manifest

    def result(self) -> BaseOutput:
        diff, untracked, manifest = self.commands
        found = _changed(diff.result() or "", untracked.result() or "")
        outputs, specs = _split(found, self.prefix, self.folder)
        text = manifest.result(may_fail=True)  # None: BASE has no manifest
        return BaseOutput(
            self.commit, self.ref, self.folder, self.prefix, _manifest(text), outputs, specs
        )

    def stop(self) -> None:
        for command in self.commands:
            command.stop()


def start_base(root: Path, target: Path, ref: str) -> PendingBase:
    """Start reading BASE's output folder (target, for the spec root) and what the working
    tree changed since BASE in the specs and the output; UsageError when BASE is not a
    commit or target is not in root's repository."""
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
    scopes = [prefix.rstrip("/") or "."] + ([] if folder.startswith(prefix) else [folder])
    paths = [f":(literal){scope}" for scope in scopes]
    diff = ("diff", "--no-renames", "--no-ext-diff", "--name-status", "-z", commit, "--")
    return PendingBase(
        commit,
        ref,
        folder,
        prefix,
        (
            Pending(top, *diff, *paths, isolated=True),
            Pending(
                top, "ls-files", "-z", "--others", "--exclude-standard", "--", *paths, isolated=True
            ),
            Pending(top, "cat-file", "blob", f"{commit}:{folder}/{MANIFEST}", isolated=True),
        ),
    )


def read_base(root: Path, target: Path, ref: str) -> BaseOutput:
    """BASE's output folder as git has it (see start_base), read now."""
    return start_base(root, target, ref).result()
