"""The command line; thin: parse arguments, call the phases, print, exit.

Exit codes: 0 ok, 1 invalid specs (or a failed gate), 2 usage (bad arguments, ROOT is not
a spec repository), 3 a problem of the machine (I/O, permissions, git) or an internal error:
one line naming what failed; the traceback only with --debug (or MODELKILN_DEBUG=1).
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler import __version__
from compiler.cli_base import (
    FORMATS,
    Cli,
    fail,
    fail_usage,
    plural,
    printable,
    report,
    spec_root,
)
from compiler.errors import UsageError

if TYPE_CHECKING:
    from compiler.build import Compiled
    from compiler.diagnostics import Diagnostic


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelkiln")
@click.option(
    "--debug",
    is_flag=True,
    help="Show the Python traceback of an environment or internal error (exit 3).",
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """modelkiln: validate ML specs and compile them for Kubeflow, Terraform and KServe."""
    ctx.obj = {"debug": debug}
    # A short-lived process that builds many small objects and frees them at exit: the
    # cyclic collector only costs time here (about a fifth of a large validate).
    gc.disable()


@main.command()
@click.argument("root", default=".", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for workflow annotations, sarif for "
    "code scanning.",
)
def validate(root: Path, fmt: str) -> None:
    """Validate the spec repository at ROOT (default: the current folder)."""
    from compiler.load import load
    from compiler.validate import validate as run_validation

    root = spec_root(root)
    sources = load(root)
    result = run_validation(sources)
    report(result.diagnostics, sources.texts, fmt)
    if fmt == "text" and result.ok:
        s = result.specs
        counts = ", ".join(
            plural(n, word)
            for n, word in (
                (len(s.models), "model"),
                (len(s.datasources), "data source"),
                (len(s.pools), "GPU pool"),
                (len(s.environments), "environment"),
            )
        )
        click.echo(f"✓ {root}: valid ({plural(len(sources.files), 'file')}: {counts})")
    sys.exit(0 if result.ok else 1)


@main.command(name="compile")
@click.argument("root", default=".", type=click.Path(path_type=Path))
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="NAME",
    help="Only this environment (repeatable). Default: every environment.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder. Default: the Project's spec.output (relative to ROOT).",
)
@click.option(
    "--changed-since",
    "changed_since",
    default=None,
    metavar="REF",
    help="Render only the Models whose spec, data sources, pools or Project changed since "
    "REF; keep the rest of the output as it is.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Change nothing; exit 1 and list the stale files when the output differs from "
    "what the specs compile to now (the CI drift gate). With --changed-since BASE: render "
    "only what changed since BASE and require every other file to be BASE's.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to print diagnostics when the specs are invalid.",
)
def compile_command(
    root: Path,
    envs: tuple[str, ...],
    out: Path | None,
    changed_since: str | None,
    check: bool,
    fmt: str,
) -> None:
    """Validate, then compile ROOT into <out>/<env>/... artifacts."""
    compiled = _compile(
        spec_root(root), envs=envs, out=out, check=check, fmt=fmt, changed_since=changed_since
    )
    assert compiled.plan is not None and compiled.out is not None
    if check:
        _checked(compiled)
        return
    _summary(compiled)


def _checked(compiled: Compiled) -> None:
    """The drift gate's answer: exit 1 when a file is not what it must be."""
    if compiled.base is not None:
        if compiled.full_reason is not None:
            click.echo(f"checked every model: {compiled.full_reason}")
        else:
            shown = ", ".join(sorted(compiled.rendered_models or ())) or "none"
            click.echo(
                f"checked the models changed since {compiled.base}: {shown}; "
                f"every other file against {compiled.base}'s committed output"
            )
    for line in compiled.stale:
        click.echo(line)
    if compiled.stale:
        click.echo(
            f"{compiled.out} is stale: {plural(len(compiled.stale), 'file')} differ from "
            "the specs; run `modelkiln compile` and commit the result"
        )
        sys.exit(1)
    click.echo(f"{compiled.out} is up to date ({plural(len(compiled.outputs), 'file')})")


def _compile(root: Path, fmt: str, **options: Any) -> Compiled:
    """Run the compile phases; invalid specs print their diagnostics and exit 1."""
    from compiler.build import compile_repository

    try:
        compiled = compile_repository(root, **options)
    except UsageError as err:
        fail_usage(str(err), err.hint)
        raise
    if not compiled.ok:
        report(compiled.diagnostics, compiled.texts, fmt)
        sys.exit(1)
    _warn(compiled.diagnostics, compiled.texts, fmt)
    return compiled


