"""Storage URIs are accepted exactly in forms KServe v0.20.0 can fetch.

The consumer's rules, re-implemented from its source (kserve/kserve tag v0.20.0):
- pkg/controller/v1beta1/inferenceservice/utils/utils.go ValidateStorageURI (the controller
  refuses other URIs: "StorageURI not supported");
- python/storage/kserve_storage/kserve_storage.py Storage.download (the dispatch by prefix
  and regex, "Cannot recognize storage type" otherwise), _download_hf (exactly two parts,
  ':' before the revision), _parse_azure_uri (<container>/<prefix> after the host);
- pkg/utils/storage.go ParsePvcURI and ParseOciScheme (pvc:// and oci:// are mounted by the
  pod webhook, not downloaded by Python);
- huggingface_hub utils/_validators.py validate_repo_id (the repo id KServe passes on).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.load import load
from compiler.spec.storage import storage_uri_problem
from compiler.validate import validate
from tests.conftest import copy_example

SUPPORTED_PREFIXES = (  # utils.go:48 SupportedStorageURIPrefixList
    "gs://", "s3://", "pvc://", "file://", "https://", "http://",
    "hdfs://", "webhdfs://", "oci://", "oci+native://", "hf://",
)  # fmt: skip
AZURE_BLOB_GO = r"https://(.+?).blob.core.windows.net/(.+)"  # utils.go:52-53
AZURE_BLOB_PY = [  # kserve_storage.py:55-56
    r"https://(.+?).blob.core.windows.net/(.+)",
    r"https://(.+?).z[0-9]{1,2}.blob.storage.azure.net/(.+)",
]
URI_PY = r"https?://(.+)/(.+)"  # kserve_storage.py _URI_RE
HF_REPO_ID = re.compile(r"^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$")  # huggingface_hub


def go_accepts(uri: str) -> bool:
    """ValidateStorageURI without a ClusterStorageContainer."""
    if not re.search(r"\w+?://", uri):
        return True  # a local path
    if "blob.core.windows.net" in uri:
        return re.search(AZURE_BLOB_GO, uri) is not None  # Go's FindStringSubmatch
    return uri.startswith(SUPPORTED_PREFIXES)


def _hf_fetches(uri: str) -> bool:
    components = uri[len("hf://") :].split("/")
    if len(components) != 2 or not components[0] or not components[1]:
        return False
    model, _, _revision = components[1].partition(":")
    repo_id = f"{components[0]}/{model}"
    return (
        bool(model)
        and bool(HF_REPO_ID.match(repo_id))
        and ".." not in repo_id
        and ("--" not in repo_id)
    )


def python_fetches(uri: str) -> bool:
    """Storage.download's dispatch, and the parsing of the branch it picks."""
    if uri.startswith(("gs://", "s3://")):
        return bool(uri[5:].split("/", 1)[0])  # a bucket name
    if any(re.search(p, uri) for p in AZURE_BLOB_PY):
        path = uri.split("://", 1)[1].partition("/")[2]
        return "/" in path  # object_name, prefix = path.split("/", 1)
    if uri.startswith("hf://"):
        return _hf_fetches(uri)
    return re.search(URI_PY, uri) is not None  # git repositories and single files


def webhook_mounts(uri: str) -> bool:
    """pvc:// (ParsePvcURI: a claim name first) and oci:// (ParseOciScheme) never reach the
    Python downloader: the pod webhook mounts them."""
    if uri.startswith("pvc://"):
        return bool(uri[len("pvc://") :].split("/")[0])
    return uri.startswith(("oci://", "oci+native://"))


def kserve_fetches(uri: str) -> bool:
    return go_accepts(uri) and (webhook_mounts(uri) or python_fetches(uri))


