"""The language as pydantic models, one module per kind."""

from __future__ import annotations

from pydantic import BaseModel

from compiler.spec.base import API_VERSION
from compiler.spec.datasource import DataSource
from compiler.spec.gpupool import GpuPool
from compiler.spec.model import Model
from compiler.spec.project import Project

KINDS: dict[str, type[BaseModel]] = {
    "Project": Project,
    "DataSource": DataSource,
    "GpuPool": GpuPool,
    "Model": Model,
}

__all__ = ["API_VERSION", "KINDS", "DataSource", "GpuPool", "Model", "Project"]
