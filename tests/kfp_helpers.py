"""Compile example repositories in-process and read the results back."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from compiler.load import load
from compiler.plan import Plan
from compiler.planner import build_plan
from compiler.render import render
from compiler.validate import validate
from tests.conftest import EXAMPLES


@cache
def plan_of(example: str) -> Plan:
    result = validate(load(EXAMPLES / example))
    assert result.ok, result.diagnostics
    return build_plan(result.specs)


@cache
def files_of(example: str) -> dict[str, bytes]:
    return render(plan_of(example), workers=1)


def yaml_docs(data: bytes) -> list[Any]:
    return [d for d in YAML(typ="safe", pure=True).load_all(data.decode()) if d is not None]


def pipeline_docs(example: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """path -> (PipelineSpec document, platform spec document)."""
    out = {}
    for path, data in files_of(example).items():
        if path.endswith("/pipeline.yaml"):
            spec, platform = yaml_docs(data)
            out[path] = (spec, platform)
    return out


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
