"""`modelkiln commit --branch BRANCH`: the output committed to another branch (a deploy
branch that Argo CD watches) through a private index. The working tree, the index and HEAD
stay as they are; the deploy branch holds the output folder at the same path, and files on
it that modelkiln did not write are kept. On failure the local branch is put back where it
was (or not created)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compiler.build import Compiled, compile_repository
from compiler.errors import HostError
from compiler.gitops.commit_parts import (
    RETRIES,
    CommitResult,
    Where,
    message,
    require_identity,
    summary,
    try_push,
)
from compiler.gitops.git import commit_of, git, git_or_none, reason, run_git
from compiler.output import MANIFEST, Manifest

_RM_BATCH = 500  # paths per `git rm`: stay far below the command-line limit


@contextmanager
def _private_index() -> Iterator[dict[str, str]]:
    """GIT_INDEX_FILE for an index of our own (git creates it), removed afterwards."""
    fd, path = tempfile.mkstemp(prefix="modelkiln-index-")
    os.close(fd)
    os.unlink(path)
    try:
        yield {"GIT_INDEX_FILE": path}
    finally:
        Path(path).unlink(missing_ok=True)


def _previous_outputs(where: Where, parent: str) -> list[str]:
    """The outputs parent's manifest lists (relative to the output folder), if it has one."""
    text = git_or_none(where.work, "show", f"{parent}:{where.out_rel}/{MANIFEST}")
    try:
        outputs = json.loads(text).get("outputs", {}) if text is not None else {}
    except (ValueError, AttributeError):
        return []
    return list(outputs) if isinstance(outputs, dict) else []


def _tree_of_output(where: Where, staged_root: Path, parent: str | None) -> str:
    """The tree of parent with the output folder replaced by the one under staged_root:
    what the previous manifest listed goes, what a person added stays."""
    work = where.work
    with _private_index() as env:
        if parent:
            git(work, "read-tree", parent, env=env)
            stale = [f"{where.out_rel}/{p}" for p in _previous_outputs(where, parent)]
            stale.append(f"{where.out_rel}/{MANIFEST}")
            for i in range(0, len(stale), _RM_BATCH):
                batch = stale[i : i + _RM_BATCH]
                # -f: git's up-to-date check compares the private index with the working
                # tree, which holds the current output when it is committed on this branch
                # too; the index is ours, nothing of the person's can be lost
                git(work, "rm", "--cached", "-f", "-q", "--ignore-unmatch", "--", *batch, env=env)
        else:
            git(work, "read-tree", "--empty", env=env)
        add = ("add", "--ignore-removal", "--force", "--", where.out_rel)
        git(work, f"--work-tree={staged_root}", *add, env=env)
        return git(work, "write-tree", env=env).strip()


def _build_commit(
    where: Where, staged_root: Path, parent: str | None, custom: str | None, source: str | None
) -> tuple[str | None, list[str]]:
    """The commit of the output on top of parent, or (None, []) when nothing changes."""
    work = where.work
    tree = _tree_of_output(where, staged_root, parent)
    if parent and git(work, "rev-parse", f"{parent}^{{tree}}").strip() == tree:
        return None, []
    listing = (
        git(work, "diff-tree", "-r", "--name-only", "--no-commit-id", parent, tree)
        if parent
        else git(work, "ls-tree", "-r", "--name-only", tree)
    )
    paths = listing.splitlines()
    require_identity(work)
    text = message(paths, where.out_rel, source, custom)
    parents = ["-p", parent] if parent else []
    return git(work, "commit-tree", tree, "-m", text, *parents).strip(), paths


def _fetch(where: Where, remote: str, branch: str) -> None:
    """Fetch the branch from the remote; a branch the remote does not have yet is fine."""
    fetched = run_git(where.work, "fetch", remote, branch)
    if fetched.returncode != 0 and "couldn't find remote ref" not in fetched.stderr:
        raise HostError(f"git fetch failed: {reason(fetched.stderr)}")


def _put_back(where: Where, ref: str, original: str | None) -> None:
    now = commit_of(where.work, ref)
    if now == original:
        return
    note = "modelkiln commit: taken back"
    if original is None:
        git(where.work, "update-ref", "-m", note, "-d", ref)
    else:
        git(where.work, "update-ref", "-m", note, ref, original)


def _commit_and_push(
    where: Where,
    staged_root: Path,
    branch: str,
    options: tuple[str | None, bool, str],
    source: str | None,
) -> CommitResult:
    custom, pushing, remote = options
    ref = f"refs/heads/{branch}"
    attempts = 0
    while True:
        attempts += 1
        if pushing:
            _fetch(where, remote, branch)
        local = commit_of(where.work, ref)
        upstream = commit_of(where.work, f"refs/remotes/{remote}/{branch}") if pushing else None
        parent = upstream or local
        new, paths = _build_commit(where, staged_root, parent, custom, source)
        if new is not None:
            git(where.work, "update-ref", ref, new)
        elif parent is not None and local != parent:
            git(where.work, "update-ref", ref, parent)
        said = summary(paths, new is not None)
        if not pushing:
            return CommitResult(new is not None, new, branch, False, attempts, said)
        if try_push(where.work, remote, f"{ref}:{ref}"):
            return CommitResult(new is not None, new, branch, True, attempts, said)
        if attempts > RETRIES:
            raise HostError(
                f"git push to {remote} was rejected {attempts} times: {branch} kept moving",
                "run again when the pushes to it have settled",
            )


def commit_to_branch(
    where: Where, branch: str, custom: str | None, pushing: bool, remote: str
) -> tuple[CommitResult | None, Compiled]:
    """Compile into a temporary folder, commit that to branch, push it if asked."""
    with tempfile.TemporaryDirectory(prefix="modelkiln-commit-") as tmp:
        staged_root = Path(tmp)
        compiled = compile_repository(where.root, out=staged_root / where.out_rel)
        if not compiled.ok:
            return None, compiled
        manifest = Manifest.read(staged_root / where.out_rel)
        source = manifest.source_commit if manifest else None
        ref = f"refs/heads/{branch}"
        original = commit_of(where.work, ref)
        try:
            options = (custom, pushing, remote)
            return _commit_and_push(where, staged_root, branch, options, source), compiled
        except BaseException:
            _put_back(where, ref, original)
            raise
