"""`vcse find`: search the register for providers and export the list (table, CSV or Excel)."""

from __future__ import annotations

import enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .options import ConfigOpt, DataDirOpt, RegisterOpt, register_connection

console = Console()


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    xlsx = "xlsx"


def _money(value) -> str:
    return "" if value is None else f"£{value:,.0f}"


def compact_list(values: list[str], first: list[str] | None = None, keep: int = 2) -> str:
    """The first `keep` values (those in `first` ahead of the rest) and "+N more": readable in a narrow terminal."""
    ordered = [v for v in values if v in (first or [])] + [v for v in values if v not in (first or [])]
    shown = ", ".join(ordered[:keep])
    return shown + (f" +{len(ordered) - keep} more" if len(ordered) > keep else "")


# On screen: what fits 80-100 columns. CSV and Excel carry every column (procurement.find.COLUMNS).
SCREEN_COLUMNS = {"name": "provider", "based": "where", "service_areas": "service areas", "latest_income": "income",
                  "readiness_level": "readiness", "distance_km": "km", "relevance": "fit"}


def print_table(result, title: str, first_services: list[str] | None = None) -> None:
    table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False, row_styles=["", "dim"])
    shown = [c for c in SCREEN_COLUMNS if c in result.columns]
    for col in shown:
        numeric = col in ("latest_income", "distance_km", "relevance")
        table.add_column(SCREEN_COLUMNS[col], justify="right" if numeric else "left",
                         overflow="fold", no_wrap=numeric, ratio=None if numeric else 2 if col == "name" else 1)
    for row in result.as_dicts():
        table.add_row(*[_money(row[c]) if c == "latest_income" else
                        compact_list(row[c], first_services) if c == "service_areas" else
                        "" if row[c] is None else str(row[c]) for c in shown])
    console.print(table)
    console.print("[dim]Every column (contacts, identifiers, register links) is in --format csv or xlsx.[/]")


def export(result, fmt: Format, output: Path | None, sheet_title: str = "Providers") -> None:
    from ..procurement.export import write_csv, write_xlsx
    from ..procurement.find import MONEY_COLUMNS

    if output is None:
        raise typer.BadParameter(f"--format {fmt.value} needs --output FILE")
    if fmt is Format.csv:
        write_csv(result.columns, result.rows, output)
    else:
        write_xlsx(result.columns, result.rows, output, sheet_title=sheet_title, money_columns=MONEY_COLUMNS)
    console.print(f"wrote {len(result.rows):,} providers to {output}")


def known_service_areas_labels(con, names: list[str]) -> list[str]:
    """The labels of the service areas searched for, so the table shows them first."""
    if not names:
        return []
    from ..procurement.find import known_service_areas, resolve_service_areas

    labels = known_service_areas(con)
    return [labels[code] for code in resolve_service_areas(con, names)]


def register(app: typer.Typer) -> None:
    @app.command()
    def find(
        service: list[str] | None = typer.Option(None, "--service", "-s",
                                                 help="Service area code or label; repeat for any of several."),
        keyword: str | None = typer.Option(None, "--keyword", "-k",
                                           help="Words in the name, other names or what the organisation does."),
        ward: str | None = typer.Option(None, "--ward", help="Ward code (E05...) or name."),
        postcode_district: str | None = typer.Option(None, "--postcode-district", help="Outward code, e.g. CH41."),
        near: str | None = typer.Option(None, "--near", help="Sort by distance from this postcode."),
        within_km: float | None = typer.Option(None, "--within-km", help="With --near: only providers this close."),
        legal_form: list[str] | None = typer.Option(None, "--legal-form",
                                                    help="Part of the legal form, e.g. 'community interest'."),
        min_income: float | None = typer.Option(None, "--min-income", help="Latest income at least this (£)."),
        max_income: float | None = typer.Option(None, "--max-income", help="Latest income at most this (£)."),
        readiness: list[str] | None = typer.Option(None, "--readiness",
                                                   help="Readiness level: ready, caution, unknown, not ready."),
        area: str | None = typer.Option(None, "--area", "-a", help="Local authority GSS code, e.g. E08000015."),
        limit: int | None = typer.Option(None, "--limit", "-n", help="At most this many providers."),
        fmt: Format = typer.Option(Format.table, "--format", "-f", help="table (screen), csv or xlsx (Excel)."),
        output: Path | None = typer.Option(None, "--output", "-o", help="File to write for csv and xlsx."),
        register_file: Path | None = RegisterOpt,
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Find providers in the register by service, keyword, place, distance, legal form, income and readiness."""
        from ..procurement.find import FindQuery, find_providers

        with register_connection(register_file, config, data_dir) as con:
            result = find_providers(con, FindQuery(
                service_areas=service or [], keyword=keyword, ward=ward, postcode_district=postcode_district,
                near_postcode=near, within_km=within_km, legal_forms=legal_form or [], min_income=min_income,
                max_income=max_income, readiness=readiness or [], area_code=area, limit=limit))
            labels = known_service_areas_labels(con, service or [])
        if fmt is Format.table and output is None:
            n = len(result.rows)
            print_table(result, f"{n:,} provider{'' if n == 1 else 's'}", labels)
        else:
            # --output without --format: the file's extension decides
            if fmt is Format.table:
                fmt = Format.csv if output.suffix.lower() == ".csv" else Format.xlsx
            export(result, fmt, output)
