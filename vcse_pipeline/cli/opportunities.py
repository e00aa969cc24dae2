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

from ..procurement.export import TableFormat
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
    """'2025-05-12T12:00:00Z' -> '12 May 2025 13:00' (UK time, as officers read it; midnight and 23:59 dropped);
    '' when absent."""
    from ..procurement.ocds import UK_TIME, as_datetime

    if not text:
        return ""
    when = as_datetime(text)
    if when is None:
        return str(text)
    if len(str(text).strip()) == 10:   # a bare date
        return when.strftime("%d %b %Y")
    when = when.astimezone(UK_TIME)
    return when.strftime("%d %b %Y") + ("" if (when.hour, when.minute) in ((0, 0), (23, 59)) else
                                        when.strftime(" %H:%M"))


def _milestone(milestone: dict | None) -> str:
    """', engagement end date 31 Jan 2025 (passed)' for a planning notice's milestone (ocds.planning_milestone)."""
    if not milestone:
        return ""
    title = milestone["title"][:1].lower() + milestone["title"][1:]
    return f", {title} {_date(milestone['due'])}" + (" (passed)" if milestone["passed"] else "")


def phase_line(notice) -> str:
    """'tender (active), deadline 14 Feb 2025 14:00' / 'planning (planned), tender expected 23 Jul 2025'."""
    text = notice.phase + (f" ({notice.tender_status})" if notice.tender_status else "")
    if notice.deadline:
        text += f", deadline {_date(notice.deadline)}"
    if notice.tender_expected:
        text += f", tender expected {_date(notice.tender_expected)}"
    return text


def _print_notice(notice, release: dict) -> None:
    """The notice's facts; its value and planning milestone read from the release (ocds.value_text: awarded or
    estimated, in its currency, with its term and lots)."""
    from ..procurement.ocds import planning_milestone, value_text

    value = value_text(release)
    flags = {True: "yes", False: "no", None: "not stated"}
    console.print(f"[bold]{notice.title}[/]  ({notice.release_id})")
    milestone = _milestone(planning_milestone(release)) if notice.phase == "planning" else ""
    console.print(f"stage: {phase_line(notice)}{milestone}")
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
    from ..procurement.ocds import passed as is_passed
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
        value = r["value_text"]
        when = (f", deadline {_date(r['deadline'])}" if r["deadline"] else
                f", tender expected {_date(r['tender_expected'])}" if r["tender_expected"] else "")
        # a tender or planning notice warns only when its deadline or expected date has passed (notice_phase)
        lapsed = {"tender": r["deadline"], "planning": r["tender_expected"]}.get(r["stage"])
        passed = " (passed)" if lapsed and is_passed(lapsed) else ""
        when += _milestone(r["milestone"]) if r["stage"] == "planning" else ""
        console.print()
        console.print(f"[bold]{escape(r['title'] or '(no title)')}[/]", highlight=False)
        console.print(f"  {r['id']}", soft_wrap=True, highlight=False, style="cyan")
        lines = [f"{escape(r['buyer'] or 'buyer not stated')}" + (f"; delivered in {escape(shown)}" if shown else ""),
                 f"{r['stage']}{when}{passed}; suitable for VCSEs: {flags[r['suitable_for_vcse']]}; {value}"]
        if r["superseded_by"]:
            lines.append(f"superseded by {r['superseded_by']}, a later release of the same procurement")
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
    _print_notice(summary, release)
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
    from ..procurement.ocds import describe_releases, read_releases
    from . import err_console

    fmt = _output_format(fmt, output, "notices")
    found, skipped = read_releases(notice)
    releases = describe_releases(found, details=True)
    if skipped:   # on standard error, so csv and json on standard output stay data
        err_console.print(f"note: {len(skipped):,} entr{'y' if len(skipped) == 1 else 'ies'} in {escape(notice.name)} "
                          f"skipped, not releases: " + escape("; ".join(skipped[:5]))
                          + (f"; and {len(skipped) - 5:,} more" if len(skipped) > 5 else ""),
                          style="bold yellow", highlight=False)
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
                   pence_columns=["value"], headers=RELEASE_HEADINGS)
        if output is None:
            return
    console.print(f"wrote {len(releases):,} release{'' if len(releases) == 1 else 's'} to {output}")


def _open_feed(feed_file: Path | None, config: Path | None, data_dir: Path | None):
    """The published opportunity feed, read-only; a PipelineError saying how to make one when there is none."""
    from ..errors import PipelineError
    from ..procurement.connection import open_register_file
    from ..procurement.feed.store import published_path
    from .options import load_config

    path = feed_file or published_path(load_config(config, data_dir))
    if not Path(path).exists():
        raise PipelineError(f"no opportunity feed at {path}: run `vcse opportunities harvest` (or the "
                            "vcse_opportunity_feed DAG) first, or pass --feed FILE")
    return open_register_file(Path(path))


