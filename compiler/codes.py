"""The stable diagnostic codes. Codes never change meaning; retired codes are not reused.

MK1xx: reading files.  MK2xx: the shape of one document.  MK3xx: across documents.
MK4xx: Project policies.  docs/diagnostics.md is generated from this table.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    name: str
    summary: str


CODES: dict[str, Code] = {
    # -- reading files
    "MK101": Code("file-too-large", "A spec file is larger than the size limit."),
    "MK102": Code("not-utf8", "A spec file is not valid UTF-8."),
    "MK103": Code("yaml-syntax", "The file is not valid YAML."),
    "MK104": Code("tab-indent", "A tab character is used where YAML needs spaces."),
    "MK105": Code("duplicate-key", "A mapping has the same key twice."),
    "MK106": Code("alias-limit", "Anchors and aliases expand beyond the node limit."),
    "MK107": Code("not-a-mapping", "A document is not a mapping."),
    "MK108": Code("bad-api-version", "apiVersion is missing or not modelkiln.dev/v1alpha1."),
    "MK109": Code("unknown-kind", "kind is missing or not Project, DataSource, GpuPool or Model."),
    "MK110": Code("missing-project", "modelkiln.yaml holds no Project document."),
    "MK111": Code("extra-project", "A second Project, or a Project outside modelkiln.yaml."),
    "MK112": Code("unsupported-tag", "A YAML tag other than the core ones is used."),
    "MK113": Code("too-deep", "The document nests deeper than the limit."),
    "MK114": Code(
        "renamed-project-file", "The root has modelplane.yaml (the 0.1 name), not modelkiln.yaml."
    ),
    "MK115": Code("not-a-regular-file", "A spec file is a FIFO, socket, device or folder."),
    "MK116": Code("symlink-outside-root", "A symlink leads outside the spec root."),
    "MK117": Code("unreadable", "A spec file or folder cannot be read."),
    # -- one document
    "MK201": Code("unknown-field", "A field that the kind does not have."),
    "MK202": Code("missing-field", "A required field is absent."),
    "MK203": Code("wrong-type", "A value has the wrong type."),
    "MK204": Code("invalid-value", "A value is not one of the allowed ones."),
    "MK205": Code("invalid-name", "A name is not a DNS-1123 label."),
    "MK206": Code("invalid-quantity", "Not a Kubernetes quantity."),
    "MK207": Code("invalid-duration", "Not a duration such as 30s, 15m, 12h or 7d."),
    "MK208": Code("invalid-cron", "Not a five-field cron expression."),
    "MK209": Code("invalid-version", "Not a semantic version."),
    "MK210": Code("out-of-range", "A number is outside its allowed range."),
    "MK211": Code("invalid-uri", "A URI with a scheme that is not supported."),
    "MK212": Code("cloud-fields", "The cloud block lacks what its provider needs."),
    "MK213": Code("min-gt-max", "A minimum is greater than its maximum."),
    "MK214": Code("no-workload", "A Model has neither training nor serving."),
    "MK215": Code("serving-needs-storage", "Serving without training needs serving.storageUri."),
    "MK216": Code("distributed-required", "nodes > 1 needs a distributed strategy."),
    "MK217": Code("canary-percent", "canaryPercent is outside 1..99 or set without canary."),
    "MK218": Code("plaintext-secret", "A credential is written as a plain value in env."),
    "MK219": Code(
        "not-encodable",
        "A string holds a lone surrogate (a \\u escape of half a pair): it cannot be written "
        "as UTF-8.",
    ),
    "MK220": Code("not-finite", "A number is NaN or infinite (.nan, .inf, 1e999)."),
    "MK221": Code(
        "control-character",
        "A single-line value (a name, version, image, URI, region, ...) holds a line break, "
        "another control character, or U+FFFE/U+FFFF.",
    ),
    "MK222": Code("invalid-region", "A cloud region does not have its provider's form."),
    "MK223": Code("state-backend-fields", "A Terraform state backend lacks what its type needs."),
    "MK230": Code(
        "storage-uri-form", "A storage URI in a form KServe's storage initializer cannot fetch."
    ),
    "MK231": Code(
        "registry-not-a-prefix", "A registry that cannot prefix <model>/<version> (hf://, oci://)."
    ),
    "MK232": Code(
        "rps-target-below-one", "capacityRps × 0.7 is below 1, the least per-replica rps target."
    ),
    "MK233": Code("stable-uri-without-version", "rollout.stableStorageUri without stableVersion."),
    "MK234": Code(
        "stable-uri-required", "A canary of an explicit storageUri needs rollout.stableStorageUri."
    ),
    "MK240": Code("llm-parameter-count", "serving.llm.parameters is not a count like 8B."),
    "MK241": Code(
        "llm-throughput", "The LLM SLO needs exactly one of tokensPerSecond, requestsPerSecond."
    ),
    "MK242": Code("serving-objectives", "serving needs capacityRps and slo, or llm."),
    "MK243": Code("llm-request-slo", "serving.llm with serving.capacityRps or serving.slo."),
    "MK244": Code("gpu-sharing", "GpuPool sharing needs exactly one of mig, timeSlicing."),
    "MK245": Code(
        "llm-model-unknown", "An unknown LLM family, or no parameters and architecture for it."
    ),
    "MK246": Code(
        "llm-field-not-applicable",
        "storageUri, format, runtime or rollback.maxLatencyP99Ms on a language model.",
    ),
    "MK247": Code("llm-without-gpu", "A language model without a GPU pool (vLLM serves on GPUs)."),
    "MK248": Code(
        "llm-tensor-parallel",
        "tensorParallel is not the replica's GPUs, or the attention heads do not divide by it.",
    ),
    "MK249": Code(
        "llm-context-length", "Warning: maxContextTokens above the family's position embeddings."
    ),
    # -- across documents
    "MK301": Code("duplicate-name", "Two documents of one kind share a name."),
    "MK302": Code("unknown-data-source", "A Model refers to a DataSource that does not exist."),
    "MK303": Code("unknown-pool", "A Model refers to a GpuPool that does not exist."),
    "MK304": Code("unknown-environment", "An environment name that the Project does not define."),
    "MK305": Code("gpus-exceed-pool", "More GPUs per node than the pool's nodes have."),
    "MK306": Code("accelerator-not-offered", "The cloud does not offer the pool's accelerator."),
    "MK307": Code("machine-type", "The machine type does not fit the accelerator and GPU count."),
    "MK308": Code("pool-not-in-environment", "The pool does not exist in this environment."),
    "MK309": Code("gpus-without-pool", "GPUs requested without a GPU pool."),
    "MK310": Code("override-unknown", "An environment override that cannot be applied."),
    "MK311": Code("duplicate-environment", "Two environments share a name."),
    "MK312": Code("serving-capacity", "maxReplicas × capacityRps cannot serve throughputRps."),
    "MK313": Code("pool-too-small", "A serving pool cannot hold the replicas placed on it."),
    "MK320": Code(
        "canary-needs-stable-version", "A canary in standard mode needs rollout.stableVersion."
    ),
    "MK321": Code(
        "scale-to-zero-standard", "minReplicas 0 in standard mode; scale to zero needs knative."
    ),
    "MK330": Code(
        "latency-not-a-bucket",
        "Warning: latencyP99Ms is not a bucket boundary of the environment's latency histogram.",
    ),
    "MK331": Code("latency-buckets", "latencyBuckets are not positive, increasing seconds."),
    "MK340": Code("log-url", "KServe's request logger cannot write to the drift log URL."),
    "MK341": Code("drift-feature", "A drift feature is not a measurable reference column."),
    "MK342": Code("drift-method", "The drift method cannot measure a categorical feature."),
    "MK343": Code("drift-reference", "No reference data the drift job can read."),
    "MK344": Code("drift-columns", "monitoring.drift.columns repeats a name or lacks a feature."),
    "MK345": Code("logger-batch", "batchInterval is set, but batchSize is 1."),
    "MK350": Code("training-reserved-env", "A training env name is a reserved PET_* variable."),
    "MK351": Code(
        "torchrun-command", "Several processes per node, but the command does not start torchrun."
    ),
    "MK352": Code("torchrun-option", "--nproc-per-node or --nnodes is set; modelkiln sets them."),
    "MK353": Code("processes-exceed-gpus", "More processes per node than GPUs per node."),
    "MK354": Code("shm-exceeds-memory", "shmSize is larger than the memory request."),
    "MK355": Code(
        "cluster-training-runtime",
        "Warning: a ClusterTrainingRuntime may retry failed jobs beyond 1 + retries attempts.",
    ),
    "MK360": Code(
        "quota-exceeded", "A GPU workload asks for more than its team's Kueue quota allows."
    ),
    "MK361": Code("no-quota", "A GPU workload's team has no quota on its pool in the environment."),
    "MK362": Code("quota-unknown-pool", "quotas name a GpuPool that does not exist."),
    "MK363": Code("quota-overcommit", "The teams' GPU quotas add up to more than the pool holds."),
    "MK364": Code("borrowing-limit-without-cohort", "borrowingLimit without quotas.borrowing."),
    "MK370": Code(
        "llm-does-not-fit", "A language model's weights and KV cache do not fit its GPUs."
    ),
    "MK380": Code("mig-profile", "The pool's MIG profile does not exist on its accelerator."),
    "MK381": Code("mig-slice", "A Model's migProfile is not the MIG profile of its pool."),
    "MK382": Code("shared-gpu-count", "A workload on a shared GPU pool asks for more than one."),
    "MK383": Code("sharing-cloud", "The environment's cloud cannot share the pool's GPUs so."),
    "MK390": Code(
        "llm-latency-not-a-bucket",
        "Warning: ttftP95Ms or tpotP95Ms is not a bucket boundary of vLLM's histogram.",
    ),
    "MK392": Code(
        "llm-buckets", "ttftBuckets or tpotBuckets are not positive, increasing seconds."
    ),
    # -- policies
    "MK401": Code("max-gpus-per-model", "A Model asks for more GPUs than the policy allows."),
    "MK402": Code("require-canary", "The policy requires a canary rollout in this environment."),
    "MK403": Code("require-pinned-image", "The policy requires images pinned by digest or tag."),
    "MK404": Code("max-monthly-cost", "An environment's GPU pools can cost more than allowed."),
    "MK405": Code("require-pinned-data", "The policy refuses data version 'latest' here."),
    "MK406": Code(
        "strict-latency-buckets",
        "The policy requires latencyP99Ms, ttftP95Ms and tpotP95Ms at bucket boundaries.",
    ),
}


def render_markdown() -> str:
    """docs/diagnostics.md (a test keeps the committed copy current)."""
    groups = {
        "1": "Reading files",
        "2": "The shape of one document",
        "3": "Across documents",
        "4": "Project policies",
    }
    out = [
        "# Diagnostic codes",
        "",
        "Every problem modelkiln reports carries one of these codes. A code never changes",
        "meaning; a retired code is not reused. Generated from `compiler/codes.py`",
        "(`make docs`).",
        "",
    ]
    for digit, title in groups.items():
        out += [f"## {title}", "", "| code | name | meaning |", "| --- | --- | --- |"]
        for code, (name, summary) in CODES.items():
            if code[2] == digit:
                out.append(f'| <a id="{code.lower()}"></a>{code} | `{name}` | {summary} |')
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(render_markdown(), end="")
