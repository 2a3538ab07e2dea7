"""Generate a synthetic spec repository: N models over a handful of pools and data sources.

python benchmarks/gen_repo.py OUT [--models 1000] [--envs 2]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

CLOUDS = [
    ("gcp", "project: bench-{name}, region: us-central1"),
    ("aws", 'account: "123456789012", region: us-east-1'),
    (
        "azure",
        "subscription: 00000000-0000-0000-0000-000000000000, resourceGroup: rg-{name}, "
        "region: westeurope",
    ),
]
SERVE_POOLS = 20  # every model's replicas must fit its pool (validation checks it)
POOLS = [
    ("h100-train", "nvidia-h100-80gb", 8, 4),
    ("a100-train", "nvidia-a100-80gb", 8, 4),
    *[(f"l4-serve-{i}", "nvidia-l4", 1, 1000) for i in range(SERVE_POOLS // 2)],
    *[(f"t4-serve-{i}", "nvidia-t4", 1, 1000) for i in range(SERVE_POOLS // 2)],
]
DATA_SOURCES = 50


def project(envs: int) -> str:
    lines = [
        "apiVersion: modelkiln.dev/v1alpha1",
        "kind: Project",
        "metadata: {name: bench}",
        "spec:",
        "  registry: gs://bench-models",
        "  environments:",
    ]
    for i in range(envs):
        provider, ident = CLOUDS[i % 2]  # gcp and aws offer every pool's accelerator
        name = f"env{i}"
        lines += [
            f"    - name: {name}",
            f"      namespace: ml-{name}",
            f"      cloud: {{provider: {provider}, {ident.format(name=name)}}}",
            f"      cluster: cluster-{name}",
            # both KServe modes: Knative in env0, Standard with KEDA in the others
            "      serving: {mode: knative}"
            if i == 0
            else '      serving: {mode: standard, prometheus: "http://prometheus:9090"}',
        ]
    lines += [
        "  policies:",
        "    maxGpusPerModel: 64",
        "    requirePinnedImages: true",
        "    requireCanaryIn: [env1]" if envs > 1 else "    requireCanaryIn: []",
    ]
    return "\n".join(lines) + "\n"


def pool(name: str, accelerator: str, gpus: int, max_nodes: int) -> str:
    return (
        "apiVersion: modelkiln.dev/v1alpha1\nkind: GpuPool\n"
        f"metadata: {{name: {name}}}\nspec:\n  accelerator: {accelerator}\n"
        f"  gpusPerNode: {gpus}\n  minNodes: 0\n  maxNodes: {max_nodes}\n  spot: true\n"
    )


def data_source(i: int) -> str:
    return f"""apiVersion: modelkiln.dev/v1alpha1
kind: DataSource
metadata: {{name: source-{i}, owner: data-team}}
spec:
  uri: gs://bench-lake/source-{i}/
  format: parquet
  version: "2026-11-{1 + i % 28:02d}"
  schema:
    - {{name: amount, type: float, nullable: false}}
    - {{name: label, type: int}}
  quality:
    minRows: 10000
    maxNullFraction: {{amount: 0.01}}
    ranges: {{amount: [0, 1000000]}}
    freshness: 24h
"""


def model(i: int) -> str:
    train_pool = POOLS[i % 2][0]
    serve_pool = POOLS[2 + i % SERVE_POOLS][0]
    nodes = 2 if i % 10 == 0 else 1
    distributed = "    distributed: {strategy: ddp}\n" if nodes > 1 else ""
    return f"""apiVersion: modelkiln.dev/v1alpha1
kind: Model
metadata:
  name: model-{i:04d}
  owner: team-{i % 17}
  labels: {{tier: standard}}
spec:
  version: 1.{i % 7}.{i % 13}
  framework: pytorch
  data:
    - source: source-{i % DATA_SOURCES}
    - source: source-{(i + 1) % DATA_SOURCES}
      version: "2026-10-01"
  training:
    image: ghcr.io/bench/model-{i:04d}:1.0.{i}
    command: [torchrun, -m, train]
    args: [--epochs, "10"]
    hyperparameters: {{lr: 0.001, batchSize: 256}}
    env: {{LOG_LEVEL: info}}
    secrets:
      - {{name: wandb, key: api-key, env: WANDB_API_KEY}}
    resources: {{pool: {train_pool}, gpus: 8, nodes: {nodes}, cpu: "32", memory: 256Gi}}
{distributed}    timeout: 12h
    retries: 2
    schedule: "0 {i % 24} * * {i % 7}"
  evaluation:
    image: ghcr.io/bench/model-{i:04d}-eval:1.0.{i}
    gates:
      - {{metric: auc, min: 0.9}}
  serving:
    resources: {{pool: {serve_pool}, gpus: 1, cpu: "4", memory: 16Gi}}
    capacityRps: 50
    slo: {{latencyP99Ms: 100, availability: 99.9, throughputRps: 200}}
    rollout:
      strategy: canary
      canaryPercent: 10
      stableVersion: 0.9.0
      rollback: {{maxErrorRate: 0.01, maxLatencyP99Ms: 200}}
  environments:
    env0:
      serving:
        slo: {{throughputRps: 20}}
        autoscaling: {{minReplicas: 1, maxReplicas: 2}}
"""


def generate(out: Path, models: int = 1000, envs: int = 2) -> Path:
    if out.exists():
        shutil.rmtree(out)
    (out / "pools").mkdir(parents=True)
    (out / "data").mkdir()
    (out / "models").mkdir()
    (out / "modelkiln.yaml").write_text(project(envs))
    for name, accelerator, gpus, max_nodes in POOLS:
        (out / "pools" / f"{name}.yaml").write_text(pool(name, accelerator, gpus, max_nodes))
    for i in range(DATA_SOURCES):
        (out / "data" / f"source-{i}.yaml").write_text(data_source(i))
    for i in range(models):
        (out / "models" / f"model-{i:04d}.yaml").write_text(model(i))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--envs", type=int, default=2)
    args = parser.parse_args()
    generate(args.out, args.models, args.envs)


if __name__ == "__main__":
    main()
