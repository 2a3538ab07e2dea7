"""The source commit a compile stands on, read with the git command (cheap; GitPython is
only imported by the commands that change repositories)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def spec_pathspecs(prefix: str, output: str) -> list[str]:
    """git pathspecs of the spec files (YAML) below prefix, the output folder excluded."""
    base = f"{prefix.rstrip('/')}/" if prefix not in ("", ".") else ""
    return [
        f":(glob){base}**/*.yaml",
        f":(glob){base}**/*.yml",
        f":(exclude){base}{output}",
    ]


def source_commit(root: Path, output: str) -> str | None:
    """The last commit that changed the specs under root (the output folder excluded), with
    "-dirty" when they have uncommitted changes; None outside a git repository. It is the
    last commit of the specs, not HEAD, so committing the output does not change it."""
    scope = spec_pathspecs("", output)
    commit = _git(root, "log", "-1", "--format=%H", "--", *scope)
    if not commit:
        return None
    dirty = _git(root, "status", "--porcelain", "--untracked-files=all", "--", *scope)
    return commit + ("-dirty" if dirty else "")
