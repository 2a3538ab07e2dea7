"""Model artifact URIs, checked per scheme as KServe v0.20's storage initializer fetches them.

Kept apart from the generic value types (compiler.spec.types): these rules follow one
consumer, KServe v0.20.0:

- python/storage/kserve_storage/kserve_storage.py (`Storage.download`): gs://, s3://, Azure
  blob `https://<account>.blob.core.windows.net/<container>/<path>` (and the
  `<account>.zNN.blob.storage.azure.net` form), hf://<owner>/<model>[:<revision>] (exactly two
  path parts, `:` before the revision), generic `https?://(.+)/(.+)` (one file, archives
  unpacked);
- pkg/controller/v1beta1/inferenceservice/utils/utils.go (`ValidateStorageURI`) and
  pkg/utils/storage.go (`ParsePvcURI`, `ParseOciScheme`): pvc://<claim>[/<path>] mounted
  directly, oci://<registry>/<repository>[:<tag>|@<digest>] as a modelcar.

Anything else (az://, abfss://, file://, plain http://, ...) is refused with a hint naming
the accepted forms. A `registry` is a prefix: `<registry>/<model>/<version>` must be a URI of
the list above, so hf:// and oci:// (whose last part is a model or an image tag, not a
folder) cannot be registries.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from compiler.diagnostics import quote, shorten
from compiler.spec.types import check_line

ACCEPTED = (
    "gs://<bucket>/<path>, s3://<bucket>/<path>, "
    "https://<account>.blob.core.windows.net/<container>/<path>, pvc://<claim>/<path>, "
    "hf://<owner>/<model>[:<revision>], oci://<registry>/<image>:<tag>, https://<host>/<path>"
)
ACCEPTED_PREFIXES = (
    "gs://<bucket>[/<path>], s3://<bucket>[/<path>], "
    "https://<account>.blob.core.windows.net/<container>[/<path>], pvc://<claim>[/<path>], "
    "https://<host>[/<path>]"
)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]\Z")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
# huggingface_hub's repo id rule (utils/_validators.py validate_repo_id): word characters,
# '.', '-', starting and ending with a letter or digit, no '--' or '..', names ≤ 96
_HF_PART = re.compile(r"(?!.*(--|\.\.))[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9])?\Z")
_HF_REVISION = re.compile(r"[A-Za-z0-9._-]+\Z")
_AZURE_HOST = re.compile(
    r"(?P<account>[^.]*)\.(?:blob\.core\.windows\.net|z[0-9]{1,2}\.blob\.storage\.azure\.net)\Z"
)
_AZURE_ACCOUNT = re.compile(r"[a-z0-9]{3,24}\Z")
_AZURE_CONTAINER = re.compile(r"(\$root|[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9])\Z")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z")
_OCI_REF = re.compile(
    r"[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9]+(?:[._-][a-z0-9]+)*)+"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})?\Z"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

# Schemes that other tools use for the same stores, and what KServe reads instead.
_INSTEAD = {
    "az": "https://<account>.blob.core.windows.net/<container>/<path>",
    "abfs": "https://<account>.blob.core.windows.net/<container>/<path>",
    "abfss": "https://<account>.blob.core.windows.net/<container>/<path>",
    "wasb": "https://<account>.blob.core.windows.net/<container>/<path>",
    "wasbs": "https://<account>.blob.core.windows.net/<container>/<path>",
    "gcs": "gs://<bucket>/<path>",
    "s3a": "s3://<bucket>/<path>",
    "http": "https://<host>/<path>",
    "huggingface": "hf://<owner>/<model>[:<revision>]",
}

Problem = tuple[str, str, str]  # (code, message, hint)


def _bucket(scheme: str, rest: str) -> Problem | None:
    bucket = rest.split("/", 1)[0]
    if not _BUCKET.match(bucket):
        return (
            "MK230",
            f"{quote(bucket)} is not a {scheme} bucket name",
            f"write {scheme}://<bucket>/<path>; a bucket name has 3-222 lower-case letters, "
            "digits, '.', '-' or '_' and starts and ends with a letter or digit",
        )
    return None


def _pvc(rest: str) -> Problem | None:
    claim = rest.split("/", 1)[0]
    if len(claim) > 253 or not _DNS_SUBDOMAIN.match(claim):
        return (
            "MK230",
            f"{quote(claim)} is not a PersistentVolumeClaim name",
            "write pvc://<claim>/<path>, with the claim's DNS-1123 name",
        )
    return None


def _hf(rest: str) -> Problem | None:
    parts = rest.split("/")
    if len(parts) == 2 and "@" in parts[1]:
        model, _, revision = parts[1].partition("@")
        return (
            "MK230",
            "KServe reads the revision of an hf:// URI after ':', not '@'",
            shorten(f"write hf://{parts[0]}/{model}:{revision}"),
        )
    owner_ok = len(parts) == 2 and _HF_PART.match(parts[0])
    model, colon, revision = parts[1].partition(":") if len(parts) == 2 else ("", "", "")
    if not owner_ok or not _HF_PART.match(model) or (colon and not _HF_REVISION.match(revision)):
        return (
            "MK230",
            "an hf:// URI is hf://<owner>/<model>[:<revision>], exactly two path parts",
            "e.g. hf://distilbert/distilbert-base-uncased:main",
        )
    return None


def _https(rest: str, prefix: bool) -> Problem | None:
    host, slash, path = rest.partition("/")
    azure = _AZURE_HOST.match(host)
    if azure:
        container = path.split("/", 1)[0]
        if not _AZURE_ACCOUNT.match(azure["account"]):
            return (
                "MK230",
                f"{quote(azure['account'])} is not an Azure storage account name",
                "3-24 lower-case letters and digits: "
                "https://<account>.blob.core.windows.net/<container>/<path>",
            )
        # kserve_storage's _parse_azure_uri splits the path into <container>/<prefix>: a
        # container with no '/' after it fails to unpack
        if not _AZURE_CONTAINER.match(container) or not (prefix or "/" in path):
            return (
                "MK230",
                "an Azure blob URI names its container and a path after the host",
                "write https://<account>.blob.core.windows.net/<container>/<path>",
            )
        return None
    if not host or not _HOST.match(host):
        return ("MK230", f"{quote(host)} is not a host name", "write https://<host>/<path>")
    if not prefix and not (slash and path.split("?", 1)[0].strip("/")):
        # kserve_storage's _URI_RE "https?://(.+)/(.+)": a file after the host
        return (
            "MK230",
            "a generic https:// URI names a file after the host",
            "write https://<host>/<path to the model file or archive>",
        )
    return None


def _oci(rest: str) -> Problem | None:
    if not _OCI_REF.match(rest):
        return (
            "MK230",
            "an oci:// URI is oci://<registry>/<repository>:<tag> (or @sha256:<digest>)",
            "e.g. oci://ghcr.io/acme/models/churn:2.0.3",
        )
    return None


def storage_uri_problem(value: str, *, prefix: bool = False) -> Problem | None:
    """Why KServe's storage initializer could not fetch value (or, with prefix, any
    `<value>/<model>/<version>`), or None when it can."""
    match = _SCHEME.match(value)
    scheme = match.group(1) if match else ""
    rest = value[match.end() :] if match else value
    accepted = ACCEPTED_PREFIXES if prefix else ACCEPTED
    if scheme in ("hf", "oci") and prefix:
        return (
            "MK231",
            f"an {scheme}:// URI cannot be a registry: <registry>/<model>/<version> would "
            f"not be an {scheme}:// artifact",
            "give each model serving.storageUri instead, or use one of: " + ACCEPTED_PREFIXES,
        )
    if scheme in ("gs", "s3"):
        return _bucket(scheme, rest)
    if scheme == "pvc":
        return _pvc(rest)
    if scheme == "hf":
        return _hf(rest)
    if scheme == "https":
        return _https(rest, prefix)
    if scheme == "oci":
        return _oci(rest)
    what = f"scheme {quote(scheme + '://')}" if scheme else "a URI without a scheme"
    instead = _INSTEAD.get(scheme)
    hint = f"use {instead}" if instead else "use one of: " + accepted
    return (
        "MK211",
        f"{what} is not one KServe's storage initializer fetches ({quote(value)})",
        hint,
    )


def _checker(prefix: bool) -> AfterValidator:
    def check(value: str) -> str:
        check_line(value)  # MK221 first: a control character is no scheme's problem
        problem = storage_uri_problem(value, prefix=prefix)
        if problem:
            code, message, hint = problem
            # the hint travels in the context; compiler.validate.schema puts it on the diagnostic
            raise PydanticCustomError(code, "{message}", {"message": message, "hint": hint})
        return value

    return AfterValidator(check)


_SCHEMES_PATTERN = r"^(gs|s3|pvc|https|hf|oci)://."
ArtifactUri = Annotated[
    str,
    _checker(prefix=False),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _SCHEMES_PATTERN,
            "description": "Model artifact URI as KServe fetches it: " + ACCEPTED,
        }
    ),
]
ArtifactRoot = Annotated[
    str,
    _checker(prefix=True),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(gs|s3|pvc|https)://.",
            "description": "Prefix of model artifact URIs (<registry>/<model>/<version>): "
            + ACCEPTED_PREFIXES,
        }
    ),
]
