"""Read the requests KServe's request logger stored, as feature values for the drift job.

Shipped next to drift_job.py in the drift job's ConfigMap; imports only the standard
library and pyarrow (for its filesystems: local, gs://, s3://, abfs://).

What the logger writes (KServe v0.20.0, with `mode: request`, a blob `url` and
`storage.parameters.format: json`):

- one object per batch, at `<url>/<namespace>/<isvc>/predictor/<storage.path>/<id>-request.json`
  (pkg/logger/store.go getObjectKey; `id` is the first record's);
- its content is Go's encoding/json of one `LogRequest` when the batch holds one record and
  of a JSON array of them otherwise (pkg/logger/marshaller_json.go);
- a LogRequest (pkg/logger/types.go) carries the request body base64-encoded in `bytes`
  (a []byte), `reqType` "org.kubeflow.serving.inference.request", and `occurrenceTime`
  (RFC 3339 with nanoseconds, when the agent received the request).

The body is a V1 request, `{"instances": [...]}` with rows as objects (named features) or
lists (positional: `columns` names them), or a V2 / Open Inference Protocol request,
`{"inputs": [{"name", "shape", "datatype", "data"}, ...]}` with one tensor per feature or
one [rows, columns] tensor that `columns` names.
"""

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

REQUEST_SUFFIX = "-request.json"
REQUEST_TYPE = "request"  # the last dotted part of LogRequest.reqType (pkg/logger/worker.go)


class PayloadError(ValueError):
    """A logged request whose body the job cannot turn into feature values."""


@dataclass
class LoggedInputs:
    """The feature values of the requests logged in the window, and what was skipped."""

    values: dict[str, list[Any]]
    objects: int = 0
    requests: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        rows = max((len(v) for v in self.values.values()), default=0)
        return {
            "objects": self.objects,
            "requests": self.requests,
            "rows": rows,
            "skipped": dict(sorted(self.skipped.items())),
        }


# --- the objects ------------------------------------------------------------------------


def _filesystem(uri: str) -> tuple[Any, str]:
    """A pyarrow filesystem and the path of uri in it (local paths and file:// included)."""
    import os

    import pyarrow.fs as pafs

    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), uri[len("file://") :]
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, str(path)


def log_objects(uri: str, since: datetime) -> tuple[Any, list[str]]:
    """The request objects in the logger's folder that may hold requests after `since`.

    An object is written after every request in it, so one last modified before `since`
    holds none in the window and is not read.
    """
    import pyarrow.fs as pafs

    fs, root = _filesystem(uri)
    selector = pafs.FileSelector(root.rstrip("/"), recursive=False, allow_not_found=True)
    since_ns = int(since.timestamp() * 1e9)
    paths = [
        info.path
        for info in fs.get_file_info(selector)
        if info.type == pafs.FileType.File
        and info.base_name.endswith(REQUEST_SUFFIX)
        and (info.mtime_ns is None or info.mtime_ns >= since_ns)
    ]
    return fs, sorted(paths)


def records(data: bytes) -> list[dict[str, Any]]:
    """The LogRequests of one object: a single JSON object, or a JSON array of them."""
    parsed = json.loads(data)
    items = parsed if isinstance(parsed, list) else [parsed]
    if not all(isinstance(item, dict) for item in items):
        raise PayloadError("the object is neither a LogRequest nor an array of them")
    return items


def occurred(record: dict[str, Any]) -> datetime | None:
    """A LogRequest's occurrenceTime (Go's RFC 3339 with up to nanoseconds), or None."""
    value = record.get("occurrenceTime")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)  # Python >= 3.11 reads "Z" and nanoseconds
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def body(record: dict[str, Any]) -> Any:
    """The request body of a LogRequest: `bytes` base64-decoded, parsed as JSON."""
    encoded = record.get("bytes")
    if not isinstance(encoded, str):
        raise PayloadError("the LogRequest has no bytes")
    try:
        return json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"the request body is not JSON: {exc}") from exc


# --- the request bodies -----------------------------------------------------------------


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [item for part in data for item in _flatten(part)]
    return [data]


Rows = dict[str, list[Any]]


