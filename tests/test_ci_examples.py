"""The CI examples call commands and options that exist."""

from __future__ import annotations

import re
import shlex

import pytest
from ruamel.yaml import YAML

from tests.cli_helpers import run
from tests.conftest import EXAMPLES

CI = [EXAMPLES / "ci" / "github" / "modelkiln.yml", EXAMPLES / "ci" / "gitlab" / ".gitlab-ci.yml"]


def _commands(text: str) -> list[list[str]]:
    found = []
    for match in re.finditer(
        r"modelkiln (validate|compile|commit|diff|schema|init|deploy pipelines)[^\n|>&;)]*", text
    ):
        found.append(shlex.split(match.group(0)))
    return found


@pytest.mark.parametrize("path", CI, ids=lambda p: p.name)
def test_ci_example_is_yaml_and_uses_real_options(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    text = path.read_text()
    YAML(typ="safe", pure=True).load(text)
    commands = _commands(text)
    assert {c[1] for c in commands} >= {"validate", "diff", "compile", "commit", "deploy"}
    helps: dict[str, str] = {}
    for words in commands:
        depth = 3 if words[1] == "deploy" else 2  # deploy is a group: deploy pipelines
        sub = " ".join(words[1:depth])
        helps.setdefault(sub, run(*words[1:depth], "--help").stdout)
        for word in words[depth:]:
            if word.startswith("--"):
                assert word.split("=")[0] in helps[sub], f"{path.name}: {sub} has no {word}"
