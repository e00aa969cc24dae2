"""The `vcse` command line. Each feature registers its commands from its own module in this package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from ..errors import PipelineError

app = typer.Typer(
    name="vcse",
    help="Build, refresh and search a register of local VCSE organisations from open UK registers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

# One line per feature module; each module defines register(app).
from . import pipeline_commands  # noqa: E402
from . import match  # noqa: E402
from . import find, opportunities, report  # noqa: E402
from . import publish_commands  # noqa: E402
from . import tag  # noqa: E402

pipeline_commands.register(app)
match.register(app)
find.register(app)
opportunities.register(app)
report.register(app)
publish_commands.register(app)
tag.register(app)


def main() -> None:
    try:
        app()
    except PipelineError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
