"""What every kind shares: strict models with camelCase aliases, and the envelope."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from compiler.spec.types import LabelKey, Line, Name

API_VERSION = "modelkiln.dev/v1alpha1"


class Strict(BaseModel):
    """Unknown fields are errors; no coercion between types; camelCase in YAML; no NaN or
    infinity where a number goes (nothing downstream can write them faithfully)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        allow_inf_nan=False,
    )


def fields_problem(missing: list[str], foreign: list[str]) -> str | None:
    """What a set of fields that depends on a type (a cloud provider, a state backend) lacks
    or has too much, as "needs 'a'; does not use 'b' or 'c'"; None when nothing."""
    parts = []
    if missing:
        parts.append("needs " + " and ".join(f"'{f}'" for f in missing))
    if foreign:
        parts.append("does not use " + " or ".join(f"'{f}'" for f in foreign))
    return "; ".join(parts) or None


class Metadata(Strict):
    name: Name = Field(description="DNS-1123 label, unique per kind.")
    owner: Line | None = Field(default=None, description="Team or person that owns this.")
    labels: dict[LabelKey, Line] = Field(default_factory=dict)
    description: str | None = Field(default=None, description="Free text for people.")
