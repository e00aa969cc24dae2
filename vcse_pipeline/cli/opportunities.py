"""`vcse opportunities match NOTICE` (a ranked shortlist of local providers for a contract notice, OCDS) and
`vcse opportunities list FILE` (the notices in a release package)."""

from __future__ import annotations

import enum
import json
import re
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from .options import ConfigOpt, DataDirOpt, RegisterOpt, register_connection

console = Console()


class MatchFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    xlsx = "xlsx"


SCREEN_LIMIT = 20   # providers on screen unless --limit says otherwise; files and csv/json carry every match

# --format and --output of both `opportunities match` and `opportunities list`
FormatOpt = typer.Option(None, "--format", "-f", help="table (screen), csv, json or xlsx (Excel); default: from the "
                                                      "--output extension, else table.")
OutputOpt = typer.Option(None, "--output", "-o", help="File to write (.csv, .json or .xlsx; folders are created). "
                                                      "Without it csv and json go to the screen (standard output).")


def _output_format(fmt: MatchFormat | None, output: Path | None, example: str) -> str:
    """--format, else the --output file's extension (export.check_table_output's rules, plus JSON); a table is
    only for the screen and Excel only for a file."""
    from ..procurement.export import check_table_output

    return check_table_output(output, fmt, formats=("csv", "json", "xlsx"), example=example) or MatchFormat.table


def _date(text: str | None) -> str:
    """'2025-02-14T14:00:00Z' -> '14 Feb 2025 14:00' (UTC as published); '' when absent."""
    from datetime import datetime

    if not text:
        return ""
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    return when.strftime("%d %b %Y") + ("" if (when.hour, when.minute) in ((0, 0), (23, 59)) else
                                        when.strftime(" %H:%M"))


def phase_line(notice) -> str:
    """'tender (active), deadline 14 Feb 2025 14:00' / 'planning (planned), tender expected 23 Jul 2025'."""
    text = notice.phase + (f" ({notice.tender_status})" if notice.tender_status else "")
    if notice.deadline:
        text += f", deadline {_date(notice.deadline)}"
    if notice.tender_expected:
        text += f", tender expected {_date(notice.tender_expected)}"
    return text


def _print_notice(notice) -> None:
    value = f"£{notice.value:,.0f}" if notice.value else "not stated"
    if notice.annual_value and notice.contract_years:
        years = notice.contract_years
        value += f" over {years:g} year{'' if years == 1 else 's'} (£{notice.annual_value:,.0f} a year)"
    flags = {True: "yes", False: "no", None: "not stated"}
    console.print(f"[bold]{notice.title}[/]  ({notice.release_id})")
    console.print(f"stage: {phase_line(notice)}")
    if notice.warning:
        console.print(f"[bold yellow]note: {notice.warning}[/]")
    cpv = ", ".join(notice.cpv_codes) or "none"
    console.print(f"buyer: {notice.buyer or 'not stated'}; value: {value}; CPV: {cpv}")
    console.print(f"location: {notice.location} ({notice.location_reason}); suitable for VCSEs: "
                  f"{flags[notice.suitable_for_vcse]}, SMEs: {flags[notice.suitable_for_sme]}")
    text = "; ".join(f"{notice.label(sa)} ({'title' if in_title else 'text'}: {', '.join(words[:3])})"
                     for sa, in_title, words in notice.text_service_areas)
    console.print(f"service areas in the notice's words: {text or 'none found'}")
    areas = "; ".join(f"{notice.label(sa)} ({how} {cpv})" for sa, cpv, how in notice.service_areas[:4])
    if len(notice.service_areas) > 4:
        areas += f" +{len(notice.service_areas) - 4} more (--format json lists them)"
    console.print(f"service areas by CPV: {areas or 'none of the register service areas match these CPV codes'}")


def _fit(m) -> str:
    """The provider's best-fitting service area and how it fits: 'Domestic abuse and violence (text+CPV)'."""
    how = m.service_fit.replace(" and ", "+")
    first = re.split(r",| and ", (m.service_area_labels or m.service_areas or [""])[0])[0]  # its first phrase
    return f"{first} ({how})" if first else how


