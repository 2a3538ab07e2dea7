"""The output tree: the one place that writes rendered files.

A compile renders everything into a staging folder beside the output folder first; only
when rendering has finished is the output folder changed, file by file with atomic
renames, and `manifest.json` is written last. So a compile that fails leaves the previous
output as it was. Files that an earlier compile wrote and this one does not are pruned,
but only files listed in the previous `manifest.json`: a file a person put in the output
folder is never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from compiler import __version__
from compiler.errors import HostError, describe_os_error
from compiler.fsutil import write_atomic
from compiler.plan import Plan

MANIFEST = "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_relative(path: str) -> PurePosixPath:
    """A rendered path must stay inside the output folder."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.name == MANIFEST:
        raise ValueError(f"refusing to write outside the output folder: {path}")
    return rel


def write_files(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    """Write files under a fresh folder (staging); returns their sha256 by path."""
    made: set[Path] = set()
    hashes = {}
    for rel, data in sorted(files.items()):
        target = root / safe_relative(rel)
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(data)
        hashes[rel] = sha256(data)
    return hashes


@dataclass
class Manifest:
    compiler: str
    source_commit: str | None
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        data = {
            "compiler": self.compiler,
            "sourceCommit": self.source_commit,
            "inputs": dict(sorted(self.inputs.items())),
            "outputs": dict(sorted(self.outputs.items())),
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def read(cls, out: Path) -> Manifest | None:
        try:
            data: dict[str, Any] = json.loads((out / MANIFEST).read_text("utf-8"))
            return cls(
                compiler=str(data.get("compiler", "")),
                source_commit=data.get("sourceCommit"),
                inputs=dict(data.get("inputs", {})),
                outputs=dict(data.get("outputs", {})),
            )
        except (OSError, ValueError, AttributeError):
            return None


def compiler_id() -> str:
    return f"modelkiln {__version__}"


def _first_non_folder(path: Path) -> Path | None:
    """The first existing ancestor-or-self of path that is not a folder (it blocks mkdir)."""
    for candidate in (*reversed(path.parents), path):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A scratch folder on the output folder's file system, removed afterwards.

    Problems of the machine (the output folder is a file, a read-only checkout) become one
    HostError line naming the path, before anything is rendered."""
    blocker = _first_non_folder(out)
    if blocker is not None:
        raise HostError(
            f"cannot write the output folder {out}: {blocker} is a file, not a folder",
            "move that file away, or choose another folder with --out or the Project's output",
        )
    try:  # out itself is made only when there is something to put in it
        out.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise HostError(f"cannot write the output folder {out}: {reason}") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _file_hash(path: Path) -> str | None:
    try:
        return sha256(path.read_bytes())
    except OSError:
        return None


@dataclass
class Changes:
    written: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    unchanged: int = 0


def model_of(path: str) -> tuple[str, str] | None:
    """(environment, Model) of an output path that belongs to one Model (the back ends
    write a Model's files under <env>/models/<name>/); None for an environment's own files."""
    parts = path.split("/", 3)
    if len(parts) > 3 and parts[1] == "models":
        return parts[0], parts[2]
    return None


def carried_over(
    previous: Manifest | None, plan: Plan, only_models: set[str] | None = None
) -> dict[str, str]:
    """Outputs of the previous manifest that this compile keeps without rendering them:
    every file of an environment left out with --env, and with only_models (a compile
    --changed-since), the files of the other Models that still exist."""
    if previous is None:
        return {}
    compiled = {e.name: {m.name for m in e.models} for e in plan.environments}
    keep = {}
    for path, digest in previous.outputs.items():
        env, owner = path.split("/", 1)[0], model_of(path)
        # an unchanged Model's files stay; a Model that is gone takes its files with it
        unchanged = (
            only_models is not None
            and owner is not None
            and owner[1] not in only_models
            and owner[1] in compiled.get(env, ())
        )
        if env not in compiled or unchanged:
            keep[path] = digest
    return keep


def apply(
    out: Path,
    staged: Path,
    outputs: dict[str, str],
    manifest: Manifest,
    keep: dict[str, str] | None = None,
    previous: Manifest | None = None,
) -> Changes:
    """Make out hold exactly the staged files (plus what people put there themselves).
    keep: earlier outputs that stay listed in the manifest but are not rewritten;
    previous: the output folder's manifest.json before this compile."""
    try:
        return _apply(out, staged, outputs, manifest, keep or {}, previous)
    except OSError as err:
        raise HostError(describe_os_error(err, f"update the output folder {out}")) from None


def _apply(
    out: Path,
    staged: Path,
    outputs: dict[str, str],
    manifest: Manifest,
    keep: dict[str, str],
    previous: Manifest | None,
) -> Changes:
    changes = Changes()
    for rel, digest in sorted(outputs.items()):
        target = out / safe_relative(rel)
        if _file_hash(target) == digest:
            changes.unchanged += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged / rel, target)
        changes.written.append(rel)
    if previous is not None:
        for rel in sorted(set(previous.outputs) - set(outputs) - set(keep)):
            target = out / safe_relative(rel)
            if target.is_file():
                target.unlink()
                changes.pruned.append(rel)
                _remove_empty_parents(target.parent, out)
    manifest.outputs = {**keep, **outputs}
    data = manifest.to_bytes()
    if _file_hash(out / MANIFEST) != sha256(data):
        write_atomic(out / MANIFEST, data)
    return changes


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def stale(
    out: Path,
    outputs: dict[str, str],
    manifest: Manifest,
    keep: dict[str, str] | None = None,
    previous: Manifest | None = None,
) -> list[str]:
    """What differs between out and what the specs compile to now (for --check)."""
    keep = keep or {}
    found = []
    for rel, digest in sorted(outputs.items()):
        actual = _file_hash(out / rel)
        if actual is None:
            found.append(f"missing  {rel}")
        elif actual != digest:
            found.append(f"changed  {rel}")
    if previous is not None:
        for rel in sorted(set(previous.outputs) - set(outputs) - set(keep)):
            if (out / rel).is_file():
                found.append(f"obsolete {rel}")
    manifest.outputs = {**keep, **outputs}
    current = (out / MANIFEST).read_bytes() if (out / MANIFEST).is_file() else None
    if current is None:
        found.append(f"missing  {MANIFEST}")
    elif _manifest_without_commit(current) != _manifest_without_commit(manifest.to_bytes()):
        found.append(f"changed  {MANIFEST}")
    return found


def _manifest_without_commit(data: bytes) -> Any:
    # The recorded commit moves with every commit; it is provenance, not content.
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        parsed.pop("sourceCommit", None)
    return parsed
