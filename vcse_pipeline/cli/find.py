"""`vcse find`: search the register for providers and export the list (table, CSV or Excel)."""

from __future__ import annotations

import enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from . import err_console  # notes, when standard output carries a CSV
from .options import ConfigOpt, DataDirOpt, RegisterOpt, register_connection

console = Console()


class Format(enum.StrEnum):
    table = "table"
    csv = "csv"
    xlsx = "xlsx"


class Choices(enum.StrEnum):
    services = "services"
    wards = "wards"
    legal_forms = "legal-forms"
    areas = "areas"


# The screen shows this many unless --limit says otherwise; exports carry every match.
TABLE_LIMIT = 50


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
    if result.matched > len(result.rows):
        console.print(f"Showing {len(result.rows):,} of {result.matched:,}: add -n 0 to see them all on screen, or "
                      "-o providers.xlsx (or .csv) to export every one.")
    console.print("[dim]Every column (contacts, identifiers, register links) is in --format csv or xlsx.[/]")


def table_title(result) -> str:
    """ "3 of 148 providers" when a limit cut the list, else "148 providers"."""
    shown, matched = len(result.rows), result.matched
    noun = "provider" if matched == 1 else "providers"
    return f"{shown:,} of {matched:,} {noun}" if matched > shown else f"{matched:,} {noun}"


def print_choices(con, kind: Choices, area: str | None) -> None:
    """The values --service, --ward, --legal-form or --area accept, with how many providers have each."""
    from ..procurement.choices import list_choices

    title, columns, rows = list_choices(con, kind.value, area)
    table = Table(title=title, title_justify="left", pad_edge=False)
    for i, col in enumerate(columns):
        table.add_column(col, justify="right" if i == len(columns) - 1 else "left")
    for row in rows:
        table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
    console.print(table)


def export(result, fmt: Format | None, output: Path | None, sheet_title: str = "Providers") -> None:
    """CSV or Excel by --format, else by the file's extension; CSV without --output goes to standard output, for
    piping (procurement.export.emit_table, as match, tag and opportunities write)."""
    from ..procurement.export import emit_table, excel_headings
    from ..procurement.find import MONEY_COLUMNS

    emit_table(result.columns, result.rows, output, fmt, sheet_title=sheet_title, money_columns=MONEY_COLUMNS,
               headers=excel_headings(result.columns))
    if output is not None:
        console.print(f"wrote {len(result.rows):,} providers to {output}")


def refuse_with_list(fmt: Format | None, output: Path | None, filters: dict) -> None:
    """--list only prints the choices on screen (scoped by --area): an option it would ignore is an error."""
    from ..errors import PipelineError

    given = [option for option, value in filters.items() if value not in (None, [])]
    if output is not None or fmt not in (None, Format.table):
        given = ["--output" if output is not None else "--format", *given]
    if given:
        raise PipelineError(f"--list shows the choices on screen and takes only --area; leave out {', '.join(given)} "
                            "(search with the filters instead of --list to export providers)")


def known_service_areas_labels(con, names: list[str]) -> list[str]:
    """The labels of the service areas searched for, so the table shows them first."""
    if not names:
        return []
    from ..procurement.choices import known_service_areas, resolve_service_areas

    labels = known_service_areas(con)
    return [labels[code] for code in resolve_service_areas(con, names)]


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command()
def find(
    service: list[str] | None = typer.Option(
        None, "--service", "-s", metavar="SERVICE",
        help="Service area code or label, any case ('mental health' will do); repeat for any of several. "
             "`--list services` shows them."),
    keyword: list[str] | None = typer.Option(
        None, "--keyword", "-k", metavar="WORDS",
        help="Words that must all appear (whole words; plurals and apostrophes aside) in the name, other "
             "names or what the organisation does; repeat for any of several."),
    ward: str | None = typer.Option(None, "--ward", help="Ward name (any case; '&' or 'and') or code (E05...). "
                                                         "`--list wards` shows them."),
    postcode_district: str | None = typer.Option(None, "--postcode-district",
                                                 help="Outward code, e.g. CH41, or a postcode (its district)."),
    near: str | None = typer.Option(None, "--near", help="Sort by distance from this postcode (one in the "
                                                         "area, or a listed provider's). Providers without a "
                                                         "known location (no postcode, or one not in the postcode "
                                                         "directory) are left out; the result says how many."),
    within_km: float | None = typer.Option(None, "--within-km", help="With --near: only providers this close."),
    legal_form: list[str] | None = typer.Option(
        None, "--legal-form", metavar="FORM",
        help="CIC, CIO, charity, CBS, co-op, CLG or part of the legal form, e.g. 'community interest'; "
             "repeat for any of several. `--list legal-forms`."),
    min_income: float | None = typer.Option(None, "--min-income", help="Latest income at least this (£)."),
    max_income: float | None = typer.Option(None, "--max-income", help="Latest income at most this (£)."),
    readiness: list[str] | None = typer.Option(None, "--readiness", metavar="LEVEL",
                                               help="Readiness level: ready, caution, unknown, not ready."),
    area: str | None = typer.Option(None, "--area", "-a",
                                    help="Local authority GSS code (E08000015) or name (Wirral) in the register."),
    limit: int | None = typer.Option(None, "--limit", "-n",
                                     help=f"At most this many providers; 0 for all (default: {TABLE_LIMIT} on "
                                          "screen, all in a file)."),
    list_choices: Choices | None = typer.Option(None, "--list", help="List the choices of a filter instead of "
                                                                     "searching: services, wards, legal-forms "
                                                                     "or areas."),
    fmt: Format | None = typer.Option(None, "--format", "-f",
                                      help="table (on screen, the default), csv or xlsx (Excel). csv "
                                           "without --output goes to standard output, every match."),
    output: Path | None = typer.Option(None, "--output", "-o",
                                       help="File to write: .csv or .xlsx (the extension picks the format when "
                                            "--format is not given; folders are created)."),
    register_file: Path | None = RegisterOpt,
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Find providers in the register by service, keyword, place, distance, legal form, income and readiness."""
    from ..procurement.export import check_table_output
    from ..procurement.find import FindQuery, find_providers

    if list_choices is not None:
        refuse_with_list(fmt, output, {
            "--service": service, "--keyword": keyword, "--ward": ward, "--postcode-district": postcode_district,
            "--near": near, "--within-km": within_km, "--legal-form": legal_form, "--min-income": min_income,
            "--max-income": max_income, "--readiness": readiness, "--limit": limit})
    # a bad --output or --format fails before the register is read
    on_screen = check_table_output(output, fmt, example="providers") is None
    with register_connection(register_file, config, data_dir) as con:
        if list_choices is not None:
            print_choices(con, list_choices, area)
            return
        result = find_providers(con, FindQuery(
            service_areas=service or [], keyword=keyword or [], ward=ward, postcode_district=postcode_district,
            near_postcode=near, within_km=within_km, legal_forms=legal_form or [], min_income=min_income,
            max_income=max_income, readiness=readiness or [], area_code=area,
            limit=TABLE_LIMIT if on_screen and limit is None else limit))
        labels = known_service_areas_labels(con, service or [])
    for note in result.notes:   # to standard error when standard output carries the CSV
        (console if on_screen or output is not None else err_console).print(f"[dim]({note})[/]")
    if on_screen:
        print_table(result, table_title(result), labels)
    else:
        export(result, fmt, output)
