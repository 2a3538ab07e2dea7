"""What every command shares: one-line failures with their exit codes, the click group that
turns exceptions into them, and the printing of diagnostics (compiler/cli.py is the
commands)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler import __version__
from compiler.errors import EXIT_HOST, EXIT_USAGE, HostError, UsageError, describe_os_error

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic

FORMATS = ("text", "json", "github", "sarif")


def printable(text: str) -> str:
    """Text any terminal encoding takes: lone surrogates and the like become escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fail(code: int, message: str, hint: str | None = None) -> None:
    click.echo(printable(f"modelkiln: error: {message}"), err=True)
    if hint:
        click.echo(printable(f"  hint: {hint}"), err=True)
    sys.exit(code)


def fail_usage(message: str, hint: str | None = None) -> None:
    fail(EXIT_USAGE, message, hint)


class Cli(click.Group):
    """Turns every exception below the commands into an exit code and one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as err:
            if debug(ctx):  # the traceback, and still the exit code the error deserves
                traceback.print_exc()
            report_exception(err)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # pipes closed early (modelkiln diff | head): not an error worth a traceback
        try:
            return super().main(*args, **kwargs)
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(EXIT_HOST)


def debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or os.environ.get("MODELKILN_DEBUG") == "1"


def report_exception(err: Exception) -> None:
    if isinstance(err, UsageError):
        fail(EXIT_USAGE, str(err), err.hint)
    if isinstance(err, HostError):
        fail(EXIT_HOST, str(err), err.hint)
    if isinstance(err, OSError):
        fail(EXIT_HOST, describe_os_error(err))
    fail(
        EXIT_HOST,
        f"internal error: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
        "this is a bug in modelkiln; run again with --debug for the traceback and report it",
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def spec_root(root: Path) -> Path:
    from compiler.load import PROJECT_FILE, is_spec_root

    if not root.is_dir():
        fail_usage(f"{root} is not a directory")
    if not is_spec_root(root):
        fail_usage(
            f"{root} is not a spec repository: it has no {PROJECT_FILE}",
            "run `modelkiln init DIR` to start one",
        )
    return root


def report(diagnostics: list[Diagnostic], texts: dict[str, list[str]], fmt: str) -> None:
    from compiler.diagnostics import format_github, format_json, format_sarif

    if fmt == "json":
        click.echo(format_json(diagnostics), nl=False)
    elif fmt == "github":
        click.echo(format_github(diagnostics), nl=False)
    elif fmt == "sarif":
        click.echo(format_sarif(diagnostics, __version__), nl=False)
    else:
        print_text(diagnostics, texts)


def print_text(diagnostics: list[Diagnostic], texts: dict[str, list[str]]) -> None:
    """Plain text for pipes and CI logs; colours (rich) only on a terminal."""
    from compiler.diagnostics import format_text, text_lines

    if not sys.stdout.isatty():
        click.echo(format_text(diagnostics, texts), nl=False)
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for style, line in text_lines(diagnostics, texts):
        console.print(Text(line, style=style))
