"""`modelkiln deploy pipelines`: make Kubeflow Pipelines match an environment's committed
output, through kfp.Client.

- one KFP pipeline per model and environment (`<model>-<env>`);
- a pipeline version per content of pipeline.yaml, named `<model version>-<sha256[:12]>`:
  an existing one is left alone, so a re-run changes nothing;
- per scheduled model one live recurring run in the experiment `modelkiln-<env>`, named
  `modelkiln:<env>/<model>` and described with MARKER: when the version or the schedule
  changed, the new run is created first, then the old one disabled;
- live recurring runs modelkiln made for models no longer scheduled are disabled. A run is
  modelkiln's only when both its name prefix and its description say so.

Every step first looks at what KFP holds, then acts, and is retried as a whole, so a run
that stopped half-way (or a write whose answer was lost) converges when run again.
With the Kubernetes-native store, Argo CD creates pipelines and versions; this only finds
them and manages the recurring runs (KFP has no Kubernetes object for those).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from compiler.deploy.committed import Committed, Desired
from compiler.deploy.kfp_api import with_retries
from compiler.errors import HostError, UsageError

PREFIX = "modelkiln:"
MARKER = "Managed by modelkiln deploy pipelines; changes here are undone by the next deploy."
PAGE = 100
SOURCE_COMMIT = "source_commit"
T = TypeVar("T")


def run_name(env: str, model: str) -> str:
    return f"{PREFIX}{env}/{model}"


def experiment_name(env: str) -> str:
    return f"modelkiln-{env}"


def managed(run: Any) -> bool:
    return str(run.display_name or "").startswith(PREFIX) and str(run.description or "").startswith(
        MARKER
    )


def _equals(key: str, value: str) -> str:
    # the filter kfp.Client.get_pipeline_id sends (filter.proto, EQUALS)
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "stringValue": value}]})


def _all(list_page: Callable[[str], Any], attr: str) -> list[Any]:
    items: list[Any] = []
    token = ""
    while True:
        page = list_page(token)
        items += getattr(page, attr) or []
        token = page.next_page_token or ""
        if not token:
            return items


@dataclass
class Deploy:
    committed: Committed
    client: Any
    namespace: str | None
    dry_run: bool
    lines: list[str] = field(default_factory=list)
    writes: int = 0

    # --- what KFP holds -------------------------------------------------------------------

    def _pipeline_id(self, name: str) -> str | None:
        found = (
            self.client.list_pipelines(
                filter=_equals("display_name", name), namespace=self.namespace, page_size=PAGE
            ).pipelines
            or []
        )
        ids = [p.pipeline_id for p in found if p.display_name == name]
        if len(ids) > 1:
            raise HostError(f"Kubeflow Pipelines holds {len(ids)} pipelines named {name}")
        return ids[0] if ids else None

    def _version_id(self, pipeline_id: str, name: str) -> str | None:
        versions = _all(
            lambda t: self.client.list_pipeline_versions(pipeline_id, page_token=t, page_size=PAGE),
            "pipeline_versions",
        )
        return next((v.pipeline_version_id for v in versions if v.name == name), None)

    def _experiment_id(self, create: bool) -> str | None:
        name = experiment_name(self.committed.environment)
        found = (
            self.client.list_experiments(
                filter=_equals("display_name", name), namespace=self.namespace, page_size=PAGE
            ).experiments
            or []
        )
        ids = [e.experiment_id for e in found if e.display_name == name]
        if ids or not create:
            return ids[0] if ids else None
        made = self._act(
            f"experiment {name}: created",
            lambda: self.client.create_experiment(name, MARKER, namespace=self.namespace),
        )
        return str(made.experiment_id) if made is not None else None

    def _runs(self, experiment_id: str | None) -> list[Any]:
        if experiment_id is None:
            return []
        runs = _all(
            lambda t: self.client.list_recurring_runs(
                page_token=t, page_size=PAGE, experiment_id=experiment_id
            ),
            "recurring_runs",
        )
        return [r for r in runs if managed(r) and str(r.mode) == "ENABLE"]

    # --- acting ---------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.lines.append(f"{self.committed.environment}: {text}")

    def _act(self, text: str, write: Callable[[], T]) -> T | None:
        """A write to KFP, said once it succeeded (a retried step says it once); a dry run
        only says it."""
        self.writes += 1
        if self.dry_run:
            self._say("would: " + text)
            return None
        done = write()
        self._say(text)
        return done

    def _ensure_pipeline(self, d: Desired) -> tuple[str | None, str | None]:
        """(pipeline id, version id); None for what a dry run would create."""
        native = self.committed.store == "kubernetes"
        pid = self._pipeline_id(d.pipeline)
        vid = self._version_id(pid, d.version) if pid else None
        if native and vid is None:
            raise HostError(
                f"pipeline {d.pipeline} version {d.version} is not in Kubeflow Pipelines",
                "with pipelines.store: kubernetes Argo CD creates it: wait for the "
                f"{self.committed.environment} Application to sync, then run again",
            )
        if pid is None:
            pid = self._act(f"pipeline {d.pipeline}: created", partial(self._create_pipeline, d))
        if vid is None:
            made = self._act(
                f"pipeline {d.pipeline}: version {d.version} uploaded",
                lambda: self.client.upload_pipeline_version(
                    str(d.path), d.version, pipeline_id=pid, description=MARKER
                ),
            )
            vid = made.pipeline_version_id if made is not None else None
        return pid, vid

    def _create_pipeline(self, d: Desired) -> str:
        from kfp_server_api import V2beta1Pipeline

        body = V2beta1Pipeline(
            name=d.pipeline, display_name=d.pipeline, description=MARKER, namespace=self.namespace
        )
        # kfp.Client's generated PipelineService: a pipeline without a first version, so
        # that every version is one modelkiln named
        created = self.client.pipelines.pipeline_service_create_pipeline(pipeline=body)
        return str(created.pipeline_id)

    def _current(self, run: Any, d: Desired, vid: str | None) -> bool:
        """Does a live run already do what d says? (The source commit it was given is
        provenance, not a setting: a later commit that leaves the pipeline alone keeps it.)"""
        s = d.schedule
        assert s is not None
        ref = run.pipeline_version_reference
        cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else None
        params = dict((run.runtime_config.parameters or {}) if run.runtime_config else {})
        params.pop(SOURCE_COMMIT, None)
        wanted = {k: v for k, v in d.parameters.items() if k != SOURCE_COMMIT}
        return (
            vid is not None
            and ref is not None
            and ref.pipeline_version_id == vid
            and cron == s.cron
            and str(run.max_concurrency) == str(s.max_concurrency)
            and bool(run.no_catchup) == s.no_catchup
            and params == wanted
        )

    def _schedule(
        self,
        d: Desired,
        ids: tuple[str | None, str | None],
        live: list[Any],
        experiment: Callable[[], str | None],
    ) -> None:
        """One live run for d: keep a current one or create it, then disable the others."""
        s = d.schedule
        assert s is not None
        name = run_name(self.committed.environment, d.model)
        mine = [r for r in live if r.display_name == name]
        keep = next((r for r in mine if self._current(r, d, ids[1])), None)
        if keep is None:
            params = {**d.parameters, SOURCE_COMMIT: self.committed.source_commit or ""}
            keep = self._act(
                f"schedule {name}: created ({s.cron}, version {d.version})",
                lambda: self.client.create_recurring_run(
                    experiment_id=experiment(),
                    job_name=name,
                    description=f"{MARKER} Pipeline {d.pipeline}, version {d.version}.",
                    cron_expression=s.cron,
                    max_concurrency=s.max_concurrency,
                    no_catchup=s.no_catchup,
                    params=params,
                    pipeline_id=ids[0],
                    version_id=ids[1],
                ),
            )
        for run in mine:
            if run is not keep:
                self._disable(run, "superseded")

    def _disable(self, run: Any, why: str) -> None:
        self._act(
            f"schedule {run.display_name}: disabled {run.recurring_run_id} ({why})",
            partial(self.client.disable_recurring_run, run.recurring_run_id),
        )

    def run(self) -> None:
        c = self.committed
        ids: dict[str, tuple[str | None, str | None]] = {}
        for d in c.pipelines:
            ids[d.model] = with_retries(
                f"pipeline {d.pipeline} version {d.version}", partial(self._ensure_pipeline, d)
            )
        scheduled = [d for d in c.pipelines if d.schedule is not None]
        cache: dict[str, str | None] = {}

        def experiment(create: bool = False) -> str | None:
            """The environment's experiment; made only when a run is created in it."""
            if cache.get("id") is None and ("looked" not in cache or create):
                cache["looked"] = None
                cache["id"] = self._experiment_id(create=create and not self.dry_run)
            return cache["id"]

        def schedule(d: Desired) -> None:
            self._schedule(d, ids[d.model], self._runs(experiment()), lambda: experiment(True))

        for d in scheduled:
            with_retries(f"schedule of {d.model}", partial(schedule, d))
        wanted = {run_name(c.environment, d.model) for d in scheduled}

        def removed() -> None:
            for run in self._runs(experiment()):
                if run.display_name not in wanted:
                    self._disable(run, "no longer scheduled in the output")

        with_retries("disabling schedules of removed models", removed)
        if self.writes == 0:
            n, k = len(c.pipelines), len(scheduled)
            self._say(f"up to date ({n} pipeline{'s' * (n != 1)}, {k} schedule{'s' * (k != 1)})")


def deploy(committed: Committed, host: str, namespace: str | None, dry_run: bool) -> list[str]:
    """Make KFP at host match committed; returns what was (or, dry, would be) done."""
    from compiler.deploy.kfp_api import client

    job = Deploy(committed, client(host, namespace), namespace, dry_run)
    job.run()
    return job.lines


def from_output(
    root: Path, env: str, host: str | None, namespace: str | None, dry_run: bool
) -> list[str]:
    """The command: read and check ROOT's committed output, then deploy. Raises
    OutputInvalid (exit 1), UsageError (2), HostError (3)."""
    import os

    from compiler.deploy.committed import output_of, read

    committed = read(output_of(root), env)
    host = host or committed.host or os.environ.get("KF_PIPELINES_ENDPOINT")
    if not host and not committed.pipelines:  # never had any: no KFP to ask
        return [f"{env}: no trained models and no Kubeflow Pipelines host; nothing to do"]
    if not host:
        raise UsageError(
            f"no Kubeflow Pipelines host for {env}",
            "pass --host URL, or set the environment's pipelines.host in the Project",
        )
    return deploy(committed, host, namespace or committed.namespace, dry_run)
