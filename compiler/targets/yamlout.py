"""Deterministic YAML for rendered manifests: block style, sorted keys.

Written by fastyaml (thousands of manifests per compile; PyYAML's Python representer was
the largest cost). Sorted keys suit Kubernetes: apiVersion, kind, metadata, spec.
"""

from __future__ import annotations

from typing import Any

from compiler.targets import fastyaml


def _comment(header: str | None) -> str:
    if not header:
        return ""
    return "".join(f"# {line}\n" for line in header.splitlines())


def dump(obj: Any, *, header: str | None = None) -> bytes:
    """YAML bytes for obj, with header as a leading comment."""
    return (_comment(header) + fastyaml.dump(obj)).encode()


def dump_all(objs: list[Any], *, header: str | None = None) -> bytes:
    """Several documents in one file, separated by ---."""
    return (_comment(header) + fastyaml.dump_all(objs)).encode()