def _warn(diagnostics: list[Diagnostic], texts: dict[str, list[str]], fmt: str) -> None:
    """Warnings of a valid repository, on stderr so that stdout stays the command's own
    answer (the machine formats, json and sarif, are for validate)."""
    from compiler.diagnostics import format_github, format_text

    warnings = [d for d in diagnostics if d.severity == "warning"]
    if not warnings or fmt in ("json", "sarif"):
        return
    text = format_github(warnings) if fmt == "github" else format_text(warnings, texts)
    click.echo(printable(text), nl=False, err=True)


def _summary(compiled: Compiled) -> None:
    assert compiled.plan is not None and compiled.changes is not None
    for env in compiled.plan.environments:
        gpu_lo, gpu_hi = env.gpu_range()
        cost_lo, cost_hi = env.monthly_cost_range()
        pipelines = sum(1 for m in env.models if m.training is not None)
        click.echo(
            f"{env.name}: {plural(pipelines, 'pipeline')}; GPUs {gpu_lo}-{gpu_hi}; "
            f"est. ${cost_lo:,.0f}-${cost_hi:,.0f}/month on {env.provider}"
        )
    changes = compiled.changes
    if compiled.rendered_models is not None:
        shown = ", ".join(sorted(compiled.rendered_models)) or "none"
        click.echo(f"rendered models changed since the base: {shown}")
    click.echo(
        f"{compiled.out}: {len(changes.written)} written, {len(changes.pruned)} pruned, "
        f"{changes.unchanged} unchanged"
    )


@main.command(name="commit")
@click.argument("root", default=".", type=click.Path(path_type=Path))
@click.option("--message", "-m", "custom", default=None, help="Subject of the commit.")
@click.option(
    "--branch",
    default=None,
    metavar="BRANCH",
    help="Commit the output to BRANCH (e.g. a deploy branch) without touching the working "
    "tree. Default: the current branch.",
)
@click.option("--push", is_flag=True, help="Push the branch; retried if the remote moved.")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Compile specs with uncommitted changes (the recorded source commit says -dirty).",
)
def commit_command(
    root: Path,
    custom: str | None,
    branch: str | None,
    push: bool,
    remote: str,
    allow_dirty: bool,
) -> None:
    """Compile ROOT, then commit only its output folder, with provenance trailers."""
    from compiler.gitops.commit import CommitError, commit

    root = spec_root(root)
    try:
        result, compiled = commit(
            root,
            custom_message=custom,
            branch=branch,
            push=push,
            remote=remote,
            allow_dirty=allow_dirty,
        )
    except UsageError as err:
        fail_usage(str(err), err.hint)
        return
    except CommitError as err:  # uncommitted specs: a gate, like compile --check (exit 1)
        fail(1, str(err), err.hint)
        return
    if result is None:
        report(compiled.diagnostics, compiled.texts, "text")
        sys.exit(1)
    where = f"{result.branch}" + (" (pushed)" if result.pushed else "")
    if result.committed:
        tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
        click.echo(f"committed {str(result.commit)[:12]} to {where}: {result.summary}{tries}")
    else:
        click.echo(f"{where}: {result.summary}")


@main.command(name="diff")
@click.argument("root", default=".", type=click.Path(path_type=Path))
@click.option("--base", required=True, metavar="REF", help="Branch, tag or commit to compare with.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "md", "json"]),
    default="text",
    show_default=True,
    help="markdown (or md) is a pull-request comment.",
)
def diff_command(root: Path, base: str, fmt: str) -> None:
    """What the working tree changes against REF: models, GPUs, costs, every artifact.
    Exit 1 when a model's training, data or evaluation changed but its version did not."""
    from compiler.gitops.diff import diff

    root = spec_root(root)
    try:
        text, code = diff(root, base, "markdown" if fmt == "md" else fmt)
    except UsageError as err:
        fail_usage(str(err), err.hint)
        return
    click.echo(text, nl=not text.endswith("\n"))
    sys.exit(code)


@main.group(name="deploy")
def deploy_group() -> None:
    """Make a system match the committed output (never recompiles)."""


