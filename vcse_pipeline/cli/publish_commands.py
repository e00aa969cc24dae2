"""Commands for publishing and its history: publish, history, versions, rollback, changes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .options import AreaOpt, ConfigOpt, DataDirOpt, load_config

console = Console()

CHANGE_TYPES = ("new", "closed", "reopened", "changed")


def organisation_counts(counts: dict) -> str:
    """'1,464 / 1,623' (active / all) from a history record's counts; the area code first when there are several.

    Older records hold only all organisations (removed and dissolved included): those read '1,623 all'.
    """
    every = counts.get("organisations") or {}
    active = counts.get("active_organisations") or {}
    prefix = len(every) > 1
    return ", ".join((f"{a} " if prefix else "") + (f"{active[a]:,} / {n:,}" if a in active else f"{n:,} all")
                     for a, n in every.items())


def _gate_table(gates) -> Table:
    table = Table(title="Quality gates", title_justify="left")
    for column in ("gate", "area", "result", "message"):
        table.add_column(column)
    for g in gates:
        g = g if isinstance(g, dict) else g.as_dict()
        table.add_row(g["name"], g.get("area_code") or "", "[green]pass[/]" if g["passed"] else "[red]FAIL[/]",
                      g["message"])
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def publish(
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
        area: list[str] | None = AreaOpt,
        run_id: str | None = typer.Option(None, help="Name for this run (default: a timestamp)."),
    ) -> None:
        """Build the register from the current staging files, run the quality gates and publish it atomically."""
        from ..errors import QualityGateError
        from ..publish import build_and_publish

        cfg = load_config(config, data_dir, area)
        try:
            result = build_and_publish(cfg, run_id=run_id)
        except QualityGateError as exc:
            console.print(_gate_table(getattr(exc, "results", [])))
            raise
        console.print(_gate_table(result.gates))
        console.print(f"Published [bold]{result.version_path.name}[/] as {result.register_path}")
        console.print("Organisations: " + ", ".join(f"{a} {n:,}" for a, n in result.counts.items()))
        console.print("Changes: " + (", ".join(f"{k} {v:,}" for k, v in result.changes.items()) or "none"))

    @app.command()
    def history(
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
        limit: int = typer.Option(20, min=1, help="How many of the latest runs to show."),
        as_json: bool = typer.Option(False, "--json", help="Print the full records as JSON lines."),
    ) -> None:
        """List pipeline runs (published, failed and rolled back) from data/register/run_history.jsonl."""
        from ..publish import history_path, read_history

        cfg = load_config(config, data_dir)
        records = read_history(cfg)[-limit:]
        if not records:
            console.print(f"No runs recorded yet in {history_path(cfg)}", soft_wrap=True)
            return
        if as_json:
            for record in records:
                console.print_json(json.dumps(record, default=str))
            return
        table = Table(title="Run history", title_justify="left")
        for column in ("run", "finished", "status", "version", "active / all organisations", "message"):
            numbers = column.endswith("organisations")
            table.add_column(column, justify="right" if numbers else "left", no_wrap=numbers)
        for r in records:
            status = r["status"] if r["status"] != "published" else "[green]published[/]"
            table.add_row(r["run_id"], str(r.get("finished_at") or ""), status, r.get("version_file") or "",
                          organisation_counts(r.get("counts") or {}), (r.get("message") or "")[:80])
        console.print(table)

    @app.command()
    def versions(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
        """List the kept register versions, newest first, and which one is published."""
        from ..publish import list_versions

        cfg = load_config(config, data_dir)
        kept = list_versions(cfg)
        if not kept:
            console.print(f"No register versions yet in {cfg.versions_dir}", soft_wrap=True)
            return
        table = Table(title="Register versions", title_justify="left")
        for column in ("version", "modified", "size", "published"):
            table.add_column(column, justify="right" if column == "size" else "left")
        for v in kept:
            table.add_row(v["name"], v["modified"], f"{v['size']:,}", "*" if v["published"] else "")
        console.print(table)

    @app.command()
    def rollback(
        version: str | None = typer.Argument(None, help="Version file name (or its start) to publish again; "
                                                        "default: the one before the published version."),
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
    ) -> None:
        """Publish an earlier register version again (atomic switch; recorded in the run history)."""
        from ..publish import rollback as do_rollback

        cfg = load_config(config, data_dir)
        path = do_rollback(cfg, version)
        console.print(f"Published {path.name} as {cfg.register_path}")

    @app.command()
    def changes(
        config: Path | None = ConfigOpt,
        data_dir: Path | None = DataDirOpt,
        change_type: str | None = typer.Option(None, "--type", help="Only new, closed, reopened or changed."),
        limit: int = typer.Option(50, min=1, help="Most rows to show."),
    ) -> None:
        """Show what the published register changed against the one before it (register_change)."""
        from ..db import connect

        if change_type is not None and change_type not in CHANGE_TYPES:
            raise typer.BadParameter(f"unknown change type {change_type!r}; the types are {', '.join(CHANGE_TYPES)}",
                                     param_hint="--type")
        cfg = load_config(config, data_dir)
        if not cfg.register_path.exists():
            console.print(f"No register published yet at {cfg.register_path}.")
            raise typer.Exit(1)
        con = connect(cfg.register_path, read_only=True)
        try:
            run = con.execute("SELECT run_id FROM run_history WHERE status = 'published' "
                              "ORDER BY finished_at DESC LIMIT 1").fetchone()
            run_id = run[0] if run else None
            rows = con.execute(
                """SELECT c.area_code, c.org_id, o.name, c.change_type, c.field, c.old_value, c.new_value
                   FROM register_change c LEFT JOIN organisation o USING (area_code, org_id)
                   WHERE c.run_id = ? AND (? IS NULL OR c.change_type = ?)
                   ORDER BY c.change_type, c.org_id, c.field LIMIT ?""", [run_id, change_type, change_type, limit]
            ).fetchall()
            by_type = con.execute("SELECT change_type, count(DISTINCT (area_code, org_id)) FROM register_change "
                                  "WHERE run_id = ? GROUP BY 1 ORDER BY 1", [run_id]).fetchall()
        finally:
            con.close()
        if run_id is None:
            console.print(f"No published run recorded in {cfg.register_path} (its run_history has none)",
                          soft_wrap=True)
            return
        if not rows:
            present = ", ".join(f"{t} {n:,}" for t, n in by_type)
            if change_type:
                console.print(f"No register changes of type {change_type} in run {run_id}; "
                              f"types are {present or 'none: it changed nothing'}", soft_wrap=True)
            else:
                console.print(f"No register changes in run {run_id}: the published register changed nothing "
                              "against the one before it", soft_wrap=True)
            return
        table = Table(title="Changes in the published register", title_justify="left")
        for column in ("area", "org_id", "name", "change", "field", "old", "new"):
            table.add_column(column)
        for row in rows:
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)
