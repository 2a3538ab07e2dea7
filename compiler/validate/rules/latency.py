"""latencyP99Ms against the latency histogram's buckets: the latency SLI reads the bucket
`le="<latencyP99Ms in seconds>"`, which exists only at a boundary. Elsewhere the SLI is
measured at the nearest boundary below (compiler.serving_metrics.measured_bound); that is
a warning (MK330), or an error when policies.strictLatencyBuckets asks (MK406)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from compiler.diagnostics import Diagnostic
from compiler.serving_metrics import boundary, buckets, le_text, measured_bound, seconds
from compiler.validate.context import ModelView, Specs
from compiler.validate.overrides import override_source

PATH = ("serving", "slo", "latencyP99Ms")


def latency_buckets(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    strict = bool(specs.project and specs.project.obj.spec.policies.strict_latency_buckets)
    # One diagnostic per line and outcome: a base value that misses the same buckets in
    # several environments is reported once, naming them all.
    found: dict[tuple[str, str, float, tuple[float, ...]], list[ModelView]] = {}
    for view in specs.views:
        serving = view.spec.serving
        if serving is None or serving.slo is None:
            continue  # a language model's objectives are token latencies (compiler/llm)
        bounds = buckets(view.env)
        if boundary(serving.slo.latency_p99_ms, bounds)[0]:
            continue
        overridden = view.env.name if override_source(view.override, PATH) else ""
        key = (view.name, overridden, serving.slo.latency_p99_ms, bounds)
        found.setdefault(key, []).append(view)
    for (_, overridden, ms, bounds), views in found.items():
        names = ", ".join(f"'{v.env.name}'" for v in views)
        where = "" if overridden else f" in environment{'s' if len(views) > 1 else ''} {names}"
        message, hint = _explain(ms, bounds, where)
        if strict:
            message += " (policies.strictLatencyBuckets)"
        code = "MK406" if strict else "MK330"
        view = views[0]
        # A value from the base spec is reported at the base, naming the environments whose
        # buckets it misses: the environment's buckets, not an override, make it a problem.
        if overridden:
            d = view.at(PATH, code, message, hint)
        else:
            d = view.entry.doc.at(("spec", *PATH), code, message, hint)
        yield d if strict else replace(d, severity="warning")


def _ms(bound: Decimal) -> str:
    return le_text(bound * 1000)


def _explain(ms: float, bounds: tuple[float, ...], where: str) -> tuple[str, str]:
    _, below, above = boundary(ms, bounds)
    used = measured_bound(ms, bounds)
    near = " and ".join(f"{le_text(b)} s" for b in (below, above) if b is not None)
    how = "stricter" if below is not None else "more lenient"
    message = (
        f"latencyP99Ms {le_text(Decimal(repr(float(ms))))} is not a bucket boundary of the"
        f" latency histogram{where} (nearest: {near}): the latency SLO is measured at"
        f" {_ms(used)} ms, {how} than the objective"
    )
    choices = " or ".join(_ms(b) for b in (below, above) if b is not None)
    hint = (
        f"use {choices}; or, if the histogram has a bucket at {le_text(seconds(ms))} s, list"
        " its buckets in the environment's serving.metrics.latencyBuckets"
    )
    return message, hint
