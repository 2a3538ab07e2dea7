"""Latency objectives against their histograms' buckets. A bucket-ratio SLI reads the
bucket `le="<objective in seconds>"`, which exists only at a boundary; elsewhere it is
measured at the nearest boundary below (compiler.serving_metrics.measured_bound). That is a
warning, or an error when policies.strictLatencyBuckets asks (MK406):

* latencyP99Ms against the latency histogram (MK330);
* a language model's ttftP95Ms and tpotP95Ms against vLLM's time-to-first-token and
  time-per-output-token histograms (MK390; compiler/llm/metrics.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

from compiler.diagnostics import Diagnostic
from compiler.llm.metrics import tpot_buckets, ttft_buckets
from compiler.serving_metrics import boundary, buckets, le_text, measured_bound, seconds
from compiler.spec.project import Environment
from compiler.validate.context import ModelView, Specs
from compiler.validate.overrides import override_source


@dataclass(frozen=True)
class Objective:
    path: tuple[str, ...]  # inside spec
    code: str  # the warning's
    histogram: str  # for people
    listed: str  # where other buckets are declared
    value: Callable[[ModelView], float | None]
    bounds: Callable[[Environment], tuple[float, ...]]

    @property
    def field(self) -> str:
        return self.path[-1]


def _latency(view: ModelView) -> float | None:
    s = view.spec.serving
    return s.slo.latency_p99_ms if s is not None and s.slo is not None else None


def _ttft(view: ModelView) -> float | None:
    s = view.spec.serving
    return s.llm.slo.ttft_p95_ms if s is not None and s.llm is not None else None


def _tpot(view: ModelView) -> float | None:
    s = view.spec.serving
    return s.llm.slo.tpot_p95_ms if s is not None and s.llm is not None else None


LLM_LISTED = "the environment's serving.llm.metrics"
OBJECTIVES = (
    Objective(
        ("serving", "slo", "latencyP99Ms"),
        "MK330",
        "latency histogram",
        "the environment's serving.metrics.latencyBuckets",
        _latency,
        buckets,
    ),
    Objective(
        ("serving", "llm", "slo", "ttftP95Ms"),
        "MK390",
        "time-to-first-token histogram",
        f"{LLM_LISTED}.ttftBuckets",
        _ttft,
        ttft_buckets,
    ),
    Objective(
        ("serving", "llm", "slo", "tpotP95Ms"),
        "MK390",
        "time-per-output-token histogram",
        f"{LLM_LISTED}.tpotBuckets",
        _tpot,
        tpot_buckets,
    ),
)


def latency_buckets(specs: Specs, broken: dict[str, set[str]]) -> Iterator[Diagnostic]:
    strict = bool(specs.project and specs.project.obj.spec.policies.strict_latency_buckets)
    for objective in OBJECTIVES:
        for (_, overridden, ms, bounds), views in _missed(specs, objective).items():
            names = ", ".join(f"'{v.env.name}'" for v in views)
            where = "" if overridden else f" in environment{'s' * (len(views) > 1)} {names}"
            message, hint = _explain(objective, ms, bounds, where)
            if strict:
                message += " (policies.strictLatencyBuckets)"
            code = "MK406" if strict else objective.code
            view = views[0]
            # A value from the base spec is reported at the base, naming the environments
            # whose buckets it misses: their buckets, not an override, make it a problem.
            if overridden:
                d = view.at(objective.path, code, message, hint)
            else:
                d = view.entry.doc.at(("spec", *objective.path), code, message, hint)
            yield d if strict else replace(d, severity="warning")


def _missed(
    specs: Specs, objective: Objective
) -> dict[tuple[str, str, float, tuple[float, ...]], list[ModelView]]:
    """The views whose objective is not a boundary, by (model, overriding environment or
    "", value, buckets): a base value that misses the same buckets in several
    environments is reported once, naming them all."""
    found: dict[tuple[str, str, float, tuple[float, ...]], list[ModelView]] = {}
    for view in specs.views:
        ms = objective.value(view)
        if ms is None:
            continue
        bounds = objective.bounds(view.env)
        if boundary(ms, bounds)[0]:
            continue
        overridden = view.env.name if override_source(view.override, objective.path) else ""
        found.setdefault((view.name, overridden, ms, bounds), []).append(view)
    return found


def _ms(bound: Decimal) -> str:
    return le_text(bound * 1000)


def _explain(
    objective: Objective, ms: float, bounds: tuple[float, ...], where: str
) -> tuple[str, str]:
    _, below, above = boundary(ms, bounds)
    used = measured_bound(ms, bounds)
    near = " and ".join(f"{le_text(b)} s" for b in (below, above) if b is not None)
    how = "stricter" if below is not None else "more lenient"
    message = (
        f"{objective.field} {le_text(Decimal(repr(float(ms))))} is not a bucket boundary of"
        f" the {objective.histogram}{where} (nearest: {near}): the SLO is measured at"
        f" {_ms(used)} ms, {how} than the objective"
    )
    choices = " or ".join(_ms(b) for b in (below, above) if b is not None)
    hint = (
        f"use {choices}; or, if the histogram has a bucket at {le_text(seconds(ms))} s, list"
        f" its buckets in {objective.listed}"
    )
    return message, hint