ACCEPTED = [
    "gs://acme-models/fraud/3.2.0",
    "gs://acme-models",
    "s3://acme.models/churn/2.0.3/",
    "pvc://models/churn/2.0.3",
    "pvc://models",
    "hf://distilbert/distilbert-base-uncased",
    "hf://acme/ticket-router-distilbert:9f2c1e7",
    "https://acmeml.blob.core.windows.net/models/churn/2.0.3",
    "https://acmeml.z12.blob.storage.azure.net/models/churn/",
    "https://models.acme.com/churn/model.tar.gz",
    "https://github.com/acme/churn-model.git",
    "oci://ghcr.io/acme/models/churn:2.0.3",
    "oci://registry.acme.internal:5000/models/churn@sha256:" + "a" * 64,
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_accepted_uris_are_ones_kserve_fetches(uri: str) -> None:
    assert storage_uri_problem(uri) is None
    assert kserve_fetches(uri), uri


REFUSED = [
    # (uri, code, a piece of the hint)
    ("az://models/churn/2.0.3", "MK211", "https://<account>.blob.core.windows.net/"),
    ("abfss://models@acme.dfs.core.windows.net/churn", "MK211", ".blob.core.windows.net"),
    ("http://models.acme.com/churn.tar.gz", "MK211", "https://<host>/<path>"),
    ("file:///mnt/models/churn", "MK211", "hf://<owner>/<model>[:<revision>]"),
    ("ftp://acme/models", "MK211", "gs://<bucket>/<path>"),
    ("GS://acme-models/churn", "MK211", "gs://<bucket>/<path>"),
    ("acme-models/churn", "MK211", "s3://<bucket>/<path>"),
    ("hf://acme/ticket-router@9f2c1e7", "MK230", "hf://acme/ticket-router:9f2c1e7"),
    ("hf://acme/models/ticket-router", "MK230", "hf://distilbert/distilbert-base-uncased"),
    ("hf://ticket-router", "MK230", "hf://"),
    ("hf://acme/ticket-router-", "MK230", "hf://"),
    ("gs://Acme_Models/churn", "MK230", "gs://<bucket>/<path>"),
    ("s3:///churn/2.0.3", "MK230", "s3://<bucket>/<path>"),
    ("pvc:///churn", "MK230", "pvc://<claim>/<path>"),
    ("https://acmeml.blob.core.windows.net/models", "MK230", "<container>/<path>"),
    ("https://acmeml.blob.core.windows.net/", "MK230", "<container>/<path>"),
    ("https://models.acme.com/", "MK230", "https://<host>/<path"),
    ("oci://churn", "MK230", "oci://"),
]


@pytest.mark.parametrize("uri,code,hint", REFUSED)
def test_refused_uris_name_the_accepted_form(uri: str, code: str, hint: str) -> None:
    problem = storage_uri_problem(uri)
    assert problem is not None and problem[0] == code, problem
    assert hint in problem[2], problem


@pytest.mark.parametrize(
    "uri", ["az://models/churn", "abfss://m@a.dfs.core.windows.net/x", "hf://acme/x@9f2c1e7"]
)
def test_the_issue_examples_are_ones_kserve_cannot_fetch(uri: str) -> None:
    assert not kserve_fetches(uri)


def test_registries_are_prefixes() -> None:
    for prefix in ("gs://acme-models", "s3://acme-models/", "pvc://models", "https://h.io/m"):
        assert storage_uri_problem(prefix, prefix=True) is None
        assert kserve_fetches(f"{prefix.rstrip('/')}/churn/2.0.3")
    for prefix in ("hf://acme", "oci://ghcr.io/acme"):
        problem = storage_uri_problem(prefix, prefix=True)
        assert problem is not None and problem[0] == "MK231"
    azure = "https://acmeml.blob.core.windows.net"
    assert storage_uri_problem(azure, prefix=True) is not None  # no container
    assert storage_uri_problem(azure + "/models", prefix=True) is None


# mostly well-formed parts, some odd ones ('@', ':', upper case, '..', empty)
_NAME = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,10}[a-z0-9]", fullmatch=True)
_PART = st.one_of(_NAME, _NAME, _NAME, st.from_regex(r"[A-Za-z0-9._@:$-]{0,10}", fullmatch=True))
_URI = st.builds(
    lambda scheme, parts, slash: scheme + "/".join(parts) + slash,
    st.sampled_from(
        ["gs://", "s3://", "pvc://", "hf://", "https://", "oci://", "az://", "http://", ""]
    ),
    st.lists(_PART, min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
)
_AZURE = st.builds(
    lambda account, rest: f"https://{account}.blob.core.windows.net/{rest}",
    st.from_regex(r"[a-z0-9]{1,26}", fullmatch=True),
    st.from_regex(r"[a-z0-9$-]{0,12}(/[a-z0-9.]{0,6}){0,2}", fullmatch=True),
)


@settings(max_examples=400)
@given(uri=_URI | _AZURE)
def test_whatever_is_accepted_kserve_fetches(uri: str) -> None:
    if storage_uri_problem(uri) is None:
        assert kserve_fetches(uri), uri


@settings(max_examples=200)
@given(prefix=_URI | _AZURE, model=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True))
def test_whatever_registry_is_accepted_derives_fetchable_uris(prefix: str, model: str) -> None:
    if storage_uri_problem(prefix, prefix=True) is not None:
        return
    for version in ("1.0.0", "2.0.0-rc.1", "3.1.4+build.7"):
        derived = f"{prefix.rstrip('/')}/{model}/{version}"
        assert storage_uri_problem(derived) is None, derived
        assert kserve_fetches(derived), derived


def _diagnostics(repo: Path) -> list[tuple[str, int, str, str | None]]:
    return [(d.file, d.line, d.code, d.hint) for d in validate(load(repo)).diagnostics]


def test_storage_uri_diagnostic_is_at_its_line_with_the_fix(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "multi-cloud")
    model = repo / "models" / "ticket-router.yaml"
    text = model.read_text().replace(
        "hf://acme/ticket-router-distilbert:9f2c1e7", "hf://acme/ticket-router-distilbert@9f2c1e7"
    )
    model.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "@9f2c1e7" in s)
    assert _diagnostics(repo) == [
        (
            "models/ticket-router.yaml",
            line,
            "MK230",
            "write hf://acme/ticket-router-distilbert:9f2c1e7",
        )
    ]


def test_registry_and_stable_storage_uri_are_checked(tmp_path: Path) -> None:
    repo = copy_example(tmp_path, "multi-cloud")
    project = repo / "modelkiln.yaml"
    project.write_text(project.read_text().replace("s3://acme-models", "az://acme-models"))
    model = repo / "models" / "ticket-router.yaml"
    model.write_text(model.read_text().replace("hf://acme/ticket-router-distilbert:5b0d7a4", "x"))
    found = {(file, code) for file, _line, code, _hint in _diagnostics(repo)}
    assert found == {("modelkiln.yaml", "MK211"), ("models/ticket-router.yaml", "MK211")}
