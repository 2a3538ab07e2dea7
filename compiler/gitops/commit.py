"""`modelkiln commit`: compile, then commit the output folder back to git.

Two modes. On the current branch, the output folder is committed on top of the specs it
was compiled from (`git commit --only`, so nothing else a person staged goes with it).
With --branch, the output is committed to another branch (a deploy branch that Argo CD
watches) through a private index: the working tree, the index and HEAD stay as they are.

Idempotent: when the output does not change, no commit is made. Pushes are never forced;
a push rejected because the remote moved is retried after fetching and recompiling, a
bounded number of times.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from compiler.build import Compiled, compile_repository
from compiler.errors import UsageError
from compiler.output import MANIFEST, Manifest, compiler_id

if TYPE_CHECKING:
    from git import Repo

RETRIES = 3
TRAILER_SOURCE = "Modelkiln-Source-Commit"
TRAILER_COMPILER = "Modelkiln-Compiler"


class CommitError(Exception):
    """The commit could not be made; nothing was changed (exit 1)."""


@dataclass
class CommitResult:
    committed: bool
    commit: str | None
    branch: str
    pushed: bool
    attempts: int
    summary: str


def _repo(root: Path) -> Repo:
    import git

    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UsageError(f"{root} is not inside a git repository") from None


def changed_models(paths: list[str], out_rel: str) -> list[str]:
    """Model names (and 'terraform' per environment) touched by changed output paths."""
    names = set()
    prefix = out_rel.rstrip("/") + "/" if out_rel not in ("", ".") else ""
    for path in paths:
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        if len(parts) > 3 and parts[1] == "models":
            names.add(parts[2])
        elif len(parts) > 2 and parts[1] == "terraform":
            names.add(f"{parts[0]} GPU pools")
    return sorted(names)


def message(paths: list[str], out_rel: str, source: str | None, custom: str | None) -> str:
    models = changed_models(paths, out_rel)
    if custom:
        subject = custom
    elif models:
        shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
        subject = f"modelkiln: compile {shown}"
    else:
        subject = "modelkiln: compile"
    body = f"{len(paths)} file(s) in {out_rel} changed."
    trailers = f"{TRAILER_SOURCE}: {source or 'unknown'}\n{TRAILER_COMPILER}: {compiler_id()}"
    return f"{subject}\n\n{body}\n\n{trailers}\n"


def _dirty_specs(repo: Repo, root_rel: str, output: str) -> list[str]:
    from compiler.gitops.source import spec_pathspecs

    scope = spec_pathspecs(root_rel, output)
    status = repo.git.status("--porcelain", "--untracked-files=all", "--", *scope)
    return [line[3:] for line in status.splitlines() if line.strip()]


def _is_rejection(err: Exception) -> bool:
    text = str(err)
    return any(s in text for s in ("rejected", "non-fast-forward", "fetch first", "stale info"))


@dataclass
class _Where:
    repo: Repo
    work: Path
    root: Path
    root_rel: str  # spec root relative to the work tree ("" at the top)
    out_rel: str  # output folder relative to the work tree
    output: str  # output folder relative to the spec root


def _locate(root: Path) -> _Where:
    from compiler.load import output_folder

    repo = _repo(root)
    work = Path(str(repo.working_tree_dir)).resolve()
    root = root.resolve()
    root_rel = root.relative_to(work).as_posix()
    root_rel = "" if root_rel == "." else root_rel
    output = output_folder(root)  # the compile that follows validates everything
    out_rel = (PurePosixPath(root_rel) / output).as_posix() if root_rel else output
    return _Where(repo, work, root, root_rel, out_rel, output)


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
    invalid (compiled carries the diagnostics)."""
    where = _locate(root)
    if push and allow_dirty:
        raise UsageError("--push needs committed specs; it cannot be used with --allow-dirty")
    dirty = _dirty_specs(where.repo, where.root_rel, where.output)
    if dirty and not allow_dirty:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        raise CommitError(
            f"the specs have uncommitted changes ({shown}); commit them first so that the "
            "recorded source commit is true, or pass --allow-dirty"
        )
    if branch is None:
        return _commit_here(where, custom_message, push, remote)
    return _commit_to_branch(where, branch, custom_message, push, remote)


# --- the current branch ---------------------------------------------------------------------


