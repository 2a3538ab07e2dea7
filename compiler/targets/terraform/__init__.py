"""Terraform back end: per environment, `terraform/` with one GPU node pool per pool plan.

GKE `google_container_node_pool`, EKS `aws_eks_node_group` or AKS
`azurerm_kubernetes_cluster_node_pool` resources that join the environment's existing
cluster, plus `versions.tf`, `providers.tf`, `variables.tf` and `outputs.tf`. The files are
rendered from the Jinja templates in `templates/terraform/<cloud>/`; every value taken from
the specs goes through the one filter `hcl`, which writes a complete HCL literal, so no spec
string can end a string, start an interpolation (`${`) or a directive (`%{`). An environment
without pools renders no Terraform at all (there is nothing to create). See docs/terraform.md.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jinja2

from compiler.errors import HostError
from compiler.plan import EnvironmentPlan, PoolPlan, Taint
from compiler.sharing import GKE_TIME_SHARING

FILES = ("versions.tf", "providers.tf", "variables.tf", "main.tf", "outputs.tf")
BACKEND_FILE = "backend.tf"  # only with a state backend (environments[].terraform.backend)
PROVIDERS = ("gcp", "aws", "azure")

# Effects as the GKE and EKS APIs spell them; AKS takes the Kubernetes spelling.
_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
# AKS puts this label and taint on every Spot node pool itself; they are written out so
# that Terraform shows no drift (the azurerm documentation asks for it).
AKS_NAME_LENGTH = 12  # Linux node pool names: at most 12 lowercase letters and digits

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_NEEDS_ESCAPE = re.compile(r'[^\x20-\x7e]|["\\]')
_SIMPLE = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    simple = _SIMPLE.get(char)
    if simple is not None:
        return simple
    point = ord(char)
    if 0xD800 <= point <= 0xDFFF:
        raise ValueError(f"lone surrogate U+{point:04X} cannot be written to HCL")
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"


def hcl(value: str | int | bool) -> str:
    """`value` as a complete HCL literal: a double-quoted string, a number or a bool.

    Strings are written in printable ASCII: backslash, double quote, newline, carriage
    return and tab get their short escapes, every other character outside printable ASCII
    becomes `\\uNNNN`/`\\UNNNNNNNN` (so no control or bidi character reaches the file and
    `terraform fmt`'s column count equals the character count), and `${` / `%{` are
    doubled to `$${` / `%%{` so no interpolation or template directive can start.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"hcl() takes str, int or bool, not {type(value).__name__}")
    text = _NEEDS_ESCAPE.sub(_escape, value)
    return '"' + text.replace("${", "$${").replace("%{", "%%{") + '"'


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def resource_label(pool: str) -> str:
    """The Terraform resource name of a pool: the pool name when it is a valid identifier,
    else a sanitised name with a hash suffix (unique per pool name)."""
    if _IDENTIFIER.match(pool):
        return pool
    return f"pool_{re.sub(r'[^A-Za-z0-9_-]', '_', pool)}_{_digest(pool, 8)}"


def aks_pool_name(pool: str) -> str:
    """A valid AKS Linux node pool name (<= 12 lowercase alphanumerics, a letter first),
    derived deterministically from the pool name: non-alphanumerics dropped, and when
    longer than 12, cut to 7 characters plus 5 hex digits of the name's SHA-256."""
    name = re.sub(r"[^a-z0-9]", "", pool.lower())
    if not name[:1].isalpha():
        name = "p" + name
    if len(name) > AKS_NAME_LENGTH:
        name = name[: AKS_NAME_LENGTH - 5] + _digest(pool, 5)
    return name


@dataclass(frozen=True)
class PoolView:
    """One pool as the templates see it: every derived, cloud-specific value computed."""

    label: str  # Terraform resource name
    name: str  # the pool's name in the cloud
    pool: str  # the modelkiln pool name
    machine_type: str
    accelerator_id: str
    gpus_per_node: int
    min_nodes: int
    max_nodes: int
    spot: bool
    disk_gb: int | None
    labels: tuple[tuple[str, str], ...]  # sorted by key
    taints: tuple[tuple[str, str, str], ...]  # (key, value, effect as the cloud spells it)
    aks_taints: tuple[str, ...]  # "key=value:Effect" (azure only)
    # GPU sharing (compiler/sharing.py): GKE guest_accelerator gpu_partition_size and
    # gpu_sharing_config, AKS gpu_instance; EKS and AKS get node labels (in labels above)
    gpu_partition_size: str | None = None
    max_shared_clients_per_gpu: int | None = None
    gpu_instance: str | None = None


