"""What KServe 0.20's request logger stores, rebuilt byte for byte as the Go code writes it, so
the drift job is tested on the consumer's real format (kserve/kserve v0.20.0):

- pkg/logger/types.go: the LogRequest struct and its json tags (omitempty on all but
  occurrenceTime);
- pkg/logger/handler.go: a request's record (reqType CEInferenceRequest, the agent's time);
- pkg/logger/marshaller_json.go: one record -> json.Marshal(record), several -> the array;
- pkg/logger/store.go: getObjectKey and parseBlobStoreURL, the object's bucket and key.
"""

from __future__ import annotations

import base64
import json
import posixpath
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

REQUEST = "org.kubeflow.serving.inference.request"  # pkg/logger/worker.go CEInferenceRequest
RESPONSE = "org.kubeflow.serving.inference.response"


def go_url(url: str) -> dict[str, Any]:
    """encoding/json of a *url.URL: net/url.URL has no MarshalJSON or MarshalText, so it is
    the struct's exported fields, in declaration order (Go 1.22+)."""
    parts = urlsplit(url)
    return {
        "Scheme": parts.scheme,
        "Opaque": "",
        "User": None,
        "Host": parts.netloc,
        "Path": parts.path,
        "RawPath": "",
        "OmitHost": False,
        "ForceQuery": False,
        "RawQuery": parts.query,
        "Fragment": "",
        "RawFragment": "",
    }


def go_time(when: datetime) -> str:
    """time.Time's MarshalJSON: RFC 3339 with nanoseconds, trailing zeros dropped, Z for UTC."""
    when = when.astimezone(UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += "." + f"{when.microsecond:06d}000".rstrip("0")
    return text + "Z"


def go_marshal(value: Any) -> bytes:
    """json.Marshal's bytes: no spaces, non-ASCII as is, and <, >, & (and U+2028, U+2029)
    escaped as \\u003c and so on (encoding/json escapes HTML by default)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def log_request(
    body: bytes,
    *,
    id: str,
    when: datetime,
    isvc: str,
    namespace: str,
    log_url: str,
    req_type: str = REQUEST,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """A LogRequest as handler.go queues it, as a dict in the struct's field order, with
    omitempty applied (empty metadata and annotations, certName and tlsSkipVerify drop)."""
    return {
        "url": go_url(log_url),
        "bytes": base64.b64encode(body).decode("ascii"),  # []byte: standard base64
        "contentType": content_type,
        "reqType": req_type,
        "id": id,
        "sourceUri": go_url(f"http://{isvc}-predictor-7d9f8-abcde/"),
        "inferenceService": isvc,
        "namespace": namespace,
        "component": "predictor",
        "endpoint": "default",
        "metadata": {"Content-Type": [content_type]},
        "occurrenceTime": go_time(when),
    }


def marshal_batch(batch: list[dict[str, Any]]) -> bytes:
    """The JSON marshaller: a single record alone, otherwise the array."""
    return go_marshal(batch[0] if len(batch) == 1 else batch)


def object_location(log_url: str, store_path: str, first: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) of a batch's object: parseBlobStoreURL then getObjectKey, named after
    the first record's id and the last dotted part of its reqType."""
    parts = urlsplit(log_url)
    bucket = parts.username if parts.username else parts.hostname
    assert bucket, "no bucket specified in url"
    prefix = posixpath.join(
        *(p for p in (parts.path.lstrip("/"), first["namespace"], first["inferenceService"]) if p),
        first["component"],
        store_path,
    )
    req_type = first["reqType"].rsplit(".", 1)[-1]
    return bucket, f"{prefix}/{first['id']}-{req_type}.json"
