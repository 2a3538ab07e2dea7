"""A Kubeflow Pipelines v2beta1 REST API in the test process, for kfp.Client.

It implements the endpoints `modelkiln deploy pipelines` uses, with state, and holds the
contract the way the real API server does (kubeflow/pipelines 2.17.0):

- every JSON request body is checked against the kfp-server-api model of the endpoint
  (the generated models of the same REST contract, kfp-server-api 2.17) and then
  deserialised into it: an unknown field or a wrong type is a 400, as the server's
  grpc-gateway marshaler refuses them (backend/src/apiserver/common/utils.go
  CustomMarshaler: protojson, UseProtoNames, DiscardUnknown false);
- every response is built from those models and serialised by kfp_server_api itself;
- the upload endpoint is multipart with the file in `uploadfile` and name, display_name,
  pipelineid, description in the query string; the version's display name defaults to its
  name (backend/src/apiserver/server/pipeline_upload_server.go uploadPipelineVersion);
  the file must parse as a PipelineSpec (kfp's own reader: protobuf ParseDict);
- list filters are filter.proto JSON: EQUALS on display_name / name, what kfp.Client sends.

Faults are injected per request (`fail`): a status code, or `lost` (the server does the
work, then drops the connection before answering).
"""

from __future__ import annotations

import datetime
import email.parser
import email.policy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kfp_server_api
import yaml
from kfp_server_api import models

# proto3 JSON writes int64 as a string and reads either (max_concurrency is int64)
INT64_FIELDS = {"max_concurrency", "interval_second", "total_size"}
_CLIENT = kfp_server_api.ApiClient()


class BadRequest(Exception):
    pass


def check(data: Any, kind: str, where: str = "body") -> None:
    """data must be what the model kind (a kfp_server_api type string) allows."""
    if kind.startswith("list["):
        if not isinstance(data, list):
            raise BadRequest(f"{where}: expected a list")
        for i, item in enumerate(data):
            check(item, kind[5:-1], f"{where}[{i}]")
        return
    if kind.startswith("dict("):
        if not isinstance(data, dict):
            raise BadRequest(f"{where}: expected an object")
        inner = re.match(r"dict\(([^,]*), (.*)\)", kind)
        assert inner is not None
        for key, value in data.items():
            check(value, inner.group(2), f"{where}.{key}")
        return
    simple: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "bool": bool,
        "int": int,
        "float": (int, float),
    }
    if kind in simple:
        ok = isinstance(data, simple[kind]) and not (kind != "bool" and isinstance(data, bool))
        int64 = where.rsplit(".", 1)[-1] in INT64_FIELDS and isinstance(data, int)
        if not ok and not int64:
            raise BadRequest(f"{where}: expected {kind}, got {type(data).__name__}")
        return
    if kind == "datetime":
        if not isinstance(data, str):
            raise BadRequest(f"{where}: expected an RFC 3339 time")
        datetime.datetime.fromisoformat(data.replace("Z", "+00:00"))
        return
    if kind == "object":
        return
    model = getattr(models, kind)
    if not model.openapi_types:  # an enum
        if data not in model.allowable_values:
            raise BadRequest(f"{where}: {data!r} is not one of {model.allowable_values}")
        return
    if not isinstance(data, dict):
        raise BadRequest(f"{where}: expected an object")
    fields = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, value in data.items():
        if key not in fields:
            raise BadRequest(f'{where}: unknown field "{key}"')
        check(value, model.openapi_types[fields[key]], f"{where}.{key}")


def parse(data: Any, kind: str) -> Any:
    check(data, kind)
    return _CLIENT._ApiClient__deserialize(data, kind)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@dataclass
class State:
    pipelines: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    experiments: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, Any] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    faults: list[tuple[str, str, int | str]] = field(default_factory=list)  # method, path re

    def fail(self, method: str, path: str, what: int | str, times: int = 1) -> None:
        """The next `times` requests matching method and path (a regex) fail with what."""
        self.faults += [(method, path, what)] * times

    def live_runs(self) -> list[Any]:
        return [r for r in self.runs.values() if r.mode == "ENABLE"]


def _filtered(items: list[Any], query: dict[str, str]) -> list[Any]:
    raw = query.get("filter")
    if not raw:
        return items
    for p in json.loads(raw).get("predicates", []):
        # protojson takes an enum by name or number (kfp.Client sends 1, filter.proto EQUALS)
        if p.get("operation") not in ("EQUALS", 1) or p.get("key") not in ("display_name", "name"):
            raise BadRequest(f"unsupported filter predicate {p}")
        items = [i for i in items if getattr(i, p["key"]) == p.get("stringValue")]
    return items


def _page(items: list[Any], query: dict[str, str], attr: str, kind: str) -> Any:
    start = int(query.get("page_token") or 0)
    size = int(query.get("page_size") or 20)
    chunk = items[start : start + size]
    more = start + size < len(items)
    token = str(start + size) if more else None
    return getattr(models, kind)(
        **{attr: chunk, "total_size": len(items), "next_page_token": token}
    )


