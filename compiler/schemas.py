"""JSON Schemas (draft 2020-12) of the language, generated from the pydantic models."""

from __future__ import annotations

import copy
import json
from typing import Any

from compiler.spec import KINDS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://modelkiln.dev/schemas/v1alpha1/"


def _partial(defs: dict[str, Any]) -> dict[str, Any]:
    """Copies of the definitions with nothing required, for environment overrides."""
    out: dict[str, Any] = {}

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: strip(v) for k, v in node.items() if k != "required"}
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node["$ref"] = ref + "Override"
        elif isinstance(node, list):
            node = [strip(v) for v in node]
        return node

    for name, schema in defs.items():
        out[name + "Override"] = strip(copy.deepcopy(schema))
    return out


def kind_schema(kind: str) -> dict[str, Any]:
    schema = KINDS[kind].model_json_schema(by_alias=True, mode="validation")
    if kind == "Model":
        defs = schema["$defs"]
        spec = defs["ModelSpec"]
        override = {k: v for k, v in spec["properties"].items() if k != "environments"}
        partial = _partial({k: v for k, v in defs.items() if k != "ModelSpec"})
        partial["ModelSpecOverride"] = _partial({"ModelSpec": {**spec, "properties": override}})[
            "ModelSpecOverride"
        ]
        defs.update(partial)
        spec["properties"]["environments"]["additionalProperties"] = {
            "$ref": "#/$defs/ModelSpecOverride"
        }
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + kind.lower() + ".schema.json",
        **schema,
    }


def all_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema: one per kind, and modelkiln.schema.json for any document."""
    out = {kind.lower() + ".schema.json": kind_schema(kind) for kind in KINDS}
    out["modelkiln.schema.json"] = {
        "$schema": DIALECT,
        "$id": BASE_ID + "modelkiln.schema.json",
        "title": "modelkiln document",
        "description": "Any modelkiln document; the kind selects the schema.",
        "type": "object",
        "required": ["apiVersion", "kind"],
        "properties": {"kind": {"enum": list(KINDS)}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {"$ref": kind.lower() + ".schema.json"},
            }
            for kind in KINDS
        ],
    }
    return out


def render() -> dict[str, bytes]:
    return {
        name: (json.dumps(schema, indent=2, ensure_ascii=False) + "\n").encode()
        for name, schema in sorted(all_schemas().items())
    }
