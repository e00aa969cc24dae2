"""Commands for publishing and its history: publish, history, versions, rollback, changes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from ..lookups import check_limit
from .options import AcceptOpt, AreaOpt, ConfigOpt, DataDirOpt, DropAreasOpt, ForceOpt, load_config
from .pipeline_commands import format_when, print_unchanged

console = Console()


def organisation_counts(counts: dict) -> str:
    """'1,464 / 1,623' (active / all) from a history record's counts; the area code first when there are several.

    Older records hold only all organisations (removed and dissolved included): those read '1,623 all'.
    """
    every = counts.get("organisations") or {}
    active = counts.get("active_organisations") or {}
    prefix = len(every) > 1
    return ", ".join((f"{a} " if prefix else "") + (f"{active[a]:,} / {n:,}" if a in active else f"{n:,} all")
                     for a, n in every.items())


def print_run(r: dict) -> None:
    """One run as a few short lines (readable at 80 columns; the version name whole, since rollback takes it)."""
    status = r.get("status") or "?"
    colour = ("green" if status in ("published", "unchanged") else "yellow" if status.startswith("rolled")
              else "red")
    when = format_when(r.get("finished_at"))
    console.print(f"[bold]{escape(str(r.get('run_id')))}[/]  [{colour}]{status}[/]  {when}", soft_wrap=True,
                  highlight=False)
    counts = organisation_counts(r.get("counts") or {})
    if r.get("version_file"):
        console.print(f"  version        {escape(r['version_file'])}", soft_wrap=True, highlight=False)
    if counts:
        console.print(f"  organisations  {counts} (active / all)", soft_wrap=True, highlight=False)
    if r.get("message"):
        # Indented on lines of its own: a long gate message wraps as a paragraph, not one word a line.
        console.print(Padding(escape(r["message"]), (0, 0, 0, 2)), highlight=False)


def _gate_table(gates) -> Table:
    table = Table(title="Quality gates", title_justify="left")
    for column in ("gate", "area", "result", "message"):
        table.add_column(column)
    for g in gates:
        g = g if isinstance(g, dict) else g.as_dict()
        result = "[yellow]accepted[/]" if g.get("accepted") else "[green]pass[/]" if g["passed"] else "[red]FAIL[/]"
        where = " ".join(w for w in (g.get("area_code"), g.get("source")) if w)
        table.add_row(g["name"], where, result, escape(g["message"]))
    return table


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command()
def publish(
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
    area: list[str] | None = AreaOpt,
    run_id: str | None = typer.Option(None, help="Name for this run (default: a timestamp)."),
    drop_areas: bool = DropAreasOpt,
    accept: list[str] | None = AcceptOpt,
    force: bool = ForceOpt,
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="Processes to build the areas in (default: \\[register] build_workers, "
                                            "auto = the usable CPUs); 1 builds them one after another."),
) -> None:
    """Build the register from the current staging files, run the quality gates and publish it atomically."""
    from ..errors import QualityGateError
    from ..publish import build_and_publish

    cfg = load_config(config, data_dir, area)
    if workers is not None:
        cfg = cfg.with_overrides({"register": {"build_workers": workers}})
    try:
        result = build_and_publish(cfg, run_id=run_id, drop_areas=drop_areas, accept=accept, force=force)
    except QualityGateError as exc:
        console.print(_gate_table(getattr(exc, "results", [])))
        raise
    if print_unchanged(result):
        return
    console.print(_gate_table(result.gates))
    console.print(f"Published [bold]{result.version_path.name}[/] as {result.register_path}", soft_wrap=True)
    active = result.active_counts
    console.print("Organisations: " + ", ".join(f"{a} {active.get(a, 0):,} active / {n:,} all"
                                                for a, n in result.counts.items()))
    console.print("Changes: " + (", ".join(f"{k} {v:,}" for k, v in result.changes.items()) or "none"))


@commands.command()
def history(
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
    limit: int = typer.Option(20, "--limit", "-n", help="How many of the latest runs to show (0 = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full records as JSON lines (one per run)."),
) -> None:
    """List pipeline runs (published, failed, rolled back or forward) from data/register/run_history.jsonl."""
    from ..run_history import history_path, read_history

    check_limit(limit, "runs")
    cfg = load_config(config, data_dir)
    records = read_history(cfg)
    records = records[-limit:] if limit else records
    if not records:  # --json: standard output stays JSON lines (none), the note goes to standard error
        from . import err_console

        (err_console if as_json else console).print(f"No runs recorded yet in {history_path(cfg)}", soft_wrap=True)
        return
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, default=str))  # one line each, never wrapped by the console
        return
    console.print(f"Run history, oldest first ({history_path(cfg)}):", soft_wrap=True)
    for r in records:
        print_run(r)


@commands.command()
def versions(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """List the kept register versions, newest first, and which one is published."""
    from ..versions import list_versions

    cfg = load_config(config, data_dir)
    kept = list_versions(cfg)
    if not kept:
        console.print(f"No register versions yet in {cfg.versions_dir}", soft_wrap=True)
        return
    console.print(f"Register versions in {cfg.versions_dir}, newest first (* = published; "
                  "`vcse rollback VERSION` publishes one again):", soft_wrap=True)
    for v in kept:
        # The full name on a line of its own: it is what rollback takes, so it must never be cut.
        console.print(f"{'*' if v['published'] else ' '} {v['name']}", soft_wrap=True, markup=False,
                      highlight=False)
        console.print(f"    modified {format_when(v['modified'])}, {v['size']:,} bytes"
                      + (", [green]published[/]" if v["published"] else ""), soft_wrap=True, highlight=False)


@commands.command()
def rollback(
    version: str | None = typer.Argument(None, help="Version file name (or its start) to publish again; "
                                                    "default: the one before the published version."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Publish an earlier register version again (atomic switch; recorded in the run history)."""
    from ..versions import rollback as do_rollback

    cfg = load_config(config, data_dir)
    path = do_rollback(cfg, version)
    console.print(f"Published {path.name} as {cfg.register_path}")