@deploy_group.command(name="pipelines")
@click.argument("root", default=".", type=click.Path(path_type=Path))
@click.option("--env", required=True, metavar="ENV", help="The environment to deploy.")
@click.option(
    "--host",
    default=None,
    metavar="URL",
    help="KFP API endpoint (default: the "
    "environment's pipelines.host, then KF_PIPELINES_ENDPOINT).",
)
@click.option("--namespace", default=None, metavar="NS", help="Multi-user KFP namespace.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
def deploy_pipelines(
    root: Path, env: str, host: str | None, namespace: str | None, dry_run: bool
) -> None:
    """Upload ROOT's pipelines for ENV to Kubeflow Pipelines and set their schedules."""
    from compiler.deploy.committed import OutputInvalid
    from compiler.deploy.pipelines import from_output

    try:
        lines = from_output(root, env, host, namespace, dry_run)
    except OutputInvalid as err:
        fail(1, str(err), "deploy only what `modelkiln compile` wrote and git holds")
        return
    click.echo("\n".join(lines))


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Folder to write the JSON Schemas to.",
)
def schema(out: Path) -> None:
    """Write the JSON Schemas (draft 2020-12) of every kind."""
    from compiler.fsutil import write_atomic
    from compiler.schemas import render

    out.mkdir(parents=True, exist_ok=True)
    for name, data in render().items():
        write_atomic(out / name, data)
        click.echo(str(out / name))


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default=None, help="Project name (default: the folder's name).")
def init(directory: Path, name: str | None) -> None:
    """Scaffold a starter spec repository in DIRECTORY that validates."""
    from compiler.scaffold import ScaffoldError, scaffold

    try:
        written = scaffold(directory, name)
    except ScaffoldError as err:
        fail_usage(str(err), err.hint)
        return
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"next: modelkiln validate {directory}")


def _rollout_command(func: Any) -> Any:
    """The arguments promote and rollback share: MODEL --env ENV [ROOT] and the commit options."""
    for decorator in reversed(
        [
            click.argument("model"),
            click.argument("root", default=".", type=click.Path(path_type=Path)),
            click.option("--env", required=True, metavar="ENV", help="The environment to change."),
            click.option(
                "--commit",
                "commit_",
                is_flag=True,
                help="Commit the spec edit, then compile and commit the output like `commit`.",
            ),
            click.option(
                "--branch",
                default=None,
                metavar="BRANCH",
                help="With --commit: commit the output to BRANCH, as `commit --branch` does.",
            ),
            click.option("--push", is_flag=True, help="With --commit: push the output's branch."),
            click.option(
                "--remote", default="origin", show_default=True, help="Remote to push to."
            ),
        ]
    ):
        func = decorator(func)
    return main.command()(func)


@_rollout_command
def promote(model: str, root: Path, env: str, **commit: Any) -> None:
    """Make MODEL's canary the stable version in ENV (an edit of its spec file)."""
    from compiler.gitops.promote import promote as run

    _rollout(lambda options: run(spec_root(root), model, env, options), commit)


@_rollout_command
@click.option("--to", "to", default=None, metavar="VERSION", help="A version from git history.")
def rollback(model: str, root: Path, env: str, to: str | None, **commit: Any) -> None:
    """Return MODEL in ENV to its stable version alone (or --to an earlier version)."""
    from compiler.gitops.promote import rollback as run

    _rollout(lambda options: run(spec_root(root), model, env, to, options), commit)


def _rollout(run: Any, flags: dict[str, Any]) -> None:
    from compiler.gitops.commit import CommitError
    from compiler.gitops.promote import CommitOptions, InvalidSpecs, Outcome, Refused

    if not flags["commit_"] and (flags["branch"] or flags["push"]):
        fail_usage("--branch and --push need --commit")
    options = CommitOptions(flags["branch"], flags["push"], flags["remote"])
    try:
        outcome: Outcome = run(options if flags["commit_"] else None)
    except InvalidSpecs as err:
        report(err.diagnostics, err.texts, "text")
        fail(1, str(err))
        return
    except (Refused, CommitError) as err:
        fail(1, str(err), err.hint)
        return
    click.echo(f"{outcome.file}: {outcome.subject}" if outcome.edits else outcome.subject)
    if outcome.output is not None:
        result = outcome.output
        where = result.branch + (" (pushed)" if result.pushed else "")
        said = f"committed {str(result.commit)[:12]}" if result.committed else "no output commit"
        click.echo(f"{said} to {where}: {result.summary}")
