"""`modelkiln commit`: compile, then commit the output folder back to git.

Two modes. On the current branch, the output folder is committed on top of the specs it
was compiled from (`git commit --only`, so nothing else a person staged goes with it).
With --branch, the output is committed to another branch (a deploy branch that Argo CD
watches) through a private index (branch.py): the working tree, the index and HEAD stay
as they are.

Idempotent: when the output does not change, no commit is made. Pushes are never forced;
a push rejected because the remote moved is retried after fetching, rebasing and
recompiling, a bounded number of times. A commit that fails puts the checkout back as it
was (undo.py): the index byte for byte, the output folder, HEAD.
"""

from __future__ import annotations

from pathlib import Path

from compiler.build import Compiled, compile_repository
from compiler.errors import HostError, UsageError
from compiler.gitops.branch import commit_to_branch
from compiler.gitops.commit_parts import (
    RETRIES,
    CommitError,
    CommitResult,
    Where,
    locate,
    message,
    refuse_dirty_specs,
    require_identity,
    summary,
    try_push,
)
from compiler.gitops.git import git, git_or_none, reason, run_git
from compiler.gitops.undo import undone_on_failure
from compiler.output import Manifest

__all__ = ["CommitError", "CommitResult", "commit"]


def commit(
    root: Path,
    *,
    custom_message: str | None = None,
    branch: str | None = None,
    push: bool = False,
    remote: str = "origin",
    allow_dirty: bool = False,
) -> tuple[CommitResult | None, Compiled]:
    """Compile ROOT and commit its output. Returns (None, compiled) when the specs are
    invalid (compiled carries the diagnostics). Raises CommitError when the specs have
    uncommitted changes, UsageError for bad options, HostError when git fails."""
    if push and allow_dirty:
        raise UsageError("--push needs committed specs; it cannot be used with --allow-dirty")
    where = locate(root)
    if not allow_dirty:
        refuse_dirty_specs(where)
    if branch is None:
        return _commit_here(where, custom_message, push, remote)
    return commit_to_branch(where, branch, custom_message, push, remote)


def _current_branch(where: Where) -> str:
    name = git_or_none(where.work, "symbolic-ref", "--quiet", "--short", "HEAD")
    if name is None:
        raise UsageError("HEAD is detached: check out a branch, or use --branch")
    return name.strip()


def _commit_output(where: Where, compiled: Compiled, custom: str | None) -> list[str]:
    """Stage the output folder and commit it alone; the paths committed (none: no commit)."""
    git(where.work, "add", "-A", "--", where.out_rel)
    staged = git(where.work, "diff", "--cached", "--name-only", "--", where.out_rel)
    paths = staged.splitlines()
    if not paths:
        return []
    require_identity(where.work)
    manifest = Manifest.read(where.root / compiled.plan.output) if compiled.plan else None
    source = manifest.source_commit if manifest else None
    text = message(paths, where.out_rel, source, custom)
    git(where.work, "commit", "--only", "-m", text, "--", where.out_rel)
    return paths


def _catch_up(where: Where, remote: str, branch: str) -> None:
    """Bring the branch onto the remote's, the person's own changes stashed and back."""
    git(where.work, "fetch", remote, branch)
    rebased = run_git(where.work, "rebase", "--autostash", f"{remote}/{branch}")
    if rebased.returncode != 0:
        run_git(where.work, "rebase", "--abort")
        raise HostError(
            f"git rebase onto {remote}/{branch} failed: {reason(rebased.stderr)}",
            "integrate the remote changes by hand (git pull --rebase), then run again",
        )


def _commit_here(
    where: Where, custom: str | None, pushing: bool, remote: str
) -> tuple[CommitResult | None, Compiled]:
    branch = _current_branch(where)
    output = where.work / where.out_rel
    attempts = 0
    while True:
        attempts += 1
        with undone_on_failure(where.work, output) as snapshot:
            compiled = compile_repository(where.root)
            if not compiled.ok:
                return None, compiled
            paths = _commit_output(where, compiled, custom)
            head = git(where.work, "rev-parse", "HEAD").strip() if paths else None
            said = summary(paths, bool(paths))
            if not pushing:
                return CommitResult(bool(paths), head, branch, False, attempts, said), compiled
            if try_push(where.work, remote, f"HEAD:refs/heads/{branch}"):
                return CommitResult(bool(paths), head, branch, True, attempts, said), compiled
            # The remote moved: take our output commit back (the checkout exactly as it
            # was), catch up with the remote, compile again.
            snapshot.restore()
        if attempts > RETRIES:
            raise HostError(
                f"git push to {remote} was rejected {attempts} times: {branch} kept moving",
                "run again when the pushes to it have settled",
            )
        _catch_up(where, remote, branch)
