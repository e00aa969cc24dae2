"""The `vcse` command line: each feature's commands in their own module of this package, over the library."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import PipelineError, os_error_message, write_failure

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


# Each feature module defines its commands at module level on its own typer.Typer, `commands`, merged here;
# they appear in --help in this order, the opportunities group last.
from . import (  # noqa: E402
    alert_commands,
    find,
    match,
    opportunities,
    pipeline_commands,
    publish_commands,
    report,
    serve,
    spend,
    tag,
)

for module in (pipeline_commands, publish_commands, find, match, tag, report, spend, alert_commands, serve):
    app.add_typer(module.commands)
app.add_typer(opportunities.commands, name="opportunities")


def error(message: str) -> None:
    """The one-line error an operator sees: soft-wrapped, so it stays one line whatever the terminal width."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # "[quality]" is text, not markup


class _WarningsToStderr(logging.Handler):
    """The pipeline's logged warnings (a repeated row dropped, a download retried), one line each on standard
    error: a command line has no logging set up, and Airflow's task logs have their own handlers."""

    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[yellow]warning:[/] {escape(record.getMessage())}", soft_wrap=True)


def _show_warnings() -> None:
    logger = logging.getLogger("vcse_pipeline")
    if not any(isinstance(h, _WarningsToStderr) for h in logger.handlers):
        logger.addHandler(_WarningsToStderr(logging.WARNING))


def main() -> None:
    import duckdb

    _show_warnings()
    try:
        app()
    except PipelineError as exc:
        error(str(exc))
        sys.exit(1)
    except OSError as exc:
        # An operator's mistake or the machine's state (no permission, a read-only or full disk), not a bug:
        # one line naming the path. Nothing is published by a failed run (the switch is the last step).
        error(os_error_message(exc))
        sys.exit(1)
    except duckdb.IOException as exc:
        # The same, met inside DuckDB (its message names the file): "IO Error: Could not write file ...".
        error(str(exc).strip().splitlines()[0] if str(exc).strip() else "DuckDB could not read or write a file")
        sys.exit(1)
    except duckdb.Error as exc:
        # A write that fails inside a commit or a checkpoint comes as a TransactionException or a FatalException
        # ("Failed to commit: Could not write file ...: No space left on device"): the same one line. Any other
        # DuckDB error is a bug, and its traceback is what a report needs.
        line = write_failure(exc)
        if line is None:
            raise
        error(line)
        sys.exit(1)
