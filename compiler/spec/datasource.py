"""kind: DataSource: a versioned data set and its contract."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from compiler.spec.base import Metadata, Strict
from compiler.spec.types import DataUri, Duration, Line

ColumnType = Literal["string", "int", "float", "bool", "timestamp", "date", "binary"]


def _ordered(bounds: list[float]) -> list[float]:
    if bounds[0] > bounds[1]:
        raise PydanticCustomError(
            "MK213", "range [{low}, {high}] runs backwards", {"low": bounds[0], "high": bounds[1]}
        )
    return bounds


Range = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_ordered)]


class Column(Strict):
    name: Line = Field(min_length=1)
    type: ColumnType
    nullable: bool = True


class Quality(Strict):
    min_rows: int | None = Field(default=None, ge=0)
    max_null_fraction: dict[str, float] = Field(default_factory=dict)
    ranges: dict[str, Range] = Field(
        default_factory=dict, description="column: [min, max], inclusive"
    )
    freshness: Duration | None = Field(
        default=None, description="Newest data must be at most this old."
    )


class DataSourceSpec(Strict):
    uri: DataUri
    format: Literal["parquet", "csv", "jsonl", "tfrecord", "delta", "bigquery"]
    version: Line = Field(
        min_length=1,
        description='Pinned snapshot, tag or commit; "latest" is refused where '
        "policies.requirePinnedData says so.",
    )
    columns: list[Column] | None = Field(default=None, alias="schema")
    quality: Quality | None = None


class DataSource(Strict):
    api_version: Literal["modelkiln.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["DataSource"]
    metadata: Metadata
    spec: DataSourceSpec
