"""Every git command modelkiln runs goes through here: one `git -C DIR ...` subprocess.

`git` returns stdout and turns a failure into one HostError line (`git <verb> failed:
<git's reason>`); `git_or_none` is for questions whose answer may be "no" (is REF a
commit, does REF have this file) and returns None instead. Both raise HostError when the
git executable cannot be run at all.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from compiler.errors import HostError

# Variables that point git at a repository, an index or objects. Git exports some of them
# to hooks (a pre-commit hook gets GIT_INDEX_FILE): inherited by `git worktree add`, the
# checkout of a throwaway tree would be written into the user's index. Commands run with
# isolated=True drop them and find the repository from their folder alone.
LOCATING_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
)

# options of git itself that take a separate value (`git -c key=value add`)
_OPTIONS_WITH_VALUE = {"-c", "-C", "--git-dir", "--work-tree", "--namespace"}


def verb(args: tuple[str, ...] | list[str]) -> str:
    """The subcommand in a git argument list: the first word that is not a git option."""
    words = iter(args)
    for word in words:
        if word in _OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return ""


def reason(stderr: str) -> str:
    """The line of git's stderr that says what went wrong, without git's prefix.

    A push's rejection (`! [rejected] ...`) and `fatal:` / `error:` lines say it best; the
    chatter around them (`To <url>`, `hint: ...`) does not.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("! "):
            return line
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line[len(prefix) :]
    meaningful = [line for line in lines if not line.startswith(("hint:", "To "))]
    return (meaningful or lines or ["no reason given"])[0]


def run_git(
    cwd: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
    isolated: bool = False,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `git -C cwd args...`; the exit status is the caller's to judge.

    env: variables to add to (or override in) this process's environment.
    """
    base = {k: v for k, v in os.environ.items() if not (isolated and k in LOCATING_VARIABLES)}
    try:
        return subprocess.run(
            ["git", "-C", str(cwd), *args],
            capture_output=True,
            text=True,
            env={**base, **(env or {})},
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HostError(f"git {verb(args)} timed out after {timeout:.0f}s in {cwd}") from None
    except OSError as err:
        raise HostError(
            f"cannot run git: {err.strerror or err}", "install git and put it on the PATH"
        ) from None


def git(
    cwd: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
    isolated: bool = False,
) -> str:
    """stdout of a git command that must succeed; HostError with one line when it fails."""
    proc = run_git(cwd, *args, env=env, isolated=isolated)
    if proc.returncode != 0:
        raise HostError(f"git {verb(args)} failed: {reason(proc.stderr)}")
    return proc.stdout


def git_or_none(
    cwd: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
    isolated: bool = False,
    timeout: float | None = None,
) -> str | None:
    """stdout of a git command, or None when it fails (where "no" is an expected answer)."""
    proc = run_git(cwd, *args, env=env, isolated=isolated, timeout=timeout)
    return proc.stdout if proc.returncode == 0 else None


def commit_of(cwd: Path | str, ref: str, isolated: bool = False) -> str | None:
    """The full SHA of the commit ref names, or None when it names none."""
    if not ref or ref.startswith("-"):
        return None
    found = git_or_none(
        cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", isolated=isolated
    )
    if found is None:
        return None
    return found.strip() or None


class Pending:
    """A git command running in the background (beside Python's own work): `result()`
    waits for it and returns stdout, or raises HostError like `git`; `stop()` ends it."""

    def __init__(self, cwd: Path | str, *args: str, isolated: bool = False) -> None:
        self.args = args
        base = {k: v for k, v in os.environ.items() if not (isolated and k in LOCATING_VARIABLES)}
        try:
            self.proc = subprocess.Popen(
                ["git", "-C", str(cwd), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=base,
            )
        except OSError as err:
            raise HostError(
                f"cannot run git: {err.strerror or err}", "install git and put it on the PATH"
            ) from None

    def result(self, may_fail: bool = False) -> str | None:
        """stdout; on failure None when may_fail, else HostError."""
        out, err = self.proc.communicate()
        if self.proc.returncode == 0:
            return out
        if may_fail:
            return None
        raise HostError(f"git {verb(self.args)} failed: {reason(err)}")

    def stop(self) -> None:
        if self.proc.returncode is not None:  # result() has waited for it
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()
