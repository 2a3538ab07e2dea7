"""The examples' InferenceServices as committed and re-rendered with every environment in one
deployment mode, so that tests cover both modes whatever the examples choose."""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from compiler.load import load
from compiler.planner import build_plan
from compiler.render import render
from compiler.validate import validate
from tests.conftest import EXAMPLES
from tests.kfp_helpers import files_of, yaml_docs

PROMETHEUS = "http://prometheus.monitoring.svc:9090"
SERVED_EXAMPLES = ("quickstart", "multi-cloud")
# (mode, with a Prometheus address): knative, standard with KEDA, standard with the HPA
VARIANTS = (("knative", False), ("standard", True), ("standard", False))


@cache
def files_in_mode(example: str, mode: str, prometheus: bool) -> dict[str, bytes]:
    """The example compiled with every environment's serving block replaced."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / example
        shutil.copytree(EXAMPLES / example, repo)
        project = repo / "modelkiln.yaml"
        yaml = YAML()
        data = yaml.load(project.read_text())
        for env in data["spec"]["environments"]:
            env["serving"] = {"mode": mode, **({"prometheus": PROMETHEUS} if prometheus else {})}
        with project.open("w") as out:
            yaml.dump(data, out)
        result = validate(load(repo))
        assert result.ok, result.diagnostics
        return render(build_plan(result.specs), workers=1)


def inference_services(files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """path -> InferenceService document."""
    return {
        path: yaml_docs(data)[0]
        for path, data in sorted(files.items())
        if path.endswith("/serving/inferenceservice.yaml")
    }


def every_inference_service() -> list[tuple[str, dict[str, Any]]]:
    """(label, InferenceService) of every example as committed and in every variant."""
    out: list[tuple[str, dict[str, Any]]] = []
    for example in SERVED_EXAMPLES:
        sources = [("as committed", files_of(example))]
        sources += [
            (f"{mode}{' + prometheus' if prom else ''}", files_in_mode(example, mode, prom))
            for mode, prom in VARIANTS
        ]
        for variant, files in sources:
            for path, isvc in inference_services(files).items():
                out.append((f"{example} {variant}: {path}", isvc))
    return out
