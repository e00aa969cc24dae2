"""`vcse spend`: load the council's payment files, resolve every supplier, and report how much of the money stays
local (the library: vcse_pipeline/spend/)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .options import ConfigOpt, DataDirOpt, load_config

console = Console()

commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command("spend")
def spend_command(
    locations: list[str] | None = typer.Argument(
        None, help="Payment files (CSV or XLSX, any known layout), 360Giving grants (JSON, CSV, XLSX), folders of "
                   "them or http(s) URLs; default: \\[spend] files."),
    review: bool = typer.Option(False, "--review", help="List the suppliers that need a decision (biggest first); "
                                                        "settle each in the overrides file."),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML report to this file."),
    excel: Path | None = typer.Option(None, "--excel", help="Write the Excel workbook to this .xlsx file."),
    no_fetch: bool = typer.Option(False, "--no-fetch", help="Load nothing new: resolve and measure again what is "
                                                           "loaded (after editing the overrides file)."),
    remove: list[str] | None = typer.Option(None, "--remove", help="Take a loaded file out of the spend database "
                                                                  "(its name, or its source when several files share "
                                                                  "the name), then measure again; repeatable."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Load payment files, resolve suppliers (overrides, numbers, supplier ids, names) and measure local spend."""
    from ..spend.report import render_html, write_workbook
    from ..spend.run import open_database, run_spend

    if excel is not None and excel.suffix.lower() != ".xlsx":
        raise typer.BadParameter(f"{excel}: give a .xlsx file name", param_hint="--excel")
    cfg = load_config(config, data_dir)
    run = run_spend(cfg, locations or None, fetch=not (no_fetch or (remove and not locations)), remove=remove)
    _print_files(run)
    console.print("suppliers: " + ", ".join(f"{n:,} {status}" for status, n in sorted(run.resolution.items())))
    # the "with declared tier-2 spend" row only with a tier-2 file: without one it is the district's figures again
    tier2 = bool(cfg.section("spend")["tier2_file"])
    shares = Table(title="Local share of in-scope spend", title_justify="left")
    for column in ("definition", "in scope", "local", "share", "target"):
        shares.add_column(column, justify="left" if column == "definition" else "right")
    for s in run.shares:
        if s["definition"] == "district_tier2" and not tier2:
            continue
        shares.add_row(s["label"], f"£{float(s['scope_amount'] or 0):,.0f}", f"£{float(s['local_amount'] or 0):,.0f}",
                       f"{100 * (s['local_share'] or 0):.1f}%", f"{100 * s['target_share']:.0f}%")
    console.print(shares)
    con = open_database(cfg)
    try:
        if tier2:
            _print_tier2(con)
        if review:
            _print_review(con)
        if report is not None:
            console.print(f"wrote {render_html(con, report)}")
        if excel is not None:
            console.print(f"wrote {write_workbook(con, excel)}")
    finally:
        con.close()


def _print_files(run) -> None:
    """This run's files (loaded, unchanged, a copy of another, sheets skipped), then every file in the figures with
    its lines, £ and credit notes, so the measures reconcile to files."""
    for f in run.removed:
        console.print(f"{f['file']}: removed ({f['lines']:,} lines) [{f['source']}]", highlight=False, markup=False)
    same_name = [f["file"] for f in run.files]
    for f in run.files:
        if f["duplicate_of"]:
            console.print(f"{f['file']}: not loaded, the same bytes as {f['duplicate_of']} (loaded already) "
                          f"[{f['source']}]", highlight=False, markup=False)
            continue
        console.print(f"{f['file']}: {f['lines']:,} lines ({f['layout']})" + (" unchanged" if f["skipped"] else "")
                      + (f" [{f['source']}]" if same_name.count(f["file"]) > 1 else ""), highlight=False, markup=False)
        for sheet in f["skipped_sheets"]:
            console.print(f"{f['file']}: sheet {sheet!r} skipped (no payment layout)", highlight=False, markup=False)
    for d in run.duplicate_lines[:20]:
        console.print(f"warning: {d['lines']} identical lines ({d['payment_date']}, £{float(d['amount']):,.2f}, "
                      f"{d['supplier_name'] or 'no supplier'}, ref {d['transaction_ref'] or 'none'}): {d['places']}; "
                      "all counted", highlight=False, markup=False)
    if len(run.duplicate_lines) > 20:
        console.print(f"warning: {len(run.duplicate_lines) - 20:,} more sets of identical lines not shown, all counted",
                      highlight=False, markup=False)
    files = Table(title=f"Files in the figures ({len(run.loaded)}; vcse spend --remove NAME takes one out)",
                  title_justify="left")
    for column in ("file", "lines", "amount", "credit notes", "source"):
        files.add_column(column, justify="right" if column in ("lines", "amount", "credit notes") else "left")
    for f in run.loaded:
        files.add_row(escape(f["file"]), f"{f['lines']:,}", f"£{float(f['amount']):,.2f}", f"{f['credits']:,}",
                      escape(f["source"]))
    console.print(files)


def _print_tier2(con) -> None:
    """The declared tier-2 rows not counted in full (spend_tier2_check: capped or ignored), each with why, so the
    with-tier-2 row above reconciles to the file."""
    rows = con.execute("SELECT supplier, financial_year, local_amount, counted_amount, status, reason, file, "
                       "row_number FROM spend_tier2_check WHERE status <> 'counted' ORDER BY file, row_number"
                       ).fetchall()
    if not rows:
        console.print("tier-2 spend: every declared row counted in full", highlight=False)
        return
    table = Table(title=f"Tier-2 spend not counted in full ({len(rows)} row{'s' if len(rows) != 1 else ''})",
                  title_justify="left")
    for column in ("supplier", "year", "declared", "counted", "status", "why", "row"):
        table.add_column(column, justify="right" if column in ("declared", "counted") else "left")
    for supplier, year, declared, counted, status, reason, file, row_number in rows:
        table.add_row(escape(str(supplier or "")), escape(str(year or "")), f"£{float(declared or 0):,.0f}",
                      f"£{float(counted or 0):,.0f}", status, escape(reason or ""), escape(f"{file}:{row_number}"))
    console.print(table)


def _print_review(con, limit: int = 50) -> None:
    rows = con.execute("SELECT supplier_name, supplier_id, status, candidate_name, candidate_org_id, score, amount "
                       "FROM spend_review LIMIT ?", [limit]).fetchall()
    table = Table(title=f"Needs a decision ({len(rows)} shown, biggest first): add supplier,org_id rows to the "
                        "overrides file", title_justify="left")
    for column in ("supplier", "supplier id", "status", "candidate", "candidate org id", "score", "amount"):
        table.add_column(column, justify="right" if column in ("score", "amount") else "left")
    for name, sid, status, cand, cand_id, score, amount in rows:
        table.add_row(name or "", sid or "", status, cand or "", cand_id or "", f"{score:g}",
                      f"£{float(amount or 0):,.0f}")
    console.print(table)
