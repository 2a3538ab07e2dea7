"""What both ways of `modelkiln commit` share: where the output sits in the repository,
the commit message, the identity and clean-specs checks, and a push that tells a remote
that moved from one that refused."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from compiler.errors import HostError, UsageError
from compiler.gitops.git import git, git_or_none, reason, run_git
from compiler.gitops.source import spec_pathspecs
from compiler.output import compiler_id

RETRIES = 3
TRAILER_SOURCE = "Modelkiln-Source-Commit"
TRAILER_COMPILER = "Modelkiln-Compiler"

IDENTITY_HINT = (
    'set one: git config --global user.name "Your Name" && '
    "git config --global user.email you@example.com "
    "(in CI: GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL, GIT_COMMITTER_NAME, GIT_COMMITTER_EMAIL)"
)


class CommitError(Exception):
    """The commit was refused before anything changed: the specs have uncommitted changes,
    so the recorded source commit would not be true (exit 1, like a failed gate)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class CommitResult:
    committed: bool
    commit: str | None
    branch: str
    pushed: bool
    attempts: int
    summary: str


@dataclass(frozen=True)
class Where:
    work: Path  # the working tree
    root: Path  # the spec root
    root_rel: str  # spec root relative to the work tree ("" at the top)
    out_rel: str  # output folder relative to the work tree
    output: str  # output folder relative to the spec root


def locate(root: Path) -> Where:
    from compiler.load import output_folder

    top = git_or_none(root, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(f"{root} is not inside a git repository")
    work = Path(top.strip()).resolve()
    root = root.resolve()
    root_rel = root.relative_to(work).as_posix()
    root_rel = "" if root_rel == "." else root_rel
    output = output_folder(root)  # the compile that follows validates everything
    out_rel = (PurePosixPath(root_rel) / output).as_posix() if root_rel else output
    return Where(work, root, root_rel, out_rel, output)


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


def summary(paths: list[str], committed: bool) -> str:
    return f"{len(paths)} file(s) changed" if committed else "output unchanged: no commit"


def refuse_dirty_specs(where: Where) -> None:
    """CommitError when spec files under the root have uncommitted changes."""
    scope = spec_pathspecs(where.root_rel, where.output)
    status = git(where.work, "status", "--porcelain", "--untracked-files=all", "--", *scope)
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    if dirty:
        shown = ", ".join(dirty[:5]) + (" …" if len(dirty) > 5 else "")
        raise CommitError(
            f"the specs have uncommitted changes ({shown})",
            "commit them first so that the recorded source commit is true, or pass --allow-dirty",
        )


def require_identity(work: Path) -> None:
    """HostError, with how to set one, when git has no author or committer to commit as."""
    for variable in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        answer = run_git(work, "var", variable)
        if answer.returncode != 0:
            raise HostError(
                f"git has no identity to commit with: {reason(answer.stderr)}", IDENTITY_HINT
            )


def try_push(work: Path, remote: str, refspec: str) -> bool:
    """Push (never forced). False when the remote moved on (fetch, integrate, try again);
    HostError when it refused for any other reason or could not be reached."""
    pushed = run_git(work, "push", remote, refspec)
    if pushed.returncode == 0:
        return True
    if "(fetch first)" in pushed.stderr or "(non-fast-forward)" in pushed.stderr:
        return False
    raise HostError(f"git push to {remote} failed: {reason(pushed.stderr)}")
