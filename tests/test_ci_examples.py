"""The CI examples call modelkiln commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from compiler.cli import main
from tests.ci_files import CI_ROOT, ci_files, jobs
from tests.cli_helpers import run

# The two files of the whole loop (the others, e.g. a rollback workflow, do one thing).
LOOP = [CI_ROOT / "github" / "modelkiln.yml", CI_ROOT / "gitlab" / ".gitlab-ci.yml"]
# `modelkiln` where a shell command starts (a line, or after ; && || | ( then do else),
# not a word inside an echo or a comment
_CALL = re.compile(
    r"(?:^\s*|[;&|(]\s*|\b(?:then|do|else)\s+)(modelkiln(?:[ \t]+[^\n|>&;)#]*)?)(?=[\s|>&;)#]|$)"
)


def commands(path: Path) -> list[list[str]]:
    """Every `modelkiln ...` call in the scripts the jobs run (not in comments), as words.
    `pip install modelkiln` names the package, not the command."""
    found = []
    for job in jobs(path):
        for script in job.scripts:
            for line in script.splitlines():
                line = line.split(" #")[0]
                if re.search(r"\bpip3? install\b", line):
                    continue
                found += [shlex.split(m.group(1)) for m in _CALL.finditer(line)]
    return found


def resolve(words: list[str]) -> tuple[list[str], list[str]]:
    """(the command path, e.g. ['deploy', 'pipelines'], the rest) through the click groups
    of the real CLI; fails on a command that does not exist."""
    command: click.Command = main
    path: list[str] = []
    rest = words[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"modelkiln {' '.join(path + rest[:1])}: no such command"
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    assert path and not isinstance(command, click.Group), f"incomplete command: {words}"
    return path, rest


@pytest.mark.parametrize("path", ci_files(), ids=lambda p: str(p.relative_to(CI_ROOT)))
def test_ci_example_uses_real_commands_and_options(path: Path) -> None:
    calls = commands(path)
    assert calls, f"{path}: no modelkiln command found"
    helps: dict[tuple[str, ...], str] = {}
    used = set()
    for words in calls:
        sub, rest = resolve(words)
        used.add(" ".join(sub))
        key = tuple(sub)
        helps.setdefault(key, run(*sub, "--help").stdout)
        for word in rest:
            if word.startswith("--"):
                assert word.split("=")[0] in helps[key], f"{path.name}: {sub} has no {word}"
    if path in LOOP:
        assert used >= {"validate", "diff", "compile", "commit", "deploy pipelines"}


def test_the_command_check_can_fail() -> None:
    """A command or an option the CLI does not have is caught."""
    with pytest.raises(AssertionError, match="no such command"):
        resolve(["modelkiln", "comple", "."])
    sub, rest = resolve(["modelkiln", "compile", ".", "--chek"])
    assert sub == ["compile"] and "--chek" in rest
    assert "--chek" not in run(*sub, "--help").stdout


ROLLBACK = [
    CI_ROOT / "github" / "modelkiln-rollback.yml",
    CI_ROOT / "gitlab" / "rollback.gitlab-ci.yml",
]


@pytest.mark.parametrize("path", ROLLBACK, ids=lambda p: p.name)
def test_rollback_example_calls_rollback_and_publishes(path: Path) -> None:
    calls = commands(path)
    assert [resolve(c)[0] for c in calls] == [["rollback"], ["commit"]]
    assert "--commit" in calls[0] and "--env" in calls[0]
