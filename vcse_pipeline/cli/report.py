"""`vcse report`: a self-contained HTML report of the register for commissioners."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .find import ConfigOpt, DataDirOpt, RegisterOpt

console = Console()


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        output: Path = typer.Option(Path("vcse-report.html"), "--output", "-o", help="HTML file to write."),
        area: str | None = typer.Option(None, "--area", "-a", help="Local authority GSS code (default: the "
                                                                   "register's only area)."),
        register_file: Path | None = RegisterOpt,
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Write an HTML report: providers by legal form, service area and ward, readiness and recent changes."""
        from ..procurement.connection import open_register, register_path
        from ..procurement.opportunities import single_area
        from ..procurement.report import render_report

        con = open_register(register_path(register_file, config, data_dir))
        try:
            path = render_report(con, output, area or single_area(con))
        finally:
            con.close()
        console.print(f"wrote {path}")
