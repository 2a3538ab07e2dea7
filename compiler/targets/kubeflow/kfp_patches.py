"""The kfp internals modelkiln replaces for speed: checked at import, applied only while a
pipeline is rendered.

A replacement stands in for a private kfp attribute, so a kfp release that renames it or
changes its signature must not meet a stale replacement, nor silently keep its slow
original: importing this module checks every attribute it replaces and raises
KfpIncompatibleError (exit 3) naming the installed kfp version and the attribute.
`applied()` puts the replacements in place for one rendering and restores the originals
afterwards, also when rendering raises, so kfp behaves as shipped outside of a render.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import kfp
from kfp.dsl.pipeline_task import PipelineTask

from compiler.errors import HostError


class KfpIncompatibleError(HostError):
    """The installed kfp does not have an internal that modelkiln replaces, as expected."""


@dataclass(frozen=True)
class Patch:
    """A replacement for `owner.name`, a function whose parameters are `shape`."""

    owner: type
    name: str
    shape: str  # the parameter list without annotations, e.g. "(self)"
    replacement: Callable[..., Any]
    original: Callable[..., Any]


def _shape(function: Callable[..., Any]) -> str:
    """A signature's parameter names and kinds, without annotations or defaults' types."""
    signature = inspect.signature(function)
    bare = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


def _supported_kfp() -> str:
    """The kfp versions modelkiln's metadata asks for, for the error message."""
    try:
        requirements = metadata.requires("modelkiln") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        match = re.match(r"kfp\s*([<>=!~][^;]*)", requirement)
        if match:
            return f"kfp{match.group(1).strip()}"
    return "the kfp version in modelkiln's pyproject.toml"


def _incompatible(problem: str) -> KfpIncompatibleError:
    return KfpIncompatibleError(
        f"kfp {kfp.__version__} is not supported: {problem} (modelkiln replaces it)",
        f"install {_supported_kfp()}",
    )


def checked(owner: type, name: str, shape: str, replacement: Callable[..., Any]) -> Patch:
    """A Patch of `owner.name`, after checking that kfp defines it with parameters `shape`.

    Raises KfpIncompatibleError when it does not (the replacement is not applied blindly).
    """
    where = f"{owner.__module__}.{owner.__qualname__}.{name}"
    found = owner.__dict__.get(name)  # defined by the class itself, not inherited
    if not callable(found):
        raise _incompatible(f"{where} does not exist")
    if _shape(found) != shape:
        raise _incompatible(f"{where} has the signature {_shape(found)}, not {shape}")
    if _shape(replacement) != shape:  # a mistake in modelkiln itself
        raise AssertionError(f"the replacement of {where} is not {shape}")
    return Patch(owner, name, shape, replacement, found)


def _ensure_container_spec_exists(self: PipelineTask) -> None:
    # kfp's own version calls inspect.stack() on every task setter (set_env_variable,
    # set_cpu_request, ...) only to name the caller in an error message; reading the source
    # of every frame made it a third of compile time. Same check, same message, cheap frame.
    if self.container_spec is None:
        caller = sys._getframe(1).f_code.co_name
        raise ValueError(
            f"{caller} can only be used on single-step components, not pipelines used as "
            "components, or special components like importers."
        )


PATCHES = (
    checked(PipelineTask, "_ensure_container_spec_exists", "(self)", _ensure_container_spec_exists),
)


@contextmanager
def applied(patches: tuple[Patch, ...] = PATCHES) -> Iterator[None]:
    """The replacements in place for the duration of the block; what was there before is
    put back on the way out, exceptions included (nesting works: each level restores what
    it found). Not thread-safe: rendering runs one pipeline at a time per process."""
    previous = [(patch, patch.owner.__dict__[patch.name]) for patch in patches]
    try:
        for patch in patches:
            setattr(patch.owner, patch.name, patch.replacement)
        yield
    finally:
        for patch, value in reversed(previous):
            setattr(patch.owner, patch.name, value)
