"""The JSON report of `modelkiln diff`: a stable document with sorted keys."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from compiler.diagnostics import Diagnostic, format_json
from compiler.gitops.compare import EnvDelta, Report


def _money(value: float) -> float:
    return round(value, 2)


def validation(diagnostics: Sequence[Diagnostic]) -> Any:
    """The document `modelkiln validate --format json` prints for these diagnostics."""
    return json.loads(format_json(diagnostics))  # one definition of that shape


def _environment(delta: EnvDelta) -> dict[str, Any]:
    return {
        "status": delta.state,
        "gpus": {
            "base": list(delta.base_gpus),
            "head": list(delta.head_gpus),
            "delta": list(delta.gpu_delta),
        },
        "monthly_cost_usd": {
            "base": [_money(v) for v in delta.base_cost],
            "head": [_money(v) for v in delta.head_cost],
            "delta": [_money(v) for v in delta.cost_delta],
        },
        "models": {"added": delta.added, "removed": delta.removed, "changed": delta.changed},
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def format_json_report(report: Report) -> str:
    changed = {
        model: {
            env: {name: [old, new] for name, (old, new) in fields.items()}
            for env, fields in per_env.items()
        }
        for model, per_env in report.changed.items()
    }
    document: dict[str, Any] = {
        "base": report.base,
        "base_commit": report.commit,
        "base_note": report.note,
        "environments": {d.name: _environment(d) for d in report.environments},
        "models": {"added": report.added, "removed": report.removed, "changed": changed},
        "errors": [e.as_dict() for e in report.errors],
        "artifacts": {
            "changed": report.artifacts_changed,
            "added": report.artifacts_added,
            "removed": report.artifacts_removed,
        },
    }
    if report.llm:
        document["llm"] = {
            model: {
                env: {
                    "base": base.as_dict() if base else None,
                    "head": head.as_dict() if head else None,
                }
                for env, (base, head) in per_env.items()
            }
            for model, per_env in report.llm.items()
        }
    if report.base_diagnostics:
        document["base_validation"] = validation(report.base_diagnostics)
    return _dump(document)


def format_invalid_head_json(base: str, commit: str, diagnostics: Sequence[Diagnostic]) -> str:
    """When the head specs do not validate: which base, and the head's diagnostics."""
    return _dump({"base": base, "base_commit": commit, "head_validation": validation(diagnostics)})