@commands.command()
def changes(
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
    change_type: str | None = typer.Option(None, "--type", help="Only new, closed, reopened or changed."),
    limit: int = typer.Option(50, "--limit", "-n", help="Most rows to show (0 = all)."),
) -> None:
    """Show what the published register changed against the one before it (register_change)."""
    from ..changes import CHANGE_TYPES, published_changes
    from ..lookups import unknown
    from ..procurement.connection import open_register

    if change_type is not None and change_type not in CHANGE_TYPES:
        raise unknown("change type", change_type, list(CHANGE_TYPES))  # the wording of find's unknown values
    check_limit(limit, "rows")
    cfg = load_config(config, data_dir)
    con = open_register(cfg.register_path, has_register_option=False)  # find's errors; changes has no --register
    try:
        result = published_changes(con, change_type, limit)
    finally:
        con.close()
    run_id, rows, total = result.run_id, result.rows, result.total
    if run_id is None:
        console.print(f"No published run recorded in {cfg.register_path} (its run_history has none)",
                      soft_wrap=True)
        return
    if not rows:
        present = ", ".join(f"{t} {n:,}" for t, n in result.by_type.items())
        if change_type:
            found = f"it has {present}" if present else "it changed nothing against the register before it"
            console.print(f"No register changes of type {change_type} in run {run_id}: {found}", soft_wrap=True)
        else:
            console.print(f"No register changes in run {run_id}: the published register changed nothing "
                          "against the one before it", soft_wrap=True)
        return
    table = Table(title="Changes in the published register", title_justify="left")
    for column in ("area", "org_id", "name", "change", "field", "old", "new"):
        table.add_column(column)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(table)
    if len(rows) < total:  # never cut the list without saying so
        console.print(f"{len(rows):,} of {total:,} changes shown (`-n 0` shows them all)")
