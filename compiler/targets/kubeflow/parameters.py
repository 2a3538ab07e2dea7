"""The run-time parameters of a model's pipeline (kfp-free: the recurring run uses them)."""

from __future__ import annotations

import re
from typing import Any

from compiler.plan import EnvironmentPlan, ModelPlan

SOURCE_COMMIT = "source_commit"


def hp_parameter(name: str) -> str:
    """A pipeline parameter name for a hyperparameter (a Python identifier)."""
    ident = re.sub(r"\W", "_", name)
    return ident if ident[:1].isalpha() else "hp_" + ident


def pipeline_parameters(env: EnvironmentPlan, model: ModelPlan) -> list[tuple[str, Any]]:
    """(name, default) of every run-time parameter: hyperparameters, data versions, and the
    source commit recorded in the lineage (empty by default, so that artifacts do not
    change with every commit; whoever submits the run passes it)."""
    assert model.training is not None
    params: list[tuple[str, Any]] = [
        (hp_parameter(k), v) for k, v in model.training.hyperparameters
    ]
    params += [(d.parameter, d.version) for d in model.data]
    params.append((SOURCE_COMMIT, ""))
    return params
