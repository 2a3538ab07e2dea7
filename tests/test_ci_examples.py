"""The CI examples call commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.cli_helpers import run
from tests.conftest import EXAMPLES

CI = [EXAMPLES / "ci" / "github" / "modelkiln.yml", EXAMPLES / "ci" / "gitlab" / ".gitlab-ci.yml"]
ROLLBACK = [
    EXAMPLES / "ci" / "github" / "modelkiln-rollback.yml",
    EXAMPLES / "ci" / "gitlab" / "rollback.gitlab-ci.yml",
]


def _commands(text: str) -> list[list[str]]:
    found = []
    for match in re.finditer(
        r"modelkiln (validate|compile|commit|diff|schema|init|promote|rollback)[^\n|>&;)]*", text
    ):
        found.append(shlex.split(match.group(0)))
    return found


@pytest.mark.parametrize("path", CI, ids=lambda p: p.name)
def test_ci_example_is_yaml_and_uses_real_options(path: Path) -> None:
    text = path.read_text()
    YAML(typ="safe", pure=True).load(text)
    commands = _commands(text)
    assert {c[1] for c in commands} >= {"validate", "diff", "compile", "commit"}
    _check_options(path, commands)


@pytest.mark.parametrize("path", ROLLBACK, ids=lambda p: p.name)
def test_rollback_example_calls_rollback_and_publishes(path: Path) -> None:
    text = path.read_text()
    YAML(typ="safe", pure=True).load(text)
    commands = _commands(text)
    assert [c[1] for c in commands] == ["rollback", "commit"]
    assert "--commit" in commands[0] and "--env" in commands[0]
    _check_options(path, commands)


def _check_options(path: Path, commands: list[list[str]]) -> None:
    helps: dict[str, str] = {}
    for words in commands:
        sub = words[1]
        helps.setdefault(sub, run(sub, "--help").stdout)
        for word in words[2:]:
            if word.startswith("--"):
                assert word.split("=")[0] in helps[sub], f"{path.name}: {sub} has no {word}"
