"""Validation semantics beyond single mistakes: overrides, de-duplication, policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from compiler.diagnostics import Diagnostic
from compiler.load import load
from compiler.validate import validate
from compiler.validate.overrides import merge_patch
from tests.conftest import EXAMPLES


def _run(root: Path) -> list[Diagnostic]:
    return validate(load(root)).diagnostics


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_merge_is_a_json_merge_patch() -> None:
    """RFC 7386: mappings merge, null removes the key, lists and scalars replace."""
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": "x"}
    patch = {"a": {"c": [3], "b": None}, "d": None, "f": None}
    assert merge_patch(base, patch) == {"a": {"c": [3]}, "e": "x"}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": "x"}  # not mutated
    assert patch == {"a": {"c": [3], "b": None}, "d": None, "f": None}
    # a mapping over a scalar replaces it, with the mapping's own nulls dropped
    assert merge_patch({"a": 1}, {"a": {"b": None, "c": 2}}) == {"a": {"c": 2}}
    assert merge_patch({"a": [1]}, {"a": "x"}) == {"a": "x"}


# The RFC's own examples (RFC 7386, appendix A): (target, patch, result)
RFC_7386_EXAMPLES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7386_EXAMPLES)
def test_merge_patch_rfc_examples(
    target: dict[str, Any], patch: dict[str, Any], result: dict[str, Any]
) -> None:
    assert merge_patch(target, patch) == result


def test_null_in_override_restores_the_default(quickstart: Path) -> None:
    """`null` removes the key, so the field takes its default (not a null it refuses):
    retries has default 0 and is not nullable; with null as a value it would be MK203."""
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(
        model.read_text() + "  environments:\n    prod:\n      training: {retries: null}\n"
    )
    result = validate(load(quickstart))
    assert result.diagnostics == []
    (view,) = result.specs.views
    assert view.spec.training is not None and view.spec.training.retries == 0


def test_override_problem_points_into_override(quickstart: Path) -> None:
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(
        model.read_text()
        + "  environments:\n    prod:\n      serving:\n        slo: {availability: 100}\n"
    )
    (diag,) = _run(quickstart)
    assert diag.code == "MK210"
    assert diag.line == _line_of(model, "availability: 100")
    assert "environment 'prod'" in diag.message


def test_base_problem_reported_once_across_environments(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "mc"
    shutil.copytree(EXAMPLES / "multi-cloud", repo)
    model = repo / "models" / "churn.yaml"
    model.write_text(model.read_text().replace("memory: 64Gi", "memory: 64GB"))
    diags = _run(repo)
    assert [(d.code, d.line) for d in diags] == [("MK206", _line_of(model, "64GB"))]


def test_override_for_unknown_environment(quickstart: Path) -> None:
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(model.read_text() + "  environments:\n    prd:\n      data: []\n")
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK304", _line_of(model, "prd:"))
    assert diag.hint == "did you mean 'prod'?"


def test_pool_missing_from_environment_named(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "mc"
    shutil.copytree(EXAMPLES / "multi-cloud", repo)
    model = repo / "models" / "ticket-router.yaml"
    text = model.read_text()
    model.write_text(text[: text.index("  environments:")])  # drop the prod-eu override
    diags = _run(repo)
    assert [d.code for d in diags] == ["MK308"]
    assert "prod-eu" in diags[0].message and diags[0].line == _line_of(model, "pool: l4-serve")


def test_monthly_cost_policy(quickstart: Path) -> None:
    project = quickstart / "modelkiln.yaml"
    project.write_text(
        project.read_text().replace("maxMonthlyCostUsd: 25000", "maxMonthlyCostUsd: 100")
    )
    (diag,) = _run(quickstart)
    assert diag.code == "MK404" and diag.file == "modelkiln.yaml"
    assert "a100-train" in diag.message and "prod" in diag.message


def test_schema_errors_in_one_document_do_not_hide_others(quickstart: Path) -> None:
    pools = quickstart / "pools" / "gpu-pools.yaml"
    pools.write_text(pools.read_text().replace("gpusPerNode: 1", "gpuPerNode: 1"))
    data = quickstart / "data" / "transactions.yaml"
    data.write_text(data.read_text().replace("freshness: 24h", "freshness: 1 day"))
    codes = sorted(d.code for d in _run(quickstart))
    # the misspelt field is reported with a hint, the missing one it stands for is not
    assert codes == ["MK201", "MK207"]


# --- an override's problem at a value of the base spec -----------------------------------


def test_override_hint_names_the_base_value_and_the_merge_patch_fix(tmp_path: Path) -> None:
    import shutil

    repo = tmp_path / "case"
    shutil.copytree(EXAMPLES / "broken" / "override-direct-keeps-base-canary-percent", repo)
    model = repo / "models" / "churn.yaml"
    (diag,) = _run(repo)
    assert (diag.code, diag.line) == ("MK217", _line_of(model, "strategy: direct"))
    assert diag.message.startswith("in environment 'prod': ")
    base_line = _line_of(model, "canaryPercent: 5")
    assert diag.hint == (
        f"canaryPercent: 5 comes from the base spec (line {base_line}); "
        "add `canaryPercent: null` to this override under serving.rollout"
    )
    # the fix, applied as the hint says, removes the key in the merge: valid, and prod
    # rolls out directly with no canary percentage while the base keeps its canary
    text = model.read_text().replace(
        "strategy: direct  # expect: MK217", "strategy: direct\n          canaryPercent: null"
    )
    model.write_text(text)
    result = validate(load(repo))
    assert result.diagnostics == []
    (view,) = result.specs.views
    assert view.spec.serving is not None
    assert (view.spec.serving.rollout.strategy, view.spec.serving.rollout.canary_percent) == (
        "direct",
        None,
    )
    base = result.specs.models["churn"].obj.spec.serving
    assert base is not None and base.rollout.canary_percent == 5


def _add_pool(repo: Path, name: str, gpus_per_node: int) -> None:
    project = repo / "modelkiln.yaml"  # room in the budget for one more pool
    project.write_text(
        project.read_text().replace("maxMonthlyCostUsd: 25000", "maxMonthlyCostUsd: 99000")
    )
    (repo / "pools" / f"{name}.yaml").write_text(
        "apiVersion: modelkiln.dev/v1alpha1\nkind: GpuPool\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{accelerator: nvidia-a100-80gb, gpusPerNode: {gpus_per_node}, maxNodes: 1}}\n"
    )


def test_cross_document_rule_reports_an_override_problem_at_the_override(
    quickstart: Path,
) -> None:
    """MK305 (a rule across documents): the override moves training to a smaller pool; the
    gpus that no longer fit come from the base spec."""
    _add_pool(quickstart, "a100-small", 2)
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(
        model.read_text()
        + "  environments:\n    prod:\n      training:\n        resources: {pool: a100-small}\n"
    )
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK305", _line_of(model, "resources: {pool: a100-small}"))
    assert diag.message.startswith("in environment 'prod': training asks for 4 GPUs")
    assert diag.hint == (
        f"gpus: 4 comes from the base spec (line {_line_of(model, 'gpus: 4')}); "
        "add `gpus: 2` to this override under training.resources"
    )


def test_environment_rule_reports_an_override_problem_at_the_override(
    quickstart: Path,
) -> None:
    """MK312 (a rule over each environment's view): the override raises the load; the
    maxReplicas that cannot carry it comes from the base spec."""
    model = quickstart / "models" / "fraud-detector.yaml"
    text = model.read_text().replace(
        "    capacityRps: 60\n",
        "    capacityRps: 60\n    autoscaling: {minReplicas: 2, maxReplicas: 8}\n",
    )
    model.write_text(
        text + "  environments:\n    prod:\n      serving:\n        slo: {throughputRps: 900}\n"
    )
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK312", _line_of(model, "slo: {throughputRps: 900}"))
    assert diag.message.startswith("in environment 'prod': maxReplicas 8 × capacityRps 60")
    assert diag.hint == (
        f"maxReplicas: 8 comes from the base spec (line {_line_of(model, 'maxReplicas: 8')}); "
        "add `maxReplicas: 15` to this override under serving.autoscaling"
    )
    # the same problem in the base spec is the base's: reported once, there
    model.write_text(
        text.replace("throughputRps: 400", "throughputRps: 900") + "  environments:\n"
        "    prod:\n      serving:\n        slo: {throughputRps: 900}\n"
    )
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK312", _line_of(model, "maxReplicas: 8"))
    assert "environment" not in diag.message


def test_null_pool_in_override_with_base_gpus(quickstart: Path) -> None:
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(
        model.read_text()
        + "  environments:\n    prod:\n      training:\n        resources: {pool: null}\n"
    )
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK309", _line_of(model, "resources: {pool: null}"))
    assert diag.hint is not None and diag.hint.endswith(
        "add `gpus: null` to this override under training.resources"
    )


def test_problem_of_the_base_spec_is_not_blamed_on_an_override(quickstart: Path) -> None:
    """Both the base and the override have the problem: reported once, at the base."""
    _add_pool(quickstart, "a100-small", 2)
    model = quickstart / "models" / "fraud-detector.yaml"
    text = model.read_text().replace("pool: a100-train, gpus: 4", "pool: a100-small, gpus: 4")
    model.write_text(text + "  environments:\n    prod:\n      training: {retries: 3}\n")
    (diag,) = _run(quickstart)
    assert (diag.code, diag.line) == ("MK305", _line_of(model, "pool: a100-small"))
    assert "environment" not in diag.message
    assert diag.hint == "at most 2; use nodes > 1 with distributed to train on more"


# --- messages that list names --------------------------------------------------------------


def test_pool_capacity_lists_the_largest_few(quickstart: Path) -> None:
    model = quickstart / "models" / "fraud-detector.yaml"
    text = model.read_text()
    for i in range(30):
        replicas = 1 + i % 7
        model.with_name(f"m{i:02}.yaml").write_text(
            text.replace("name: fraud-detector", f"name: m{i:02}")
            .replace(
                "capacityRps: 60",
                f"capacityRps: 60\n    autoscaling: {{minReplicas: 1, maxReplicas: {replicas}}}",
            )
            .replace("throughputRps: 400", f"throughputRps: {60 * replicas}")
        )
    (diag,) = [d for d in _run(quickstart) if d.code == "MK313"]
    # the five largest users of the pool, then how many more (maxReplicas plus the one pod
    # of each model's standard-mode canary)
    assert "(fraud-detector 12, m06 8, m13 8, m20 8, m27 8 and 26 more)" in diag.message


def test_unknown_reference_lists_a_few_known_names(quickstart: Path) -> None:
    data = quickstart / "data" / "transactions.yaml"
    for i in range(20):
        data.with_name(f"d{i:02}.yaml").write_text(
            data.read_text().replace("name: transactions", f"name: zz{i:02}")
        )
    model = quickstart / "models" / "fraud-detector.yaml"
    model.write_text(model.read_text().replace("source: transactions", "source: qqqqqqqqqqqq"))
    (diag,) = _run(quickstart)
    assert diag.code == "MK302"
    assert diag.hint == "defined: transactions, zz00, zz01, zz02, zz03 and 16 more"


# --- values --------------------------------------------------------------------------------

REGIONS = {
    "gcp": (
        ["us-central1", "europe-west4", "northamerica-northeast1", "us-central1-a"],
        ["us-east-1", "westeurope", "US-CENTRAL1", "us-${x}", "us-central1\n"],
    ),
    "aws": (
        ["us-east-1", "eu-central-1", "us-gov-west-1", "ap-southeast-7", "eusc-de-east-1"],
        ["us-central1", "useast1", "us-east-1a", "us_east_1", ""],
    ),
    "azure": (
        ["westeurope", "eastus2", "southcentralus", "eastus2euap"],
        ["West Europe", "west-europe", "westeurope ", "w"],
    ),
}


@pytest.mark.parametrize("provider", sorted(REGIONS))
def test_regions_have_their_providers_form(provider: str, quickstart: Path) -> None:
    project = quickstart / "modelkiln.yaml"
    text = project.read_text()
    good, bad = REGIONS[provider]
    cloud = {
        "gcp": "{provider: gcp, project: acme-prod, region: %s}",
        "aws": '{provider: aws, account: "123456789012", region: %s}',
        "azure": "{provider: azure, subscription: s, resourceGroup: g, region: %s}",
    }[provider]
    original = "{provider: gcp, project: acme-prod, region: us-central1}"
    for region in good + bad:
        project.write_text(text.replace(original, cloud % json.dumps(region)))
        codes = [d.code for d in _run(quickstart) if d.file == "modelkiln.yaml"]
        expected = [] if region in good else ["MK222"]
        if region == "":
            expected = ["MK210"]  # min_length: too short, before its form
        elif region.endswith("\n"):
            expected = ["MK221"]  # not a single line, before its form
        assert codes == expected, (region, codes)


def test_every_rule_that_reports_through_views_is_a_view_rule() -> None:
    """VIEW_RULES is kept by hand: a rule over specs.views missing from it would blame
    overrides for problems of the base spec."""
    import inspect

    from compiler.validate.rules import SPEC_RULES, VIEW_RULES

    over_views = [rule for rule in SPEC_RULES if "view.at(" in inspect.getsource(rule)]
    assert over_views == VIEW_RULES
