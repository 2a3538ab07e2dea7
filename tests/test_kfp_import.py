"""The pipeline back end imports kfp without the Kubernetes API client (see
compiler/targets/kubeflow/kfp_import.py), and kfp stays whole for every other user. Each
case runs in a fresh interpreter: import order is the point."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_rendering_a_pipeline_does_not_import_the_kubernetes_client() -> None:
    out = _python(
        "import sys\n"
        "import compiler.targets.kubeflow.pipeline\n"
        "heavy = ('kubernetes', 'kfp.client', 'kfp.kubernetes')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert out == "[]"


def test_kfp_is_whole_afterwards() -> None:
    """kfp.Client (lazily), and kfp.kubernetes with the very protobuf module the compiler
    loaded (its descriptors registered once)."""
    out = _python(
        "import compiler.targets.kubeflow.pipeline as p\n"
        "import kfp\n"
        "from kfp import Client\n"
        "import kfp.kubernetes\n"
        "from kfp.kubernetes import kubernetes_executor_config_pb2 as pb2\n"
        "print(Client is kfp.Client, Client.__module__, pb2 is p.k8s_pb2,"
        " callable(kfp.kubernetes.add_node_selector))"
    )
    assert out == "True kfp.client.client True True"