def print_shortlist(matches, total: int, why: bool) -> None:
    shown = len(matches)
    title = (f"{total:,} provider{'' if total == 1 else 's'}, best first" if shown == total else
             f"top {shown:,} of {total:,} providers, best first (-n 0 for all)")
    table = Table(title=title, title_justify="left", pad_edge=False, row_styles=["", "dim"])
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("provider", ratio=3, overflow="fold")
    table.add_column("where", ratio=2, overflow="fold")
    table.add_column("fit", ratio=3, overflow="fold")
    table.add_column("readiness", no_wrap=True)
    for rank, m in enumerate(matches, start=1):
        # based in the area: its ward; based outside: it operates area-wide (as the report and ward coverage say)
        based = "based in area" in m.location_fit
        where = m.ward_name or ("in area, no ward" if based else "area-wide")
        table.add_row(str(rank), str(m.score), m.name, where, _fit(m), m.readiness_level)
    console.print(table)
    if why:
        for rank, m in enumerate(matches, start=1):
            console.print(f"\n[bold]{rank}. {m.name}[/] ({m.legal_form}), score {m.score}")
            for reason in m.reasons:
                console.print(f"   - {reason}", highlight=False)
    else:
        console.print("[dim]Why each provider is here: --why, or the reasons column of -o shortlist.csv / .xlsx / "
                      ".json.[/]")


def print_releases(releases: list[dict], file_name: str) -> None:
    """Each release as a short block, its id alone on a line (never wrapped, so it can be copied)."""
    from ..procurement.ocds import region_label

    if len(releases) == 1:  # match picks a file's only release by itself
        console.print(f"1 release in {escape(file_name)}; rank providers for it with "
                      f"`vcse opportunities match {escape(file_name)}`", highlight=False)
    else:
        console.print(f"{len(releases):,} releases in {escape(file_name)}; pass an id to "
                      "`vcse opportunities match FILE --release-id ID`", highlight=False)
    flags = {True: "yes", False: "no", None: "not stated"}
    for r in releases:
        regions = [region_label(x) for x in r["regions"]]
        shown = ", ".join(regions[:2]) + (f" +{len(regions) - 2} more" if len(regions) > 2 else "")
        value = f"£{r['value']:,.0f}" if r["value"] else "value not stated"
        when = (f", deadline {_date(r['deadline'])}" if r["deadline"] else
                f", tender expected {_date(r['tender_expected'])}" if r["tender_expected"] else "")
        # a tender or planning notice warns only when its deadline or expected date has passed (notice_phase)
        passed = " (passed)" if r["stage"] in ("tender", "planning") and r["warning"] else ""
        console.print()
        console.print(f"[bold]{escape(r['title'] or '(no title)')}[/]", highlight=False)
        console.print(f"  {r['id']}", soft_wrap=True, highlight=False, style="cyan")
        lines = [f"{escape(r['buyer'] or 'buyer not stated')}" + (f"; delivered in {escape(shown)}" if shown else ""),
                 f"{r['stage']}{when}{passed}; suitable for VCSEs: {flags[r['suitable_for_vcse']]}; {value}"]
        for line in lines:
            console.print(Padding(line, (0, 0, 0, 2), expand=False), highlight=False)


# the `vcse opportunities` group (cli/__init__.py adds it under that name)
commands = typer.Typer(help="Match contract opportunities (OCDS notices) to local providers.",
                       no_args_is_help=True)


