"""Drift monitoring that can work: a log URL KServe's request logger can write to, reference
data the drift job can read, features it can measure, positional columns that name them,
and batching KServe honours (compiler/drift.py, docs/serving.md)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from compiler import drift as flow
from compiler.deployment import storage_uri
from compiler.diagnostics import Diagnostic, did_you_mean
from compiler.spec.model import ModelSpec
from compiler.validate.context import At, Specs

LOG_HINT = (
    "set spec.monitoring.inferenceLogs in modelkiln.yaml to an s3://, gs:// or abfs:// "
    "prefix, e.g. gs://<bucket>/inference-log (KServe's logger stores only there)"
)


def log_url(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK340: the logger's url, resolved per model and environment, must be a blob URL."""
    if specs.project is None:
        return
    project = specs.project
    template = project.obj.spec.monitoring.inference_logs
    per_model = any(p in template for p in ("{storageUri}", "{model}", "{environment}"))
    for view in specs.views:
        spec = view.spec
        if spec.serving is None or spec.monitoring is None or spec.monitoring.drift is None:
            continue
        uri = storage_uri(spec, project.obj.spec.registry, view.name)
        url = flow.logger_url(template, uri, view.name, view.env.name)
        problem = flow.log_url_problem(url)
        if problem is None:
            continue
        if not per_model:  # the Project's own URL is wrong: say so once, there
            yield project.at(
                ("spec", "monitoring", "inferenceLogs"),
                "MK340",
                f"inferenceLogs '{template}' cannot be the request logger's url: {problem}",
                "use an s3://<bucket>/…, gs://<bucket>/… or abfs://<container>@<account>… URL",
            )
            return
        yield view.at(
            ("monitoring", "drift"),
            "MK340",
            f"drift monitoring logs requests to '{url}' (spec.monitoring.inferenceLogs of "
            f"modelkiln.yaml, '{template}'): {problem}",
            LOG_HINT,
            key=True,
        )


def _reference_problem(specs: Specs, spec: ModelSpec, at: At) -> Iterator[Diagnostic]:
    """MK343: a reference the drift job can read; then MK341/MK342 on its columns."""
    if not spec.data:
        yield at(
            ("monitoring", "drift"),
            "MK343",
            "drift monitoring compares recent requests with the training data, but the "
            "model lists no data source",
            "add the DataSource the model was trained on under data (the first is the reference)",
            True,
        )
        return
    source = specs.datasources.get(spec.data[0].source)
    if source is None:
        return  # MK302 says so
    ref = source.obj.spec
    if ref.format not in flow.READABLE_FORMATS or not ref.uri.startswith(flow.READABLE_SCHEMES):
        yield at(
            ("data", 0, "source"),
            "MK343",
            f"the drift reference, DataSource '{source.name}' ({ref.format} at {ref.uri}), "
            "is not readable by the drift job",
            f"the job reads {', '.join(flow.READABLE_FORMATS)} from "
            f"{', '.join(flow.READABLE_SCHEMES)}; list such a snapshot first under data",
            False,
        )
        return
    if ref.columns is not None:  # without a declared schema the job finds out at run time
        types = {c.name: c.type for c in ref.columns}
        yield from _feature_problems(source.name, types, spec, at)


def _feature_problems(
    source: str, types: Mapping[str, str], spec: ModelSpec, at: At
) -> Iterator[Diagnostic]:
    """MK341: features that are no measurable column; MK342: categories with ks/wasserstein."""
    assert spec.monitoring is not None and spec.monitoring.drift is not None
    drift = spec.monitoring.drift
    for i, feature in enumerate(drift.features):
        kind = types.get(feature)
        if kind is None:
            hint = did_you_mean(feature, types) or f"the columns: {', '.join(types)}"
            yield at(
                ("monitoring", "drift", "features", i),
                "MK341",
                f"feature '{feature}' is not a column of DataSource '{source}'",
                hint,
                False,
            )
        elif kind not in flow.NUMERIC_TYPES + flow.CATEGORICAL_TYPES:
            yield at(
                ("monitoring", "drift", "features", i),
                "MK341",
                f"feature '{feature}' is a {kind} column; drift is measured on numbers "
                "(int, float) and categories (string, bool)",
                "monitor a numeric or categorical feature derived from it",
                False,
            )
        elif kind in flow.CATEGORICAL_TYPES and drift.method != "psi":
            yield at(
                ("monitoring", "drift", "method"),
                "MK342",
                f"feature '{feature}' is a {kind} column (categories), which "
                f"{drift.method} cannot measure",
                "use method: psi, which compares category frequencies",
                False,
            )


def reference(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    for _entry, spec, at in specs.model_specs():
        if spec.serving is not None and spec.monitoring and spec.monitoring.drift:
            yield from _reference_problem(specs, spec, at)


def columns(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK344: positional column names are unique and name every monitored feature."""
    for _entry, spec, at in specs.model_specs():
        drift = spec.monitoring.drift if spec.monitoring else None
        if drift is None or drift.columns is None:
            continue
        seen: set[str] = set()
        for i, name in enumerate(drift.columns):
            if name in seen:
                yield at(
                    ("monitoring", "drift", "columns", i),
                    "MK344",
                    f"column '{name}' is named twice",
                    "name each position of a request row once",
                    False,
                )
            seen.add(name)
        for i, feature in enumerate(drift.features):
            if feature not in seen:
                yield at(
                    ("monitoring", "drift", "features", i),
                    "MK344",
                    f"feature '{feature}' is not among the request columns",
                    did_you_mean(feature, seen) or "add it to monitoring.drift.columns",
                    False,
                )


def batching(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    """MK345: KServe's agent flushes on batchInterval only when batchSize > 1
    (kserve v0.20.0 cmd/agent/main.go: TimedBatch needs both)."""
    if specs.project is None:
        return
    log = specs.project.obj.spec.monitoring.request_logger
    if log.batch_interval is not None and log.batch_size == 1:
        yield specs.project.at(
            ("spec", "monitoring", "requestLogger", "batchInterval"),
            "MK345",
            "batchInterval has no effect with batchSize 1: each request is stored at once",
            "set batchSize above 1 to batch, or remove batchInterval",
        )