@commands.command("feed")
def feed(
    area: str | None = typer.Option(None, "--area", "-a", help="Area (GSS code) whose notices to show (default: the "
                                                               "feed's only area)."),
    days: int = typer.Option(7, "--days", help="Notices changed in the feed's last N days."),
    limit: int = typer.Option(20, "--limit", "-n", help="Notices on screen (0 for all)."),
    provider: str | None = typer.Option(None, "--provider", "-p", metavar="ORG_ID",
                                        help="One provider's opportunities (its org_id, as `vcse find` shows)."),
    fmt: TableFormat | None = typer.Option(None, "--format", "-f", help="csv or xlsx: every provider's "
                                                                         "opportunities (or --provider's) as a table; "
                                                                         "default: from the --output extension."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (.csv or .xlsx) with each "
                                                                    "provider's opportunities."),
    feed_file: Path | None = typer.Option(None, "--feed", help="Opportunity feed file (default: the published one, "
                                                               "beside the register)."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """The latest contract notices from the daily feed, each with its top local providers; or, with --provider or
    --output, the opportunities for each provider."""
    from ..lookups import check_limit
    from ..procurement.export import check_table_output, emit_table, excel_headings
    from ..procurement.feed.digest import (
        OPPORTUNITY_COLUMNS,
        OPPORTUNITY_HEADINGS,
        latest_notices,
        provider_opportunities,
    )

    check_limit(limit, "notices")
    table_format = check_table_output(output, fmt, example="opportunities")
    with _open_feed(feed_file, config, data_dir) as con:
        areas = [r[0] for r in con.execute("SELECT DISTINCT area_code FROM feed_notice_area ORDER BY 1").fetchall()]
        area_code = area or (areas[0] if len(areas) == 1 else None)
        if area_code is None:
            from ..errors import PipelineError

            raise PipelineError(f"the feed holds {len(areas)} areas ({', '.join(areas) or 'none yet'}): "
                                "choose one with --area")
        if provider or table_format:
            rows = provider_opportunities(con, area_code, provider)
            if table_format:
                emit_table(OPPORTUNITY_COLUMNS, rows, output, table_format, sheet_title="Opportunities",
                           pence_columns=["value"], headers={**excel_headings(OPPORTUNITY_COLUMNS),
                                                             **OPPORTUNITY_HEADINGS})
                if output is not None:
                    console.print(f"wrote {len(rows):,} opportunit{'y' if len(rows) == 1 else 'ies'} to {output}")
                return
            _print_provider_opportunities(provider, rows)
            return
        notices = latest_notices(con, area_code, 3, days=days)
    _print_feed(notices, days, limit)


def _print_feed(notices: list[dict], days: int, limit: int) -> None:
    from ..procurement.ocds import passed as is_passed

    shown = notices[:limit] if limit else notices
    console.print(f"{len(notices):,} notice{'' if len(notices) == 1 else 's'} in the feed's last {days} days"
                  + (f", newest {len(shown)} shown (-n 0 for all)" if len(shown) < len(notices) else ""),
                  highlight=False)
    for n in shown:
        value = n["value_text"]
        when = (f", deadline {_date(n['deadline'])}" if n["deadline"] else
                f", tender expected {_date(n['tender_expected'])}" if n["tender_expected"] else "")
        # an award, a cancelled tender or a lapsed deadline carries its notice_phase warning, as list and match show
        lapsed = {"tender": n["deadline"], "planning": n["tender_expected"]}.get(n["stage"])
        passed = " (passed)" if lapsed and is_passed(lapsed) else ""
        when += _milestone(n["milestone"])
        console.print()
        console.print(f"[bold]{escape(n['title'] or '(no title)')}[/]", highlight=False)
        console.print(f"  {n['release_id']}", soft_wrap=True, highlight=False, style="cyan")
        lines = [f"{escape(n['buyer_name'] or 'buyer not stated')}; {n['stage']}{when}{passed}; {value}"]
        if n["warning"]:
            lines.append(f"[bold yellow]note: {escape(n['warning'])}[/]")
        lines.append("why: " + escape("; ".join(n["kept_reasons"])))
        lines += [f"{p['rank']}. {escape(p['name'])} (score {p['score']}, {p['readiness']})" for p in n["providers"]]
        if not n["providers"]:
            lines.append("no provider in the register offers this notice's services")
        for line in lines:
            console.print(Padding(line, (0, 0, 0, 2), expand=False), highlight=False)


def _print_provider_opportunities(provider: str, rows: list[list]) -> None:
    from ..procurement.feed.digest import OPPORTUNITY_COLUMNS

    if not rows:
        console.print(f"No notices in the feed shortlist {escape(provider)}.", highlight=False)
        return
    at = {c: i for i, c in enumerate(OPPORTUNITY_COLUMNS)}
    console.print(f"[bold]{escape(rows[0][at['provider']])}[/]: {len(rows)} opportunit"
                  f"{'y' if len(rows) == 1 else 'ies'}", highlight=False)
    for r in rows:
        when = f", deadline {_date(r[at['deadline']])}" if r[at["deadline"]] else ""
        note = f" [yellow](note: {escape(r[at['warning']])})[/]" if r[at["warning"]] else ""
        console.print(f"  #{r[at['rank']]} (score {r[at['score']]}) {escape(r[at['title']] or '(no title)')}; "
                      f"{escape(r[at['buyer_name']] or 'buyer not stated')}; {r[at['stage']]}{when}{note}",
                      highlight=False)


@commands.command("harvest")
def harvest(
    until: str | None = typer.Option(None, "--until", help="Harvest up to this UTC time (ISO, e.g. "
                                                           "2026-12-03T06:00:00; default: now)."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Run the opportunity feed once, as its DAG does: harvest both services from their marks, match, digest,
    publish."""
    from ..procurement.feed.run import run_feed
    from .options import load_config

    result = run_feed(load_config(config, data_dir), until)
    for name, done in result.get("services", {}).items():
        console.print(f"{name}: {done['new']:,} new of {done['received']:,} releases received, "
                      f"harvested to {done['to'] or done['from']}", highlight=False)
    console.print(f"{result['notices_changed']:,} notices changed, {result['notices_kept']:,} kept; "
                  f"feed published to {result['published']}", highlight=False)
    for area, digest in result["digests"].items():
        how = (", emailed" if digest["emailed"] else ", not emailed: [feed] digest_to is empty"
               if digest["delivered"] else ", not emailed (see the log)")
        console.print(f"digest for {area}: {digest['notices']} notices in {escape(digest['file'])}{escape(how)}",
                      highlight=False)
