"""Environment overrides: how one merges over its Model's spec, and how a problem that it
causes is explained in its terms.

The merge is a JSON merge patch (RFC 7386): mappings merge key by key, `null` removes the
key, and anything else (a list, a scalar) replaces what the base spec has.
"""

from __future__ import annotations

from typing import Any

from compiler.diagnostics import shorten
from compiler.load import Document, PathKey


def merge_patch(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """base with patch applied per RFC 7386; neither is changed. A mapping in the patch
    over something that is not a mapping replaces it (with the mapping's nulls removed)."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            target = merged.get(key)
            merged[key] = merge_patch(target if isinstance(target, dict) else {}, value)
        else:
            merged[key] = value
    return merged


def override_source(override: dict[str, Any] | None, path: PathKey) -> bool:
    """True when the merged value at path (inside spec) came from the override."""
    node: Any = override
    if node is None:
        return False
    for step in path:
        if isinstance(node, dict):
            if step not in node:
                return False
            node = node[step]
        else:
            return True  # the override replaced this whole list or scalar
    return True


def override_anchor(override: dict[str, Any], path: PathKey) -> PathKey:
    """The override key that best explains a problem at path: as deep along path as the
    override goes, then its first key below that point."""
    node: Any = override
    anchor: list[str | int] = []
    for step in path:
        if not (isinstance(node, dict) and step in node):
            break
        node = node[step]
        anchor.append(step)
    while isinstance(node, dict) and node:
        key = next(iter(node))
        anchor.append(key)
        node = node[key]
    return tuple(anchor)


def yaml_value(value: Any) -> str:
    """A value as it would be written in YAML, for a hint (long strings shortened)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{…}"
    if isinstance(value, list):
        return "[…]"
    return shorten(value)


_MISSING = object()


def _base_value(doc: Document, path: PathKey) -> Any:
    node: Any = doc.data.get("spec")
    for step in path:
        in_dict = isinstance(node, dict) and isinstance(step, str) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if not (in_dict or in_list):
            return _MISSING
        node = node[step]
    return node


def base_value_hint(doc: Document, path: PathKey, patch: Any) -> str | None:
    """For a problem at path (inside spec) whose value the base spec wrote: say so, and
    give the fix in merge-patch terms, setting path to patch in the override (None: the
    `null` that removes the key). None when the base spec does not write path."""
    value = _base_value(doc, path)
    if value is _MISSING or not path:
        return None
    line = doc.pos(("spec", *path))[0]
    list_at = next((i for i, step in enumerate(path) if isinstance(step, int)), None)
    dotted = ".".join(str(step) for step in path)
    origin = f"{dotted if list_at is not None else path[-1]}: {yaml_value(value)}"
    origin += f" comes from the base spec (line {line})"
    if list_at is not None:  # a merge patch cannot reach into a list: it replaces it
        whole = ".".join(str(step) for step in path[:list_at])
        return f"{origin}; an override replaces a list whole: give this override its own {whole}"
    where = f" under {'.'.join(str(step) for step in path[:-1])}" if len(path) > 1 else ""
    return f"{origin}; add `{path[-1]}: {yaml_value(patch)}` to this override{where}"
