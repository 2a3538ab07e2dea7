"""The errors the CLI turns into exit codes; raised anywhere below it, printed only by it.

0 ok · 1 invalid specs or a failed gate · 2 usage · 3 a problem of the machine or a bug.
"""

from __future__ import annotations

import os

EXIT_USAGE = 2
EXIT_HOST = 3


class UsageError(Exception):
    """Bad arguments, or ROOT is not a spec repository (exit 2)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class HostError(Exception):
    """The machine said no: I/O, permissions, git, the network (exit 3).

    The message is one line that names the path or the command that failed.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def describe_os_error(err: OSError, doing: str | None = None) -> str:
    """One line for an OSError: what was being done, to which path, and the system's words."""
    reason = err.strerror or str(err) or type(err).__name__
    where = err.filename if err.filename is not None else ""
    target = f" {os.fsdecode(where)}" if where != "" else ""
    if err.filename2 is not None:
        target += f" -> {os.fsdecode(err.filename2)}"
    prefix = f"cannot {doing}" if doing else "I/O error"
    return f"{prefix}{':' if target else ''}{target}: {reason}"