@commands.command("match")
def match(
    notice: Path = typer.Argument(..., help="OCDS release JSON or release package (Contracts Finder, FTS)."),
    release_id: str | None = typer.Option(None, "--release-id",
                                          help="Release id or ocid to pick from a package "
                                               "(see `vcse opportunities list FILE`)."),
    area: str | None = typer.Option(None, "--area", "-a", help="Local authority GSS code or name (default: "
                                                               "the register's only area)."),
    limit: int | None = typer.Option(None, "--limit", "-n",
                                     help=f"Length of the shortlist; 0 for every provider (default: "
                                          f"{SCREEN_LIMIT} on screen, every provider in a file or csv/json "
                                          "output, as vcse find)."),
    why: bool = typer.Option(False, "--why", help="On screen: list each provider's reasons under the table."),
    fmt: MatchFormat | None = FormatOpt,
    output: Path | None = OutputOpt,
    register_file: Path | None = RegisterOpt,
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Rank local providers for a contract notice, with the reasons for each."""
    from ..lookups import check_limit, single_area
    from ..procurement.choices import resolve_area
    from ..procurement.export import (
        SHORTLIST_COLUMNS,
        SHORTLIST_MONEY_COLUMNS,
        emit_table,
        shortlist_headings,
        shortlist_rows,
        write_text_file,
    )
    from ..procurement.ocds import load_release
    from ..procurement.opportunities import describe_notice, match_notice
    from . import err_console

    check_limit(limit, "providers")
    fmt = _output_format(fmt, output, "shortlist")
    release = load_release(notice, release_id)
    with register_connection(register_file, config, data_dir) as con:
        # an area the register was not built for is an error, not an empty shortlist
        area_code = resolve_area(con, area) if area else single_area(con)
        summary = describe_notice(con, release, area_code)
        everyone = match_notice(con, release, area_code, limit=0, notice=summary)
    shown = SCREEN_LIMIT if limit is None and fmt == MatchFormat.table else limit
    matches = everyone[:shown] if shown else everyone
    if output is None and fmt != MatchFormat.table and summary.warning:
        err_console.print(f"note: {summary.warning}", style="bold yellow")  # standard output carries the data
    if fmt == MatchFormat.json:
        text = json.dumps({"notice": summary.as_dict(), "providers_matched": len(everyone),
                           "matches": [m.as_dict() for m in matches]}, indent=2, default=str)
        if output is None:
            print(text)
            return
        write_text_file(output, text + "\n")
    elif fmt != MatchFormat.table:   # csv or xlsx: to --output, or csv to standard output
        emit_table(SHORTLIST_COLUMNS, shortlist_rows(matches, summary), output, fmt, sheet_title="Shortlist",
                   money_columns=SHORTLIST_MONEY_COLUMNS, headers=shortlist_headings())
        if output is None:
            return
    if output is not None:
        if summary.warning:
            console.print(f"[bold yellow]note: {summary.warning}[/]")
        console.print(f"wrote {len(matches):,} of {len(everyone):,} providers to {output}")
        return
    _print_notice(summary)
    if not matches:
        console.print("[yellow]No providers in the register match this notice's service areas.[/]")
        return
    print_shortlist(matches, len(everyone), why)


@commands.command("list")
def list_notices(
    notice: Path = typer.Argument(..., help="OCDS release JSON or release package (Contracts Finder, FTS)."),
    fmt: MatchFormat | None = FormatOpt,
    output: Path | None = OutputOpt,
) -> None:
    """List the notices (releases) in a file: id, title, buyer, stage, deadline, region, VCSE-suitable, value."""
    from ..procurement.export import RELEASE_COLUMNS, RELEASE_HEADINGS, emit_table, release_rows, write_text_file
    from ..procurement.ocds import list_releases

    fmt = _output_format(fmt, output, "notices")
    releases = list_releases(notice)
    if fmt == MatchFormat.table:
        print_releases(releases, notice.name)
        return
    if fmt == MatchFormat.json:
        text = json.dumps(releases, indent=2, default=str)
        if output is None:
            print(text)
            return
        write_text_file(output, text + "\n")
    else:   # csv or xlsx: to --output, or csv to standard output (for piping)
        emit_table(RELEASE_COLUMNS, release_rows(releases), output, fmt, sheet_title="Notices",
                   money_columns=["value"], headers=RELEASE_HEADINGS)
        if output is None:
            return
    console.print(f"wrote {len(releases):,} release{'' if len(releases) == 1 else 's'} to {output}")
