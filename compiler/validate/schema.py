"""One document against its kind's model: pydantic's errors turned into diagnostics."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from compiler.diagnostics import Diagnostic, did_you_mean, enumerate_names, quote, shorten
from compiler.load import PathKey
from compiler.spec.types import LINE_PATTERN, line_error
from compiler.validate.context import At

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_from_float": "an integer",
}
_RANGE_TYPES = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "string_too_short",
    "string_too_long",
}


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {quote(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (Optional/Union/Annotated removed)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _child(annotation: Any, step: str | int) -> Any | None:
    for candidate in _unwrap(annotation):
        origin = typing.get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if step in (info.alias, name):
                    return info.annotation
        elif origin in (list, tuple) and isinstance(step, int):
            return typing.get_args(candidate)[0]
        elif origin is dict and isinstance(step, str):
            return typing.get_args(candidate)[1]
    return None


def fields_at(model: type[BaseModel], path: Iterable[str | int]) -> list[str]:
    """The YAML field names allowed at path inside model (for did-you-mean hints)."""
    annotation: Any = model
    for step in path:
        annotation = _child(annotation, step)
        if annotation is None:
            return []
    for candidate in _unwrap(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [info.alias or name for name, info in candidate.model_fields.items()]
    return []


def _data_path(data: Any, loc: tuple[str | int, ...]) -> PathKey:
    """pydantic's loc minus the union-member tags that are not in the data."""
    path: list[str | int] = []
    node = data
    for step in loc:
        in_dict = isinstance(node, dict) and isinstance(step, str) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if in_dict or in_list:
            node = node[step]
            path.append(step)
        elif isinstance(node, dict | list):
            path.append(step)  # a missing key, or an extra one: stays in the path
            node = None
        # else: a tag such as 'int' or 'function-after[...]'; not part of the data
    return tuple(path)


def _value_at(data: Any, path: PathKey) -> Any:
    node = data
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


# errors the one-pass value check (compiler.validate.values, MK219) already reports
_REPORTED_ELSEWHERE = {"string_unicode"}
CLOSED_LIST_LIMIT = 15  # a closed vocabulary (fields, choices) is listed nearly whole


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _errors(err: ValidationError, data: dict[str, Any]) -> list[tuple[PathKey, str, Any]]:
    """(data path, error type, error) triples. A number that is not finite is said as that,
    once, whatever field refused it (an integer field, or each member of int | float | str
    | bool)."""
    out = []
    for e in err.errors(include_url=False):
        if e["type"] in _REPORTED_ELSEWHERE:
            continue
        path = _data_path(data, tuple(e["loc"]))
        kind = "finite_number" if _not_finite(_value_at(data, path)) else e["type"]
        out.append((path, kind, e))
    return out


# (path, code, message, hint, at the key?)
Item = tuple[PathKey, str, str, str | None, bool]
_NOT_FINITE_HINT = (
    "NaN and infinity cannot be written to a pipeline, manifest or alert rule; use a finite number"
)


def _unknown_field(model: type[BaseModel], path: PathKey, typos: dict[PathKey, set[str]]) -> Item:
    allowed = fields_at(model, path[:-1])
    hint = did_you_mean(str(path[-1]), allowed)
    if hint:
        typos.setdefault(path[:-1], set()).add(hint.split("'")[1])
    elif allowed:
        hint = "allowed here: " + enumerate_names(sorted(allowed), CLOSED_LIST_LIMIT)
    return (path, "MK201", f"unknown field {quote(path[-1])}", hint, True)


def _not_one_of(path: PathKey, field: str, value: Any, e: Any) -> Item:
    expected = str(e.get("ctx", {}).get("expected", ""))
    choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",")]
    choices = [c for c in choices if c]
    hint = did_you_mean(str(value), choices) if isinstance(value, str) else None
    listed = enumerate_names(choices, CLOSED_LIST_LIMIT)
    return (path, "MK204", f"{field}: {describe(value)} is not one of: {listed}", hint, False)


def _wrong_type(model: type[BaseModel], path: PathKey, field: str, kind: str, value: Any) -> Item:
    hint = None
    if kind == "string_type" and isinstance(value, int | float | bool):
        hint = f'quote it: "{value}"'
        if field == "version" and model.__name__ in ("Model", "ModelSpec"):
            hint = 'a semantic version in quotes, such as "1.0.0"'
    want = _TYPE_NAMES[kind]
    return (path, "MK203", f"{field}: expected {want}, got {describe(value)}", hint, False)


def _item(
    model: type[BaseModel],
    data: dict[str, Any],
    error: tuple[PathKey, str, Any],
    typos: dict[PathKey, set[str]],
) -> Item:
    """One pydantic error as what a diagnostic says, in the language's terms."""
    path, kind, e = error
    value = _value_at(data, path)
    field = shorten(path[-1]) if path else "document"
    if kind == "extra_forbidden":
        return _unknown_field(model, path, typos)
    if kind == "missing":
        return (path, "MK202", f"missing required field '{field}'", None, True)
    if kind.startswith("MK"):
        ctx = e.get("ctx", {})
        hint = ctx.get("hint")
        # a model-level rule names the key it is about ("field"), or the mapping's own key
        if "field" in ctx:
            return ((*path, str(ctx["field"])), kind, e["msg"], str(hint) if hint else None, True)
        at_key = bool(ctx.get("at_key"))
        return (path, kind, e["msg"], str(hint) if hint else None, at_key)
    if kind == "finite_number":
        message = f"{field}: {describe(value)} is not a finite number"
        return (path, "MK220", message, _NOT_FINITE_HINT, False)
    if kind == "literal_error":
        return _not_one_of(path, field, value, e)
    if kind in _TYPE_NAMES:
        return _wrong_type(model, path, field, kind, value)
    if kind in _RANGE_TYPES:
        return (path, "MK210", f"{field}: {e['msg'][0].lower()}{e['msg'][1:]}", None, False)
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        line = line_error(value) if e.get("ctx", {}).get("pattern") == LINE_PATTERN else None
        if line is not None:
            hint = (line.context or {}).get("hint")
            return (path, "MK221", line.message(), str(hint) if hint else None, False)
    if kind == "string_pattern_mismatch":
        return (path, "MK204", f"{field}: {describe(value)} is not allowed here", None, False)
    return (path, "MK203", f"{field}: {shorten(e['msg'], 300)}", None, False)


def schema_diagnostics(
    model: type[BaseModel], data: dict[str, Any], err: ValidationError, locate: At
) -> list[Diagnostic]:
    items: dict[tuple[PathKey, str], Item] = {}
    typos: dict[PathKey, set[str]] = {}  # parent path -> fields that typos point to
    for error in _errors(err, data):
        item = _item(model, data, error, typos)
        # a union reports once per member; say it once
        items.setdefault((item[0], item[1]), item)
    diagnostics = []
    for path, code, message, hint, at_key in items.values():
        if code == "MK202" and path and str(path[-1]) in typos.get(path[:-1], set()):
            continue  # the misspelt field already says where this one went
        diagnostics.append(locate(path, code, message, hint, at_key))
    return diagnostics
