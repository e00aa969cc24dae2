"""`vcse opportunities match NOTICE`: a ranked shortlist of local providers for a contract notice (OCDS)."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .options import ConfigOpt, DataDirOpt, RegisterOpt, register_connection

console = Console()


class MatchFormat(enum.StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _print_notice(notice) -> None:
    value = f"£{notice.value:,.0f}" if notice.value else "not stated"
    if notice.annual_value and notice.contract_years:
        value += f" over {notice.contract_years:g} years (£{notice.annual_value:,.0f} a year)"
    flags = {True: "yes", False: "no", None: "not stated"}
    console.print(f"[bold]{notice.title}[/]  ({notice.release_id})")
    cpv = ", ".join(notice.cpv_codes) or "none"
    console.print(f"buyer: {notice.buyer or 'not stated'}; value: {value}; CPV: {cpv}")
    console.print(f"location: {notice.location} ({notice.location_reason}); suitable for VCSEs: "
                  f"{flags[notice.suitable_for_vcse]}, SMEs: {flags[notice.suitable_for_sme]}")
    text = "; ".join(f"{sa} ({'title' if in_title else 'text'}: {', '.join(words[:3])})"
                     for sa, in_title, words in notice.text_service_areas)
    console.print(f"service areas in the notice's words: {text or 'none found'}")
    areas = ", ".join(f"{sa} ({how} {cpv})" for sa, cpv, how in notice.service_areas)
    console.print(f"service areas by CPV: {areas or 'none of the register service areas match these CPV codes'}")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Match contract opportunities (OCDS notices) to local providers.",
                        no_args_is_help=True)
    app.add_typer(group, name="opportunities")

    @group.command("match")
    def match(
        notice: Path = typer.Argument(..., help="OCDS release JSON or release package (Contracts Finder, FTS)."),
        release_id: str | None = typer.Option(None, "--release-id",
                                              help="Release id or ocid to pick from a package."),
        area: str | None = typer.Option(None, "--area", "-a", help="Local authority GSS code (default: the "
                                                                   "register's only area)."),
        limit: int = typer.Option(20, "--limit", "-n", help="Length of the shortlist."),
        fmt: MatchFormat = typer.Option(MatchFormat.table, "--format", "-f", help="table, csv or json."),
        output: Path | None = typer.Option(None, "--output", "-o", help="File for csv or json (default: stdout)."),
        register_file: Path | None = RegisterOpt,
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Rank local providers for a contract notice, with the reasons for each."""
        from ..procurement.export import write_csv
        from ..procurement.opportunities import describe_notice, load_release, match_notice, single_area

        release = load_release(notice, release_id)
        with register_connection(register_file, config, data_dir) as con:
            area_code = area or single_area(con)
            summary = describe_notice(con, release, area_code)
            matches = match_notice(con, release, area_code, limit)
        if fmt is MatchFormat.json:
            text = json.dumps({"notice": summary.__dict__, "matches": [m.as_dict() for m in matches]}, indent=2,
                              default=str)
            if output:
                output.write_text(text, encoding="utf-8")
            else:
                print(text)
            return
        if fmt is MatchFormat.csv:
            columns = list(matches[0].as_dict()) if matches else ["name"]
            rows = [list(m.as_dict().values()) for m in matches]
            if output is None:
                raise typer.BadParameter("--format csv needs --output FILE")
            write_csv(columns, rows, output)
            console.print(f"wrote {len(matches)} providers to {output}")
            return
        _print_notice(summary)
        if not matches:
            console.print("[yellow]No providers in the register match this notice's service areas.[/]")
            return
        table = Table(title=f"{len(matches)} providers, best first", title_justify="left", show_lines=True)
        for col in ("score", "provider", "ward", "income", "readiness", "reasons"):
            table.add_column(col, justify="right" if col in ("score", "income") else "left", overflow="fold")
        for m in matches:
            income = f"£{m.latest_income:,.0f}" if m.latest_income else ""
            table.add_row(str(m.score), f"{m.name}\n{m.legal_form}", m.ward_name or "(area-wide)", income,
                          m.readiness_level, "\n".join(m.reasons))
        console.print(table)
