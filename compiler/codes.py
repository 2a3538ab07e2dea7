"""The stable diagnostic codes. Codes never change meaning; retired codes are not reused.

MP1xx: reading files.  MP2xx: the shape of one document.  MP3xx: across documents.
MP4xx: Project policies.  docs/diagnostics.md is generated from this table.
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    name: str
    summary: str


CODES: dict[str, Code] = {
    # -- reading files
    "MP101": Code("file-too-large", "A spec file is larger than the size limit."),
    "MP102": Code("not-utf8", "A spec file is not valid UTF-8."),
    "MP103": Code("yaml-syntax", "The file is not valid YAML."),
    "MP104": Code("tab-indent", "A tab character is used where YAML needs spaces."),
    "MP105": Code("duplicate-key", "A mapping has the same key twice."),
    "MP106": Code("alias-limit", "Anchors and aliases expand beyond the node limit."),
    "MP107": Code("not-a-mapping", "A document is not a mapping."),
    "MP108": Code("bad-api-version", "apiVersion is missing or not modelplane.io/v1alpha1."),
    "MP109": Code("unknown-kind", "kind is missing or not Project, DataSource, GpuPool or Model."),
    "MP110": Code("missing-project", "modelplane.yaml holds no Project document."),
    "MP111": Code("extra-project", "A second Project, or a Project outside modelplane.yaml."),
    "MP112": Code("unsupported-tag", "A YAML tag other than the core ones is used."),
    "MP113": Code("too-deep", "The document nests deeper than the limit."),
    # -- one document
    "MP201": Code("unknown-field", "A field that the kind does not have."),
    "MP202": Code("missing-field", "A required field is absent."),
    "MP203": Code("wrong-type", "A value has the wrong type."),
    "MP204": Code("invalid-value", "A value is not one of the allowed ones."),
    "MP205": Code("invalid-name", "A name is not a DNS-1123 label."),
    "MP206": Code("invalid-quantity", "Not a Kubernetes quantity."),
    "MP207": Code("invalid-duration", "Not a duration such as 30s, 15m, 12h or 7d."),
    "MP208": Code("invalid-cron", "Not a five-field cron expression."),
    "MP209": Code("invalid-version", "Not a semantic version."),
    "MP210": Code("out-of-range", "A number is outside its allowed range."),
    "MP211": Code("invalid-uri", "A URI with a scheme that is not supported."),
    "MP212": Code("cloud-fields", "The cloud block lacks what its provider needs."),
    "MP213": Code("min-gt-max", "A minimum is greater than its maximum."),
    "MP214": Code("no-workload", "A Model has neither training nor serving."),
    "MP215": Code("serving-needs-storage", "Serving without training needs serving.storageUri."),
    "MP216": Code("distributed-required", "nodes > 1 needs a distributed strategy."),
    "MP217": Code("canary-percent", "canaryPercent is outside 1..99 or set without canary."),
    "MP218": Code("plaintext-secret", "A credential is written as a plain value in env."),
    # -- across documents
    "MP301": Code("duplicate-name", "Two documents of one kind share a name."),
    "MP302": Code("unknown-data-source", "A Model refers to a DataSource that does not exist."),
    "MP303": Code("unknown-pool", "A Model refers to a GpuPool that does not exist."),
    "MP304": Code("unknown-environment", "An environment name that the Project does not define."),
    "MP305": Code("gpus-exceed-pool", "More GPUs per node than the pool's nodes have."),
    "MP306": Code("accelerator-not-offered", "The cloud does not offer the pool's accelerator."),
    "MP307": Code("machine-type", "The machine type does not fit the accelerator and GPU count."),
    "MP308": Code("pool-not-in-environment", "The pool does not exist in this environment."),
    "MP309": Code("gpus-without-pool", "GPUs requested without a GPU pool."),
    "MP310": Code("override-unknown", "An environment override that cannot be applied."),
    "MP311": Code("duplicate-environment", "Two environments share a name."),
    "MP312": Code("serving-capacity", "maxReplicas × capacityRps cannot serve throughputRps."),
    "MP313": Code("pool-too-small", "A serving pool cannot hold the replicas placed on it."),
    # -- policies
    "MP401": Code("max-gpus-per-model", "A Model asks for more GPUs than the policy allows."),
    "MP402": Code("require-canary", "The policy requires a canary rollout in this environment."),
    "MP403": Code("require-pinned-image", "The policy requires images pinned by digest or tag."),
    "MP404": Code("max-monthly-cost", "An environment's GPU pools can cost more than allowed."),
    "MP405": Code("require-pinned-data", "The policy refuses data version 'latest' here."),
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
        "Every problem modelplane reports carries one of these codes. A code never changes",
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
