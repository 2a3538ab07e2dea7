"""The git side of `modelkiln diff`: where the specs sit in their repository, which commit
the base names, and a throwaway checkout of it.

Every command here runs isolated from the GIT_DIR / GIT_INDEX_FILE family of variables
(see compiler.gitops.git): diff only reads the repository around the spec root, and must
not write a temporary checkout into an index a hook was given.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from compiler.errors import HostError, UsageError
from compiler.gitops.git import commit_of, git, git_or_none, reason, run_git


@dataclass(frozen=True)
class Location:
    """A spec root in its repository."""

    work_tree: Path  # the top of the repository's working tree
    rel: Path  # the spec root relative to it (Path(".") at the top)


def locate(root: Path) -> Location:
    """The working tree around root; UsageError when root is not in one."""
    inside = git_or_none(root, "rev-parse", "--is-inside-work-tree", isolated=True)
    if inside is None:
        raise UsageError(
            f"{root} is not inside a git repository", "diff compares against a git revision"
        )
    if inside.strip() != "true":
        bare = git_or_none(root, "rev-parse", "--is-bare-repository", isolated=True)
        if bare is not None and bare.strip() == "true":
            raise UsageError(f"{root} is in a bare repository")
        raise UsageError(f"{root} is not inside the working tree of its repository")
    top = Path(git(root, "rev-parse", "--show-toplevel", isolated=True).strip())
    try:
        rel = root.resolve().relative_to(top.resolve())
    except ValueError:
        raise UsageError(f"{root} is not inside the working tree of its repository") from None
    return Location(top, rel)


def resolve(where: Location, ref: str) -> str:
    """The full SHA of the commit ref names; UsageError when it names none."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"'{ref}' is not a git revision")
    sha = commit_of(where.work_tree, ref, isolated=True)
    if sha is None:
        raise UsageError(
            f"'{ref}' is not a commit of {where.work_tree}",
            "give a branch, tag or commit, e.g. --base origin/main (fetch it first in CI)",
        )
    return sha


@contextmanager
def checkout(where: Location, commit: str) -> Iterator[Path]:
    """A detached worktree of commit in a temporary folder, removed on the way out."""
    top = where.work_tree
    tmp = Path(tempfile.mkdtemp(prefix="modelkiln-diff-"))
    tree = tmp / "base"
    try:
        # no hooks: a post-checkout hook has no business running for a throwaway tree
        hooks = ("-c", "core.hooksPath=/dev/null")
        added = run_git(
            top, *hooks, "worktree", "add", "--detach", "--quiet", str(tree), commit, isolated=True
        )
        if added.returncode != 0:
            raise HostError(
                f"cannot check out {commit[:12]} in a temporary worktree {tree}: "
                f"{reason(added.stderr)}"
            )
        yield tree
    finally:
        # fails when the worktree was never added: nothing to remove then
        run_git(top, "worktree", "remove", "--force", str(tree), isolated=True)
        shutil.rmtree(tmp, ignore_errors=True)
        run_git(top, "worktree", "prune", isolated=True)
