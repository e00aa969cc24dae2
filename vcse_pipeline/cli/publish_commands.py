"""Commands for publishing and its history: publish, history, versions, rollback, changes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .options import ConfigOpt, DataDirOpt, load_config

console = Console()



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
        area: list[str] | None = typer.Option(None, "--area", "-a", help="GSS code to build; repeat for several."),
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
        limit: int = typer.Option(20, help="How many of the latest runs to show."),
        as_json: bool = typer.Option(False, "--json", help="Print the full records as JSON lines."),
    ) -> None:
        """List pipeline runs (published, failed and rolled back) from data/register/run_history.jsonl."""
        from ..publish import read_history

        records = read_history(load_config(config, data_dir))[-limit:]
        if as_json:
            for record in records:
                console.print_json(json.dumps(record, default=str))
            return
        table = Table(title="Run history", title_justify="left")
        for column in ("run", "finished", "status", "version", "organisations", "message"):
            table.add_column(column)
        for r in records:
            orgs = (r.get("counts") or {}).get("organisations") or {}
            status = r["status"] if r["status"] != "published" else "[green]published[/]"
            table.add_row(r["run_id"], str(r.get("finished_at") or ""), status, r.get("version_file") or "",
                          ", ".join(f"{a} {n:,}" for a, n in orgs.items()), (r.get("message") or "")[:80])
        console.print(table)

    @app.command()
    def versions(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
        """List the kept register versions, newest first, and which one is published."""
        from ..publish import list_versions

        table = Table(title="Register versions", title_justify="left")
        for column in ("version", "modified", "size", "published"):
            table.add_column(column)
        for v in list_versions(load_config(config, data_dir)):
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
        limit: int = typer.Option(50, help="Most rows to show."),
    ) -> None:
        """Show what the published register changed against the one before it (register_change)."""
        from ..db import connect

        cfg = load_config(config, data_dir)
        if not cfg.register_path.exists():
            console.print(f"No register published yet at {cfg.register_path}.")
            raise typer.Exit(1)
        con = connect(cfg.register_path, read_only=True)
        try:
            rows = con.execute(
                """SELECT c.area_code, c.org_id, o.name, c.change_type, c.field, c.old_value, c.new_value
                   FROM register_change c LEFT JOIN organisation o USING (area_code, org_id)
                   WHERE c.run_id = (SELECT run_id FROM run_history WHERE status = 'published'
                                     ORDER BY finished_at DESC LIMIT 1)
                     AND (? IS NULL OR c.change_type = ?)
                   ORDER BY c.change_type, c.org_id, c.field LIMIT ?""", [change_type, change_type, limit]).fetchall()
        finally:
            con.close()
        table = Table(title="Changes in the published register", title_justify="left")
        for column in ("area", "org_id", "name", "change", "field", "old", "new"):
            table.add_column(column)
        for row in rows:
            table.add_row(*["" if v is None else str(v) for v in row])
        console.print(table)
