"""The versions a Model had in one environment, read from its spec file's git history
(for `modelkiln rollback --to VERSION`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from compiler.gitops.git import git, git_or_none
from compiler.validate.overrides import merge_patch


@dataclass(frozen=True)
class Committed:
    version: str
    storage_uri: str | None  # the explicit serving.storageUri it had then, if any
    commit: str


def committed_versions(work: Path, rel: str, model: str, env: str) -> list[Committed]:
    """Every version of model in env (its spec with env's override merged) in the commits
    that touched the file rel (a path in the work tree; renames followed), newest first."""
    log = git(work, "log", "--follow", "--format=%x00%H", "--name-only", "--", rel)
    found: list[Committed] = []
    seen: set[str] = set()
    for chunk in log.split("\0")[1:]:
        lines = [line for line in chunk.splitlines() if line.strip()]
        if len(lines) < 2:
            continue
        commit, path = lines[0], lines[-1]
        text = git_or_none(work, "show", f"{commit}:{path}")
        spec = _effective(text, model, env) if text is not None else None
        version = spec.get("version") if spec else None
        if spec is None or not isinstance(version, str) or version in seen:
            continue
        seen.add(version)
        serving = spec.get("serving")
        uri = serving.get("storageUri") if isinstance(serving, dict) else None
        found.append(Committed(version, uri if isinstance(uri, str) else None, commit))
    return found


def _effective(text: str, model: str, env: str) -> dict[str, Any] | None:
    try:
        documents = list(YAML(typ="safe", pure=True).load_all(text))
    except Exception:  # a commit with a broken file has no version to return to
        return None
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "Model":
            continue
        metadata, spec = doc.get("metadata"), doc.get("spec")
        if not (isinstance(metadata, dict) and metadata.get("name") == model):
            continue
        if not isinstance(spec, dict):
            return None
        overrides = spec.get("environments")
        override = overrides.get(env) if isinstance(overrides, dict) else None
        base = {k: v for k, v in spec.items() if k != "environments"}
        return merge_patch(base, override) if isinstance(override, dict) else base
    return None
