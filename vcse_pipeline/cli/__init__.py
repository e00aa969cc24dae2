"""The `vcse` command line. Each feature registers its commands from its own module in this package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import PipelineError

app = typer.Typer(
    name="vcse",
    help="Build, refresh and search a register of local VCSE organisations from open UK registers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)   # errors and notes: standard output may carry a CSV


def note(message: str) -> None:
    """A note about the input (match, tag: a sheet skipped, a column read as text), to standard error."""
    err_console.print(f"[yellow]note:[/] {escape(message)}")


# Each feature module defines register(app); commands appear in --help in this order.
from . import (  # noqa: E402
    find,
    match,
    opportunities,
    pipeline_commands,
    publish_commands,
    report,
    tag,
)

for module in (pipeline_commands, publish_commands, find, match, opportunities, tag, report):
    module.register(app)


def main() -> None:
    try:
        app()
    except PipelineError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")  # "[quality] ..." is text, not markup
        sys.exit(1)