def _v1_rows(instances: Any, features: Sequence[str], columns: Sequence[str] | None) -> Rows:
    if not isinstance(instances, list):
        raise PayloadError('"instances" is not a list')
    out: Rows = {f: [] for f in features}
    index = {name: i for i, name in enumerate(columns or ())}
    for row in instances:
        if isinstance(row, dict):
            for f in features:
                out[f].append(row.get(f))
        elif isinstance(row, list):
            if columns is None:
                raise PayloadError("rows are lists: name them with monitoring.drift.columns")
            if len(row) != len(columns):
                raise PayloadError(f"a row has {len(row)} values, columns names {len(columns)}")
            for f in features:
                out[f].append(row[index[f]] if f in index else None)
        elif columns is not None and len(columns) == 1:
            for f in features:
                out[f].append(row if f == columns[0] else None)
        else:
            raise PayloadError("an instance is neither an object nor a list")
    return out


def _tensor(tensor: dict[str, Any]) -> tuple[list[int], list[Any]]:
    shape, data = tensor.get("shape"), _flatten(tensor.get("data"))
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise PayloadError(f"tensor {tensor.get('name')!r} has no valid shape")
    if math.prod(shape) != len(data):
        raise PayloadError(f"tensor {tensor.get('name')!r} has {len(data)} values for {shape}")
    return shape, data


def _v2_rows(inputs: list[Any], features: Sequence[str], columns: Sequence[str] | None) -> Rows:
    tensors = {t.get("name"): t for t in inputs if isinstance(t, dict)}
    out: Rows = {}
    for f in features:
        if f in tensors:  # one tensor per feature: shape [rows] or [rows, 1]
            shape, data = _tensor(tensors[f])
            if math.prod(shape[1:]) != 1:
                raise PayloadError(f"tensor {f!r} has shape {shape}, not [rows] or [rows, 1]")
            out[f] = data
    missing = [f for f in features if f not in out]
    if not missing:
        return out
    if columns is None:
        raise PayloadError(
            f"no tensor named {missing[0]!r}; name a [rows, columns] tensor's "
            "columns with monitoring.drift.columns"
        )
    index = {name: i for i, name in enumerate(columns)}
    for tensor in tensors.values():  # the first [rows, len(columns)] tensor holds the rest
        shape, data = _tensor(tensor)
        if len(shape) == 2 and shape[1] == len(columns):
            width = shape[1]
            for f in missing:
                out[f] = data[index[f] :: width] if f in index else [None] * shape[0]
            return out
    raise PayloadError(f"no tensor has shape [rows, {len(columns)}] for monitoring.drift.columns")


def feature_rows(request: Any, features: Sequence[str], columns: Sequence[str] | None) -> Rows:
    """Each feature's values in one V1 or V2 request body (None where a row lacks it)."""
    if isinstance(request, dict) and "instances" in request:
        return _v1_rows(request["instances"], features, columns)
    inputs = request.get("inputs") if isinstance(request, dict) else None
    if isinstance(inputs, list) and all(isinstance(t, dict) and "data" in t for t in inputs):
        return _v2_rows(inputs, features, columns)
    raise PayloadError('the body is neither V1 ("instances") nor V2 ("inputs" tensors)')


# --- all of it --------------------------------------------------------------------------


def read_logged_inputs(
    uri: str,
    features: Sequence[str],
    columns: Sequence[str] | None,
    window_seconds: float,
    now: datetime | None = None,
) -> LoggedInputs:
    """The values of `features` in the requests logged under uri in the last window_seconds.

    A record that is not a request, lies outside the window, or whose body cannot be read is
    skipped and counted by reason; an object that cannot be parsed is counted as well.
    """
    end = now or datetime.now(UTC)
    start = end - timedelta(seconds=window_seconds)
    fs, paths = log_objects(uri, start)
    logged = LoggedInputs({f: [] for f in features})
    for path in paths:
        with fs.open_input_stream(path) as stream:
            data = stream.read()
        logged.objects += 1
        try:
            batch = records(data)
        except ValueError:
            logged.skipped["unreadable object"] += 1
            continue
        for record in batch:
            _add(logged, record, features, columns, start, end)
    return logged


def _add(
    logged: LoggedInputs,
    record: dict[str, Any],
    features: Sequence[str],
    columns: Sequence[str] | None,
    start: datetime,
    end: datetime,
) -> None:
    if str(record.get("reqType", "")).rsplit(".", 1)[-1] != REQUEST_TYPE:
        logged.skipped["not a request"] += 1
        return
    when = occurred(record)
    if when is None or not start <= when <= end:
        logged.skipped["outside the window"] += 1
        return
    try:
        rows = feature_rows(body(record), features, columns)
    except PayloadError as exc:
        logged.skipped[str(exc)] += 1
        return
    logged.requests += 1
    for f in features:
        logged.values[f].extend(rows.get(f, ()))
