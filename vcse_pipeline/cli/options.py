"""Options and set-up shared by the commands: where the config, data folder and register are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import typer

from ..config import Config

ConfigOpt = typer.Option(None, "--config", "-c", help="TOML config file (default: $VCSE_CONFIG or ./vcse.toml).")
DataDirOpt = typer.Option(None, "--data-dir", help="Where downloads, staging and the register live.")
RegisterOpt = typer.Option(None, "--register", "-r", help="Register DuckDB file (default: the published one).")
# --format of the commands that write a table file (match, tag): csv or xlsx, else the --output extension
TableFormatOpt = typer.Option(None, "--format", "-f", help="csv or xlsx (Excel); default: from the --output "
                                                           "extension. -f csv without --output writes the CSV to "
                                                           "standard output (the summary to standard error).")
DropAreasOpt = typer.Option(False, "--drop-areas", help="Publish even though the published register holds areas "
                                                         "this run does not build (they are dropped from it).")
AcceptOpt = typer.Option(None, "--accept", metavar="GATE[:SOURCE]",
                         help="Let a failed count gate through for this run only, when the change is real (e.g. "
                              "source_organisations:fca_mutuals); recorded in the run history. Repeat for several; "
                              "docs/operations.md lists the gates.")
ForceOpt = typer.Option(False, "--force", help="Build and publish even when the staged releases, settings and "
                                                "code are those of the published register (else: 'unchanged').")
AreaOpt = typer.Option(None, "--area", "--areas", "-a", metavar="CODE_OR_NAME",
                       help="Local authority to build, by GSS code or name (E08000015 or Wirral; default: the "
                            "configured areas); repeat for several; all-england for every English one.")


def load_config(config: Path | None, data_dir: Path | None = None, areas: list[str] | None = None) -> Config:
    """The configuration with the command line's --data-dir and --area applied on top."""
    overrides: dict = {}
    if data_dir:
        overrides["paths"] = {"data_dir": str(data_dir)}
    if areas:
        overrides["register"] = {"areas": list(areas)}
    return Config.load(config, overrides=overrides)


@contextmanager
def register_connection(register_file: Path | None, config: Path | None,
                        data_dir: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to --register, else the configured published register; closed afterwards."""
    from ..procurement.connection import open_register

    con = open_register(register_file or load_config(config, data_dir).register_path)
    try:
        yield con
    finally:
        con.close()
