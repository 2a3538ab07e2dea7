"""The source commit a compile stands on, read with the git command (cheap)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from compiler.errors import HostError
from compiler.gitops.git import Pending, git_or_none


def spec_pathspecs(prefix: str, output: str) -> list[str]:
    """git pathspecs of the spec files (YAML) below prefix, the output folder excluded."""
    base = f"{prefix.rstrip('/')}/" if prefix not in ("", ".") else ""
    return [
        f":(glob){base}**/*.yaml",
        f":(glob){base}**/*.yml",
        f":(exclude){base}{output}",
    ]


def _answer(root: Path, *args: str) -> str | None:
    """git's answer, stripped; None outside a repository or on a machine without git: a
    compile works there too, it just records no source commit."""
    try:
        out = git_or_none(root, *args, timeout=60)
    except HostError:
        return None
    return out.strip() if out is not None else None


def source_commit(root: Path, output: str) -> str | None:
    """The last commit that changed the specs under root (the output folder excluded), with
    "-dirty" when they have uncommitted changes; None outside a git repository. It is the
    last commit of the specs, not HEAD, so committing the output does not change it."""
    scope = spec_pathspecs("", output)
    commit = _answer(root, "log", "-1", "--format=%H", "--", *scope)
    if not commit:
        return None
    dirty = _answer(root, "status", "--porcelain", "--untracked-files=all", "--", *scope)
    return commit + ("-dirty" if dirty else "")


def start_source_commit(root: Path, output: str) -> Callable[[], str | None]:
    """source_commit, with git running in the background until the answer is asked for
    (a compile validates the specs meanwhile; `git status` walks the whole tree)."""
    scope = spec_pathspecs("", output)
    try:
        log = Pending(root, "log", "-1", "--format=%H", "--", *scope)
        status = Pending(root, "status", "--porcelain", "--untracked-files=all", "--", *scope)
    except HostError:
        return lambda: None

    def answer() -> str | None:
        commit = (log.result(may_fail=True) or "").strip()
        dirty = status.result(may_fail=True)
        if not commit:
            return None
        return commit + ("-dirty" if dirty is not None and dirty.strip() else "")

    return answer