def _commit_here(
    where: _Where, custom: str | None, push: bool, remote: str
) -> tuple[CommitResult | None, Compiled]:
    import git

    repo = where.repo
    if repo.head.is_detached:
        raise UsageError("HEAD is detached: check out a branch, or use --branch")
    branch = repo.active_branch.name
    attempts = 0
    while True:
        attempts += 1
        compiled = compile_repository(where.root)
        if not compiled.ok:
            return None, compiled
        repo.git.add("-A", "--", where.out_rel)
        paths = repo.git.diff("--cached", "--name-only", "--", where.out_rel).splitlines()
        made = False
        if paths:
            manifest = Manifest.read(where.root / compiled.plan.output) if compiled.plan else None
            source = manifest.source_commit if manifest else None
            text = message(paths, where.out_rel, source, custom)
            repo.git.commit("--only", "-m", text, "--", where.out_rel)
            made = True
        head = repo.head.commit.hexsha
        summary = f"{len(paths)} file(s) changed" if made else "output unchanged: no commit"
        if not push:
            return CommitResult(made, head if made else None, branch, False, attempts, summary), (
                compiled
            )
        try:
            repo.git.push(remote, f"HEAD:refs/heads/{branch}")
            return CommitResult(made, head if made else None, branch, True, attempts, summary), (
                compiled
            )
        except git.GitCommandError as err:
            if not _is_rejection(err) or attempts > RETRIES:
                raise CommitError(f"push to {remote} failed: {err.stderr.strip()}") from None
        # The remote moved: take our output commit back (the output folder only; anything
        # else a person staged or changed stays), catch up, compile again.
        if made:
            repo.git.reset("--soft", "HEAD~1")
            repo.git.restore("--source=HEAD", "--staged", "--worktree", "--", where.out_rel)
        repo.git.fetch(remote, branch)
        try:
            repo.git.rebase("--autostash", f"{remote}/{branch}")
        except git.GitCommandError:
            repo.git.rebase("--abort")
            raise CommitError(
                f"could not rebase onto {remote}/{branch}; integrate the remote changes "
                "by hand and run again"
            ) from None


# --- another branch, through a private index -----------------------------------------------


@contextmanager
def _private_index(repo: Repo) -> Iterator[dict[str, str]]:
    fd, path = tempfile.mkstemp(prefix="modelkiln-index-")
    os.close(fd)
    os.unlink(path)
    try:
        yield {"GIT_INDEX_FILE": path}
    finally:
        Path(path).unlink(missing_ok=True)


def _tip(repo: Repo, ref: str) -> str | None:
    import git

    try:
        return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
    except git.GitCommandError:
        return None


def _build_commit(
    where: _Where, staged_root: Path, parent: str | None, custom: str | None, source: str | None
) -> tuple[str | None, list[str]]:
    """The commit of the output on top of parent, or (None, []) when nothing changes."""
    repo = where.repo
    with _private_index(repo) as env:
        if parent:
            repo.git.read_tree(parent, env=env)
            try:
                previous = repo.git.show(f"{parent}:{where.out_rel}/{MANIFEST}")
                listed = list(json.loads(previous).get("outputs", {}))
            except Exception:
                listed = []
            stale = [f"{where.out_rel}/{p}" for p in listed] + [f"{where.out_rel}/{MANIFEST}"]
            for i in range(0, len(stale), 500):
                repo.git.rm(
                    "--cached", "-q", "--ignore-unmatch", "--", *stale[i : i + 500], env=env
                )
        else:
            repo.git.read_tree("--empty", env=env)
        repo.git.execute(
            [
                "git",
                f"--work-tree={staged_root}",
                "add",
                "--ignore-removal",
                "--force",
                "--",
                where.out_rel,
            ],
            env={**os.environ, **env},
        )
        tree = repo.git.write_tree(env=env)
    if parent and repo.git.rev_parse(f"{parent}^{{tree}}") == tree:
        return None, []
    paths = (
        repo.git.diff_tree("-r", "--name-only", "--no-commit-id", parent, tree).splitlines()
        if parent
        else repo.git.ls_tree("-r", "--name-only", tree).splitlines()
    )
    text = message(paths, where.out_rel, source, custom)
    args = [tree, "-m", text] + (["-p", parent] if parent else [])
    return str(repo.git.commit_tree(*args)), paths


def _commit_to_branch(
    where: _Where, branch: str, custom: str | None, push: bool, remote: str
) -> tuple[CommitResult | None, Compiled]:
    import git

    repo = where.repo
    with tempfile.TemporaryDirectory(prefix="modelkiln-commit-") as tmp:
        staged_root = Path(tmp)
        compiled = compile_repository(where.root, out=staged_root / where.out_rel)
        if not compiled.ok:
            return None, compiled
        manifest = Manifest.read(staged_root / where.out_rel)
        source = manifest.source_commit if manifest else None
        attempts = 0
        while True:
            attempts += 1
            if push:
                with contextlib.suppress(git.GitCommandError):  # not on the remote yet
                    repo.git.fetch(remote, branch)
            local = _tip(repo, f"refs/heads/{branch}")
            upstream = _tip(repo, f"refs/remotes/{remote}/{branch}") if push else None
            parent = upstream or local
            new, paths = _build_commit(where, staged_root, parent, custom, source)
            if new is not None:
                repo.git.update_ref(f"refs/heads/{branch}", new)
            elif parent is not None and local != parent:
                repo.git.update_ref(f"refs/heads/{branch}", parent)
            summary = f"{len(paths)} file(s) changed" if new else "output unchanged: no commit"
            if not push:
                return CommitResult(new is not None, new, branch, False, attempts, summary), (
                    compiled
                )
            try:
                repo.git.push(remote, f"refs/heads/{branch}:refs/heads/{branch}")
                return CommitResult(new is not None, new, branch, True, attempts, summary), (
                    compiled
                )
            except git.GitCommandError as err:
                if not _is_rejection(err) or attempts > RETRIES:
                    raise CommitError(f"push to {remote} failed: {err.stderr.strip()}") from None