def _effect(taint: Taint) -> str:
    try:
        return _EFFECTS[taint.effect]
    except KeyError:
        raise ValueError(f"unknown taint effect {taint.effect!r}") from None


def _pool_view(provider: str, pool: PoolPlan) -> PoolView:
    labels = dict(pool.labels)  # the plan derives labels and taints, for every target
    taints = list(pool.taints)
    sharing = pool.sharing
    return PoolView(
        label=resource_label(pool.name),
        name=aks_pool_name(pool.name) if provider == "azure" else pool.name,
        pool=pool.name,
        machine_type=pool.machine_type,
        accelerator_id=pool.accelerator_id,
        gpus_per_node=pool.gpus_per_node,
        min_nodes=pool.min_nodes,
        max_nodes=pool.max_nodes,
        spot=pool.spot,
        disk_gb=pool.disk_gb,
        labels=tuple(sorted(labels.items())),
        taints=tuple((t.key, t.value, _effect(t)) for t in taints),
        aks_taints=tuple(f"{t.key}={t.value}:{t.effect}" for t in taints),
        gpu_partition_size=sharing.gke_partition_size if sharing else None,
        max_shared_clients_per_gpu=sharing.gke_max_shared_clients if sharing else None,
        gpu_instance=sharing.aks_gpu_instance if sharing else None,
    )


def _pool_views(env: EnvironmentPlan) -> tuple[PoolView, ...]:
    views = tuple(_pool_view(env.provider, pool) for pool in env.pools)
    for what in ("label", "name"):
        seen: dict[str, str] = {}
        for view in views:
            key = getattr(view, what)
            other = seen.setdefault(key, view.pool)
            if other != view.pool:
                raise ValueError(
                    f"environment {env.name!r}: pools {other!r} and {view.pool!r} both "
                    f"become {key!r} in Terraform; rename one of them"
                )
    return views


def _templates_dir() -> Path:
    """The folder of the Jinja templates: the package `compiler.templates`, which the
    setuptools configuration maps onto the repository's top-level templates/ folder, so
    editable and wheel installs find it the same way."""
    root = importlib.resources.files("compiler.templates")
    # Jinja's FileSystemLoader needs a real folder: an install from a zip has none.
    if not isinstance(root, Path) or not (root / "terraform").is_dir():
        raise HostError(
            f"Terraform templates not found: no folder {root}/terraform in the installed "
            "package compiler.templates; reinstall modelkiln"
        )
    return root


@cache
def environment() -> jinja2.Environment:
    """The process's one Jinja environment; it compiles each template once and keeps it."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_templates_dir()),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["hcl"] = hcl
    return env


def render_environment(env: EnvironmentPlan) -> dict[str, bytes]:
    """`{"<env>/terraform/<file>": bytes}` for the environment's GPU node pools.

    Pure: nothing is written. An environment without pools yields `{}` (no Terraform).
    """
    if not env.pools:
        return {}
    if env.provider not in PROVIDERS:
        raise ValueError(f"environment {env.name!r}: unknown provider {env.provider!r}")
    ids = dict(env.cloud_ids)
    context = {
        "env": env,
        "region": env.region,
        "cluster": env.cluster,
        "project": ids.get("project"),
        "account": ids.get("account"),
        "subscription": ids.get("subscription"),
        "resource_group": ids.get("resourceGroup"),
        "host_encryption": env.host_encryption,
        "time_sharing": GKE_TIME_SHARING,
        "pools": _pool_views(env),
    }
    templates = environment()
    files = {
        f"{env.name}/terraform/{name}": templates.get_template(
            f"terraform/{env.provider}/{name}.j2"
        )
        .render(context)
        .encode()
        for name in FILES
    }
    if env.state_backend is not None:
        files[f"{env.name}/terraform/{BACKEND_FILE}"] = render_backend(env)
    return files


def state_key(prefix: str, environment: str) -> str:
    """The environment's own state: `<prefix>/<environment>/terraform.tfstate` (s3 key,
    azurerm blob). The gcs backend takes the folder `<prefix>/<environment>` and adds
    `<workspace>.tfstate` itself (gcs/backend.go, Terraform v1.15.5)."""
    return f"{prefix}/{environment}/terraform.tfstate"


def render_backend(env: EnvironmentPlan) -> bytes:
    """`backend.tf`: the `backend` block of the environment's state backend."""
    backend = env.state_backend
    assert backend is not None
    context = {
        "backend": backend,
        "state_key": state_key(backend.prefix, env.name),
        "state_prefix": f"{backend.prefix}/{env.name}",
    }
    return environment().get_template(f"terraform/{BACKEND_FILE}.j2").render(context).encode()
