"""The validation gate: every document against its kind, then the rules across documents.

Collects every problem it can find; nothing here raises for bad input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from compiler.diagnostics import (
    Diagnostic,
    did_you_mean,
    enumerate_names,
    has_errors,
    quote,
    sort_diagnostics,
)
from compiler.load import LEGACY_API_GROUP, PROJECT_FILE, Document, PathKey, Sources
from compiler.spec import API_VERSION, KINDS
from compiler.spec.model import ModelSpec
from compiler.validate.context import NO_PATCH, Entry, ModelView, Specs
from compiler.validate.overrides import merge_patch
from compiler.validate.rules import MODEL_RULES, SPEC_RULES, VIEW_RULES
from compiler.validate.schema import describe, schema_diagnostics
from compiler.validate.values import unencodable_strings


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


_ONE_OF_KINDS = "one of: " + enumerate_names(KINDS)


def _api_version_problem(api: object) -> str:
    if api is None:
        return "missing apiVersion"
    if not isinstance(api, str):
        return f"apiVersion must be a string, got {describe(api)}"
    return f"apiVersion {quote(api)} is not supported"


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
        what = _api_version_problem(api)
        out.append(doc.at(("apiVersion",), "MK108", what, hint, key=api is None))
        ok = False
    if not isinstance(kind, str) or kind not in KINDS:
        if kind is None:
            out.append(doc.at((), "MK109", "missing kind", _ONE_OF_KINDS))
        elif not isinstance(kind, str):
            what = f"kind must be a string, got {describe(kind)}"
            out.append(doc.at(("kind",), "MK109", what, _ONE_OF_KINDS))
        else:
            hint = did_you_mean(kind, KINDS) or _ONE_OF_KINDS
            out.append(doc.at(("kind",), "MK109", f"unknown kind {quote(kind)}", hint))
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


@dataclass(frozen=True)
class _DocLocator:
    """The At of a whole document (schema errors, before there is a spec to speak of)."""

    doc: Document

    def __call__(
        self,
        path: PathKey,
        code: str,
        message: str,
        hint: str | None,
        key: bool,
        /,
        *,
        patch: object = NO_PATCH,
    ) -> Diagnostic:
        return self.doc.at(path, code, message, hint, key=key)


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


def _unknown_override_environments(specs: Specs, out: list[Diagnostic]) -> None:
    if specs.project is None:
        return
    env_names = [e.name for e in specs.environments]
    for entry in specs.models.values():
        for env_name in entry.obj.spec.environments:
            if env_name not in env_names:
                out.append(
                    entry.at(
                        ("spec", "environments", env_name),
                        "MK304",
                        f"override for environment {quote(env_name)}, which the Project does "
                        "not define",
                        did_you_mean(env_name, env_names)
                        or "environments: " + enumerate_names(env_names),
                        key=True,
                    )
                )


def _views(specs: Specs, out: list[Diagnostic]) -> None:
    """Each Model in each environment: its spec with the environment's override merged in."""
    for entry in specs.models.values():
        overrides = entry.obj.spec.environments
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
                specs.views.append(ModelView(entry, env, entry.obj.spec, None, specs.ledger))
                continue
            merged = merge_patch(base, override)
            probe = ModelView(entry, env, entry.obj.spec, override, specs.ledger)
            try:
                spec = ModelSpec.model_validate(merged)
            except ValidationError as err:
                out.extend(schema_diagnostics(ModelSpec, merged, err, probe.rule_at))
                continue
            specs.views.append(ModelView(entry, env, spec, override, specs.ledger))


def _settle_overrides(
    specs: Specs, broken: dict[str, set[str]], out: list[Diagnostic]
) -> list[Diagnostic]:
    """out, with each problem reported at an override put back at the base value where the
    base spec has it too. The single-Model rules knew that when they ran (the base specs
    go first); the rules over views learn it here, run on the views' base specs, and only
    when some problem was reported at an override (none in a valid repository)."""
    ledger = specs.ledger
    if not ledger.relocated:
        return out
    bases = [view.as_base() for view in specs.views if view.override is not None]
    as_base = dataclasses.replace(specs, views=bases)
    for view_rule in VIEW_RULES:
        ledger.base_found.update(view_rule(as_base, broken))
    settled = []
    for d in out:
        base = ledger.relocated.get(d)
        settled.append(base if base is not None and base in ledger.base_found else d)
    return settled


def _model_rules(specs: Specs, out: list[Diagnostic]) -> None:
    """Single-Model rules on each base spec, then on each overridden spec (model_specs gives
    each the At that reports an override's problems at the override)."""
    for _entry, spec, at in specs.model_specs():
        for rule in MODEL_RULES:
            out.extend(rule(spec, at))


def validate(sources: Sources) -> Result:
    out: list[Diagnostic] = list(sources.diagnostics)
    specs = Specs()
    broken: dict[str, set[str]] = {}
    for doc in sources.documents:
        if doc.file in sources.escaped:
            out.extend(unencodable_strings(doc))
        model = _envelope(doc, out)
        if model is None:
            continue
        try:
            obj = model.model_validate(doc.data)
        except ValidationError as err:
            out.extend(schema_diagnostics(model, doc.data, err, _DocLocator(doc)))
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

    _unknown_override_environments(specs, out)
    _views(specs, out)
    _model_rules(specs, out)
    for spec_rule in SPEC_RULES:
        out.extend(spec_rule(specs, broken))
    out = _settle_overrides(specs, broken, out)
    return Result(specs, sort_diagnostics(out), broken)
