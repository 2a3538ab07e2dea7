"""The validation gate: every document against its kind, then the rules across documents.

Collects every problem it can find; nothing here raises for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from compiler.diagnostics import Diagnostic, did_you_mean, has_errors, sort_diagnostics
from compiler.load import LEGACY_API_GROUP, PROJECT_FILE, Document, PathKey, Sources
from compiler.spec import API_VERSION, KINDS
from compiler.spec.model import ModelSpec
from compiler.validate.context import At, Entry, ModelView, Specs
from compiler.validate.rules import MODEL_RULES, SPEC_RULES
from compiler.validate.schema import schema_diagnostics


@dataclass
class Result:
    specs: Specs
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # names of documents that exist but failed their schema: references to them are not
    # reported again as unknown
    broken: dict[str, set[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; lists and scalars (and null) replace."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _envelope(doc: Document, out: list[Diagnostic]) -> type[BaseModel] | None:
    api = doc.data.get("apiVersion")
    kind = doc.data.get("kind")
    ok = True
    if api != API_VERSION:
        hint = f"use apiVersion: {API_VERSION}"
        if isinstance(api, str) and api.startswith(LEGACY_API_GROUP):
            hint = f"modelplane was renamed modelkiln: use apiVersion: {API_VERSION}"
        elif isinstance(api, str) and not api.startswith("modelkiln.dev/"):
            hint += "; if this file is not a modelkiln spec, list it in the Project's exclude"
        what = "missing apiVersion" if api is None else f"apiVersion '{api}' is not supported"
        out.append(doc.at(("apiVersion",), "MK108", what, hint, key=api is None))
        ok = False
    if kind not in KINDS:
        if kind is None:
            out.append(doc.at((), "MK109", "missing kind", "one of: " + ", ".join(KINDS)))
        else:
            hint = did_you_mean(str(kind), KINDS) or ("one of: " + ", ".join(KINDS))
            out.append(doc.at(("kind",), "MK109", f"unknown kind '{kind}'", hint))
        return None
    if kind == "Project" and doc.file != PROJECT_FILE:
        out.append(
            doc.at(
                ("kind",),
                "MK111",
                f"a Project must be in {PROJECT_FILE} at the root, not in {doc.file}",
                "a repository has exactly one Project",
            )
        )
        return None
    return KINDS[kind] if ok else None


def _doc_locator(doc: Document) -> At:
    def locate(path: PathKey, code: str, message: str, hint: str | None, key: bool) -> Diagnostic:
        return doc.at(path, code, message, hint, key=key)

    return locate


def _add(specs: Specs, doc: Document, obj: BaseModel, out: list[Diagnostic]) -> None:
    kind = obj.kind  # type: ignore[attr-defined]
    entry: Entry[Any] = Entry(doc, obj)
    if kind == "Project":
        if specs.project is not None:
            out.append(
                doc.at(
                    ("kind",),
                    "MK111",
                    f"a second Project; the first is at {PROJECT_FILE}:"
                    f"{specs.project.doc.pos(())[0]}",
                    "a repository has exactly one Project",
                )
            )
            return
        specs.project = entry
        return
    tables: dict[str, dict[str, Entry[Any]]] = {
        "DataSource": specs.datasources,
        "GpuPool": specs.pools,
        "Model": specs.models,
    }
    table = tables[kind]
    first = table.get(entry.name)
    if first is not None:
        line = first.doc.pos(("metadata", "name"))[0]
        out.append(
            doc.at(
                ("metadata", "name"),
                "MK301",
                f"{kind} '{entry.name}' is already defined at {first.doc.file}:{line}",
                "names are unique per kind",
            )
        )
        return
    table[entry.name] = entry


def _views(specs: Specs, out: list[Diagnostic]) -> None:
    env_names = [e.name for e in specs.environments]
    for entry in specs.models.values():
        overrides = entry.obj.spec.environments
        for env_name in overrides:
            if specs.project is not None and env_name not in env_names:
                out.append(
                    entry.at(
                        ("spec", "environments", env_name),
                        "MK304",
                        f"override for environment '{env_name}', which the Project does not define",
                        did_you_mean(env_name, env_names)
                        or "environments: " + ", ".join(env_names),
                        key=True,
                    )
                )
        base = {k: v for k, v in entry.doc.data.get("spec", {}).items() if k != "environments"}
        for env in specs.environments:
            override = overrides.get(env.name)
            if override is not None and "environments" in override:
                out.append(
                    entry.at(
                        ("spec", "environments", env.name, "environments"),
                        "MK310",
                        f"the override for '{env.name}' cannot hold environments of its own",
                        "overrides do not nest; put each environment's override directly "
                        "under spec.environments",
                        key=True,
                    )
                )
                override = {k: v for k, v in override.items() if k != "environments"}
            if override is None:
                specs.views.append(ModelView(entry, env, entry.obj.spec, None))
                continue
            merged = deep_merge(base, override)
            probe = ModelView(entry, env, entry.obj.spec, override)
            try:
                spec = ModelSpec.model_validate(merged)
            except ValidationError as err:
                out.extend(schema_diagnostics(ModelSpec, merged, err, probe.rule_at))
                continue
            specs.views.append(ModelView(entry, env, spec, override))


def _override_anchor(override: dict[str, Any], path: PathKey) -> PathKey:
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


def _model_rules(specs: Specs, out: list[Diagnostic]) -> None:
    """Single-Model rules on each base spec, then on each overridden spec. A problem only the
    merged spec has, found at a field the override did not touch, is the override's doing:
    it is reported at the override key that caused it, naming the environment."""
    base: dict[str, set[Diagnostic]] = {}
    for entry in specs.models.values():
        found = {d for rule in MODEL_RULES for d in rule(entry.obj.spec, entry.spec_at)}
        base[entry.name] = found
        out.extend(found)
    for view in specs.views:
        if view.override is None:
            continue
        out.extend(
            d
            for rule in MODEL_RULES
            for d in rule(view.spec, _override_locator(view, base[view.name]))
            if d not in base[view.name]
        )


def _override_locator(view: ModelView, base: set[Diagnostic]) -> At:
    prefix = f"in environment '{view.env.name}': "

    def locate(path: PathKey, code: str, message: str, hint: str | None, key: bool) -> Diagnostic:
        d = view.rule_at(path, code, message, hint, key)
        if d in base or d.message.startswith(prefix) or view.override is None:
            return d
        anchor = _override_anchor(view.override, path)
        line, column = view.entry.doc.pos(
            ("spec", "environments", view.env.name, *anchor), key=True
        )
        return Diagnostic(d.file, line, column, code, prefix + message, hint)

    return locate


def validate(sources: Sources) -> Result:
    out: list[Diagnostic] = list(sources.diagnostics)
    specs = Specs()
    broken: dict[str, set[str]] = {}
    for doc in sources.documents:
        model = _envelope(doc, out)
        if model is None:
            continue
        try:
            obj = model.model_validate(doc.data)
        except ValidationError as err:
            out.extend(schema_diagnostics(model, doc.data, err, _doc_locator(doc)))
            if doc.name:
                broken.setdefault(str(doc.kind), set()).add(doc.name)
            continue
        _add(specs, doc, obj, out)

    project_file_read = PROJECT_FILE in sources.texts
    has_project_doc = any(d.kind == "Project" and d.file == PROJECT_FILE for d in sources.documents)
    if project_file_read and not has_project_doc:
        out.append(
            Diagnostic(
                PROJECT_FILE,
                1,
                1,
                "MK110",
                f"{PROJECT_FILE} holds no Project document",
                f"start it with apiVersion: {API_VERSION} and kind: Project",
            )
        )

    _views(specs, out)
    _model_rules(specs, out)
    for spec_rule in SPEC_RULES:
        out.extend(spec_rule(specs, broken))
    return Result(specs, sort_diagnostics(out), broken)
