"""Argo CD Application (argoproj.io/v1alpha1) per environment, pointing at that
environment's output folder (its kustomization of serving folders)."""

from __future__ import annotations

from typing import Any

from compiler.plan import MANAGED_BY, ArgoCdPlan, EnvironmentPlan


def application(env: EnvironmentPlan, argocd: ArgoCdPlan, output: str) -> dict[str, Any]:
    destination: dict[str, str] = {"namespace": env.namespace}
    server = dict(argocd.destinations).get(env.name)
    if server and "://" in server:
        destination["server"] = server
    else:
        destination["name"] = server or env.cluster
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"{argocd.name_prefix}{env.name}",
            "namespace": argocd.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "modelkiln.dev/environment": env.name,
            },
        },
        "spec": {
            "project": argocd.project,
            "source": {
                "repoURL": argocd.repo_url,
                "targetRevision": argocd.target_revision,
                "path": f"{argocd.path_prefix}{output}/{env.name}".lstrip("/"),
            },
            "destination": destination,
            "syncPolicy": {
                "automated": {"prune": argocd.prune, "selfHeal": argocd.self_heal},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }
