"""`vcse report`: a self-contained HTML report of the register for commissioners."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .options import ConfigOpt, DataDirOpt, RegisterOpt, register_connection

console = Console()


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command()
def report(
    output: Path = typer.Option(Path("vcse-report.html"), "--output", "-o",
                                help="HTML file to write (.html or .htm; folders are created)."),
    area: str | None = typer.Option(None, "--area", "-a", help="Local authority GSS code or name (default: the "
                                                               "register's only area)."),
    register_file: Path | None = RegisterOpt,
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Write an HTML report: providers by legal form, service area and ward, readiness and recent changes."""
    from ..freshness import register_sources, source_freshness
    from ..lookups import single_area
    from ..procurement.choices import resolve_area
    from ..procurement.report import check_report_path, render_report
    from .options import load_config

    check_report_path(output)   # a wrong file name fails before the register is read
    with register_connection(register_file, config, data_dir) as con:
        sources = register_sources(con)  # each source's age against its configured limit
        freshness = None if sources is None else source_freshness(load_config(config, data_dir), sources=sources,
                                                                   of="published register")
        # an area the register was not built for is an error, not an empty report
        path = render_report(con, output, resolve_area(con, area) if area else single_area(con), freshness)
    console.print(f"wrote {path}")
