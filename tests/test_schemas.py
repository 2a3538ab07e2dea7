"""The committed JSON Schemas are current, well-formed 2020-12, and accept the examples."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from compiler.load import load
from compiler.schemas import render
from tests.conftest import EXAMPLES, REPO

SCHEMAS = REPO / "schemas"


def test_committed_schemas_are_current() -> None:
    rendered = render()
    committed = {p.name: p.read_bytes() for p in SCHEMAS.glob("*.json")}
    stale = sorted(
        n for n in rendered.keys() | committed.keys() if rendered.get(n) != committed.get(n)
    )
    assert not stale, f"schemas/ is stale ({stale}); run `make schemas` and commit the result"


def test_schemas_are_valid_draft_2020_12() -> None:
    for data in render().values():
        schema = json.loads(data)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


def _validator() -> jsonschema.Draft202012Validator:
    schemas = {name: json.loads(data) for name, data in render().items()}
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    return jsonschema.Draft202012Validator(schemas["modelkiln.schema.json"], registry=registry)


@pytest.mark.parametrize("example", ["quickstart", "multi-cloud"])
def test_examples_pass_the_schemas(example: str) -> None:
    validator = _validator()
    for doc in load(EXAMPLES / example).documents:
        errors = list(validator.iter_errors(doc.data))
        assert not errors, (doc.file, [e.message for e in errors])


def test_schema_rejects_unknown_field() -> None:
    validator = _validator()
    doc = {
        "apiVersion": "modelkiln.dev/v1alpha1",
        "kind": "GpuPool",
        "metadata": {"name": "p"},
        "spec": {"accelerator": "nvidia-l4", "gpusPerNode": 1, "maxNodes": 1, "gpuPerNode": 1},
    }
    assert not validator.is_valid(doc)
    doc["spec"].pop("gpuPerNode")  # type: ignore[attr-defined]
    assert validator.is_valid(doc)


def test_override_schema_needs_no_required_fields() -> None:
    model = json.loads(render()["model.schema.json"])
    override = model["$defs"]["ModelSpecOverride"]
    assert "required" not in override and "environments" not in override["properties"]
    assert "required" not in model["$defs"]["SloOverride"]


def test_out_of_tree_schema_files_are_not_left_over(tmp_path: Path) -> None:
    assert {p.name for p in SCHEMAS.glob("*.json")} == set(render())
