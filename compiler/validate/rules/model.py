"""Rules inside one Model spec; they run on the base spec and on every overridden one."""

from __future__ import annotations

import re
from collections.abc import Iterator

from compiler.diagnostics import Diagnostic, quote, shorten
from compiler.spec.model import ModelSpec
from compiler.validate.context import At

# Names that say "this is a credential", and values that look like one.
_SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"^(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}"
    r"|sk-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|hf_[A-Za-z0-9]{20,}"
    r"|AIza[0-9A-Za-z_-]{35}|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)


def workload(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    if spec.training is None and spec.serving is None:
        yield at(
            ("version",),
            "MK214",
            "a Model needs training, serving, or both",
            "add a training section to train it, or serving with a storageUri to serve a "
            "pre-trained artifact",
            True,
        )


def serving_storage(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    serving = spec.serving
    if serving is None or spec.training is not None or serving.llm is not None:
        return  # a language model's artifact is llm.source
    if serving.storage_uri is None:
        yield at(
            ("serving",),
            "MK215",
            "serving without training needs serving.storageUri (the pre-trained artifact)",
            "add storageUri: gs://… / s3://… / hf://…",
            True,
        )


def distributed(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    t = spec.training
    if t is not None and t.resources.nodes > 1 and t.distributed is None:
        yield at(
            ("training", "resources", "nodes"),
            "MK216",
            f"nodes: {t.resources.nodes} needs training.distributed",
            "add distributed: {strategy: ddp} (or fsdp, deepspeed)",
            False,
        )


def canary(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    if spec.serving is None:
        return
    rollout = spec.serving.rollout
    pct = rollout.canary_percent
    path = ("serving", "rollout", "canaryPercent")
    if pct is not None and not 1 <= pct <= 99:
        yield at(path, "MK217", f"canaryPercent {pct} is outside 1..99", None, False)
    if pct is not None and rollout.strategy == "direct":
        yield at(
            path,
            "MK217",
            "canaryPercent is set but the rollout strategy is direct",
            "set strategy: canary, or remove canaryPercent",
            True,
            patch=None,
        )


def replicas(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    scaling = spec.serving.autoscaling if spec.serving else None
    if scaling is not None and scaling.min_replicas > scaling.max_replicas:
        yield at(
            ("serving", "autoscaling", "minReplicas"),
            "MK213",
            f"minReplicas {scaling.min_replicas} is greater than maxReplicas "
            f"{scaling.max_replicas}",
            None,
            False,
            patch=scaling.max_replicas,
        )


def gates(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    if spec.evaluation is None:
        return
    for i, gate in enumerate(spec.evaluation.gates):
        if gate.min is None and gate.max is None:
            yield at(
                ("evaluation", "gates", i),
                "MK202",
                f"gate on {quote(gate.metric)} needs min, max or both",
                None,
                False,
            )
        elif gate.min is not None and gate.max is not None and gate.min > gate.max:
            yield at(
                ("evaluation", "gates", i, "min"),
                "MK213",
                f"gate on {quote(gate.metric)}: min {gate.min} is greater than max {gate.max}",
                None,
                False,
            )


def plaintext_secrets(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    if spec.training is None:
        return
    for name, value in spec.training.env.items():
        if _SECRET_NAME.search(name) or _SECRET_VALUE.match(value):
            shown = shorten(name)
            yield at(
                ("training", "env", name),
                "MK218",
                f"env {shown} looks like a credential written as a plain value",
                f"store it in a Kubernetes Secret and reference it: secrets: "
                f"[{{name: <secret>, key: <key>, env: {shown}}}]",
                False,
            )


def pool_less_gpus(spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    for section in ("training", "serving"):
        part = getattr(spec, section)
        if part is not None and part.resources.pool is None and (part.resources.gpus or 0) > 0:
            yield at(
                (section, "resources", "gpus"),
                "MK309",
                f"{section} asks for {part.resources.gpus} GPU(s) but names no GpuPool",
                "set resources.pool to a GpuPool, or remove gpus to run on CPU nodes",
                False,
                patch=None,
            )
