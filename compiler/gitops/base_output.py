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
from compiler.gitops.git import git, git_or_none
from compiler.gitops.worktree import locate, resolve
from compiler.output import MANIFEST, Manifest


@dataclass
class BaseOutput:
    commit: str
    ref: str
    folder: str  # the output folder, relative to the top of the repository
    manifest: Manifest | None  # BASE's manifest.json; None when BASE has none (or not JSON)
    # output paths (relative to the output folder) whose working-tree content differs from
    # BASE's: "A" not in BASE, "D" gone from the working tree, "M" changed
    differs: dict[str, str] = field(default_factory=dict)


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


def _differences(top: Path, commit: str, folder: str) -> dict[str, str]:
    """Every path under folder where the working tree is not BASE: tracked files through
    `git diff` (content compared by git; unchanged files cost one stat each), untracked
    ones (not ignored) as added."""
    spec = f":(literal){folder}"
    out = git(
        top, "diff", "--no-renames", "--no-ext-diff", "--name-status", "-z", commit, "--", spec
    ).split("\0")
    found: dict[str, str] = {}
    for status, path in zip(out[0::2], out[1::2], strict=False):
        found[path] = "M" if status[:1] in ("M", "T") else status[:1]
    untracked = git(top, "ls-files", "-z", "--others", "--exclude-standard", "--", spec)
    for path in filter(None, untracked.split("\0")):
        found[path] = "A"
    cut = len(folder) + 1
    return {path[cut:]: status for path, status in found.items() if path.startswith(folder + "/")}


def read_base(root: Path, target: Path, ref: str) -> BaseOutput:
    """BASE's output folder as git has it, for the output folder target of the spec root."""
    where = locate(root)
    commit = resolve(where, ref)
    try:
        folder = target.resolve().relative_to(where.work_tree.resolve()).as_posix()
    except ValueError:
        raise UsageError(
            f"the output folder {target} is outside the repository of {root}",
            "--check --changed-since compares the output with BASE's committed output",
        ) from None
    text = git_or_none(where.work_tree, "cat-file", "blob", f"{commit}:{folder}/{MANIFEST}")
    return BaseOutput(
        commit=commit,
        ref=ref,
        folder=folder,
        manifest=_manifest(text),
        differs=_differences(where.work_tree, commit, folder),
    )