class Api:
    """The endpoints: (method, path) -> a model or None (404)."""

    def __init__(self, state: State) -> None:
        self.s = state

    def route(self, method: str, path: str, query: dict[str, str], body: bytes, ctype: str) -> Any:
        s = self.s
        base = "/apis/v2beta1/"
        if not path.startswith(base):
            return None
        p = path[len(base) :]
        if (method, p) == ("GET", "healthz"):
            return models.V2beta1GetHealthzResponse(multi_user=False, pipeline_store="database")
        if (method, p) == ("GET", "pipelines"):
            items = _filtered(list(s.pipelines.values()), query)
            return _page(items, query, "pipelines", "V2beta1ListPipelinesResponse")
        if (method, p) == ("POST", "pipelines"):
            return self.create_pipeline(parse(json.loads(body), "V2beta1Pipeline"))
        if (method, p) == ("POST", "pipelines/upload_version"):
            return self.upload_version(query, body, ctype)
        m = re.fullmatch(r"pipelines/([^/]+)/versions", p)
        if method == "GET" and m:
            if m.group(1) not in s.pipelines:
                return None
            items = [v for v in s.versions.values() if v.pipeline_id == m.group(1)]
            items = _filtered(items, query)
            return _page(items, query, "pipeline_versions", "V2beta1ListPipelineVersionsResponse")
        if (method, p) == ("GET", "experiments"):
            items = _filtered(list(s.experiments.values()), query)
            return _page(items, query, "experiments", "V2beta1ListExperimentsResponse")
        if (method, p) == ("POST", "experiments"):
            return self.create_experiment(parse(json.loads(body), "V2beta1Experiment"))
        if (method, p) == ("GET", "recurringruns"):
            items = list(s.runs.values())
            if query.get("experiment_id"):
                items = [r for r in items if r.experiment_id == query["experiment_id"]]
            items = _filtered(items, query)
            return _page(items, query, "recurring_runs", "V2beta1ListRecurringRunsResponse")
        if (method, p) == ("POST", "recurringruns"):
            return self.create_run(parse(json.loads(body), "V2beta1RecurringRun"))
        m = re.fullmatch(r"recurringruns/([^/:]+):disable", p)
        if method == "POST" and m:
            run = s.runs.get(m.group(1))
            if run is None:
                return None
            s.writes.append(f"disable {run.display_name}")
            run.mode, run.status, run.updated_at = "DISABLE", "DISABLED", now()
            return {}
        return None

    def create_pipeline(self, body: Any) -> Any:
        name = body.name or body.display_name
        if not name or any(p.name == name for p in self.s.pipelines.values()):
            raise BadRequest(f"pipeline name {name!r} is empty or taken")
        body.pipeline_id, body.name = str(uuid.uuid4()), name
        body.display_name = body.display_name or name
        body.created_at = now()
        self.s.pipelines[body.pipeline_id] = body
        self.s.writes.append(f"create pipeline {name}")
        return body

    def upload_version(self, query: dict[str, str], body: bytes, ctype: str) -> Any:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        upload = parts.get("uploadfile")
        pid = query.get("pipelineid", "")
        if upload is None or pid not in self.s.pipelines:
            raise BadRequest("Failed to create a pipeline version")
        docs = list(yaml.safe_load_all(bytes(upload.get_payload(decode=True))))
        from google.protobuf import json_format
        from kfp.pipeline_spec import pipeline_spec_pb2

        json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())  # a PipelineSpec
        name = query.get("name") or upload.get_filename()
        if any(v.pipeline_id == pid and v.name == name for v in self.s.versions.values()):
            raise BadRequest(f"version {name} exists")
        version = models.V2beta1PipelineVersion(
            pipeline_id=pid,
            pipeline_version_id=str(uuid.uuid4()),
            name=name,
            display_name=query.get("display_name") or name,
            description=query.get("description"),
            created_at=now(),
            pipeline_spec=docs[0],
        )
        self.s.versions[version.pipeline_version_id] = version
        self.s.writes.append(f"upload version {name}")
        return version

    def create_experiment(self, body: Any) -> Any:
        body.experiment_id, body.created_at = str(uuid.uuid4()), now()
        body.storage_state = "AVAILABLE"
        self.s.experiments[body.experiment_id] = body
        self.s.writes.append(f"create experiment {body.display_name}")
        return body

    def create_run(self, body: Any) -> Any:
        ref = body.pipeline_version_reference
        version = self.s.versions.get(ref.pipeline_version_id) if ref else None
        if version is None or version.pipeline_id != ref.pipeline_id:
            raise BadRequest("pipeline_version_reference names no pipeline version")
        if body.experiment_id not in self.s.experiments:
            raise BadRequest(f"experiment {body.experiment_id!r} does not exist")
        cron = (
            body.trigger.cron_schedule.cron if body.trigger and body.trigger.cron_schedule else ""
        )
        if len(cron.split()) != 6:  # the scheduled workflow's cron has seconds first
            raise BadRequest(f"cron {cron!r} does not have 6 fields")
        body.recurring_run_id, body.created_at = str(uuid.uuid4()), now()
        body.mode = body.mode or "ENABLE"
        body.status = "ENABLED" if body.mode == "ENABLE" else "DISABLED"
        body.max_concurrency = str(body.max_concurrency)
        self.s.runs[body.recurring_run_id] = body
        self.s.writes.append(f"create run {body.display_name}")
        return body


class Handler(BaseHTTPRequestHandler):
    api: Api
    lock: threading.Lock

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            fault = next(
                (f for f in self.api.s.faults if f[0] == method and re.fullmatch(f[1], url.path)),
                None,
            )
            if fault is not None:
                self.api.s.faults.remove(fault)
                if fault[2] != "lost":
                    return self._send(int(fault[2]), {"error": "injected", "code": 14})
            try:
                result = self.api.route(method, url.path, query, body, self.headers["Content-Type"])
            except (BadRequest, ValueError, KeyError) as err:
                return self._send(400, {"error": str(err), "code": 3, "message": str(err)})
        if fault is not None:  # lost: the work is done, the answer never arrives
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if result is None:
            return self._send(404, {"error": "not found", "code": 5})
        return self._send(200, _CLIENT.sanitize_for_serialization(result))

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


@contextmanager
def serve(state: State | None = None) -> Iterator[tuple[str, State]]:
    """A running server on 127.0.0.1 and its state; yields (host URL, state)."""
    state = state or State()
    handler = type("H", (Handler,), {"api": Api(state), "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
