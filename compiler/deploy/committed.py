"""The committed output a deploy reads: located, checked against manifest.json, parsed.

A deploy never recompiles: it trusts the output that passed the drift gate and was merged.
So every file it uses must still have the sha256 that manifest.json records; a hand edit
(or a half-merged output) is refused before anything is sent anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.errors import UsageError
from compiler.output import MANIFEST, Manifest, sha256
from compiler.targets.kubeflow.index import INDEX, SCHEMA_VERSION, version_name


class OutputInvalid(Exception):
    """The committed output was edited or is not what modelkiln wrote (exit 1)."""


@dataclass(frozen=True)
class Schedule:
    cron: str
    max_concurrency: int
    no_catchup: bool


@dataclass(frozen=True)
class Desired:
    """One model's pipeline in one environment, as the committed output states it."""

    model: str
    pipeline: str
    version: str  # the pipeline version's name: model version + content hash
    path: Path
    schedule: Schedule | None
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Committed:
    environment: str
    store: str
    host: str | None
    namespace: str | None
    source_commit: str | None
    pipelines: tuple[Desired, ...]


def output_of(root: Path) -> Path:
    """ROOT is the output folder itself (it has manifest.json: a deploy-branch checkout
    holds only that) or a spec repository (its Project names the output folder)."""
    from compiler.load import is_spec_root, output_folder

    if (root / MANIFEST).is_file():
        return root
    if root.is_dir() and is_spec_root(root):
        return root / output_folder(root)
    raise UsageError(
        f"{root} is neither an output folder (no {MANIFEST}) nor a spec repository",
        "pass the spec repository or its compiled output folder",
    )


def _verified(out: Path, manifest: Manifest, rel: str) -> bytes:
    digest = manifest.outputs.get(rel)
    if digest is None:
        raise OutputInvalid(f"{out / rel} is not listed in {out / MANIFEST}")
    try:
        data = (out / rel).read_bytes()
    except OSError:
        raise OutputInvalid(f"{out / rel} is listed in {MANIFEST} but missing") from None
    if sha256(data) != digest:
        raise OutputInvalid(
            f"{out / rel} was edited: its sha256 differs from {out / MANIFEST}; "
            "regenerate it with `modelkiln compile` instead of editing generated files"
        )
    return data


def _desired(out: Path, env: str, manifest: Manifest, entry: dict[str, Any]) -> Desired:
    rel = f"{env}/{entry['file']}"
    digest = sha256(_verified(out, manifest, rel))
    s = entry.get("schedule")
    schedule = Schedule(s["cron"], int(s["maxConcurrency"]), bool(s["noCatchup"])) if s else None
    return Desired(
        model=str(entry["model"]),
        pipeline=str(entry["pipeline"]),
        version=version_name(str(entry["modelVersion"]), digest),
        path=out / rel,
        schedule=schedule,
        parameters=dict(entry["parameters"]),
    )


def read(out: Path, env: str) -> Committed:
    """The environment's pipelines as committed; OutputInvalid when anything was edited."""
    manifest = Manifest.read(out)
    if manifest is None:
        raise OutputInvalid(f"{out / MANIFEST} is missing or unreadable: not a compiled output")
    envs = sorted({p.split("/")[0] for p in manifest.outputs if "/" in p})
    if env not in envs:
        raise UsageError(f"unknown environment {env} in {out}", "environments: " + ", ".join(envs))
    rel = f"{env}/{INDEX}"
    if rel not in manifest.outputs:
        raise OutputInvalid(f"{out / rel} is missing: compile with this modelkiln first")
    try:
        data = json.loads(_verified(out, manifest, rel))
        if data.get("schemaVersion") != SCHEMA_VERSION:
            raise OutputInvalid(
                f"{out / rel}: schemaVersion {data.get('schemaVersion')!r} is "
                f"not {SCHEMA_VERSION}; deploy with the modelkiln that compiled it"
            )
        pipelines = tuple(_desired(out, env, manifest, e) for e in data["pipelines"])
        store, host, namespace = data["store"], data.get("host"), data.get("namespace")
    except (ValueError, KeyError, TypeError) as err:
        problem = f"{out / rel} is not a pipelines index modelkiln wrote: {err}"
        raise OutputInvalid(problem) from None
    return Committed(env, store, host, namespace, manifest.source_commit, pipelines)
