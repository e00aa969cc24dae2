"""Commands that run the pipeline: demo, run, download, stage, build, status."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..config import Config
from ..sources import SOURCE_NAMES
from .options import ConfigOpt, DataDirOpt, load_config

console = Console()

SourceArg = typer.Argument(None, help=f"Sources to process (default: all of {', '.join(SOURCE_NAMES)}).")
AreaOpt = typer.Option(None, "--area", "-a", help="Local authority GSS code to build; repeat for several.")


def _check_sources(names: list[str] | None) -> list[str]:
    names = list(names or SOURCE_NAMES)
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCE_NAMES)}")
    return names


def refresh_sources(cfg: Config, names: list[str]) -> None:
    """Download, verify and stage each source, reporting what happened."""
    from ..pipeline import download_source, stage_source

    for name in names:
        console.rule(f"[bold]{name}")
        results = download_source(cfg, name)
        for r in results:
            console.print(f"  {r.status:<12} {r.path.name}  {r.size:,} bytes  sha256 {r.sha256[:12]}")
        with console.status(f"verifying and staging {name}..."):
            counts = stage_source(cfg, name)
        console.print("  staged " + ", ".join(f"{table} {rows:,}" for table, rows in counts.items()))


def print_register_summary(register_path: Path) -> None:
    """Counts a newcomer wants to see: by source, by legal form, by how the area was established."""
    from ..db import connect

    con = connect(register_path, read_only=True)
    try:
        def show(title: str, sql: str, headers: tuple[str, ...]) -> None:
            table = Table(title=title, title_justify="left")
            for h in headers:
                table.add_column(h, justify="right" if h in ("organisations", "records") else "left")
            for row in con.execute(sql).fetchall():
                table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
            console.print(table)

        show("Source records by register", """
            SELECT area_code, source, count(*) AS records FROM source_record GROUP BY ALL ORDER BY ALL""",
             ("area", "source", "records"))
        show("Organisations by legal form", """
            SELECT area_code, legal_form, count(*) FILTER (is_active) AS active, count(*) AS organisations
            FROM organisation GROUP BY ALL ORDER BY area_code, organisations DESC""",
             ("area", "legal form", "active", "organisations"))
        show("Organisations by how the area was established", """
            SELECT area_code, area_basis, count(*) AS organisations FROM organisation GROUP BY ALL ORDER BY ALL""",
             ("area", "area basis", "organisations"))
    finally:
        con.close()


def publish_with_progress(cfg: Config):
    """Build, check and publish, with a spinner: the build is the longest quiet step."""
    from ..publish import build_and_publish

    with console.status("linking, tagging, checking and publishing the register..."):
        return build_and_publish(cfg)


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        data_dir: Path = typer.Option(Path("data"), "--data-dir", help="Where the demo sources and register go."),
        scale: float = typer.Option(1.0, help="Demo size multiplier (1.0 is about 1,400 Wirral VCSEs)."),
        seed: int = typer.Option(20261121, help="Random seed for the synthetic demo registers."),
        config: Path | None = ConfigOpt,
    ) -> None:
        """Generate the offline Wirral demo registers and run the whole pipeline on them."""
        from ..demo.generate import demo_source_overrides, generate_demo

        cfg = load_config(config, data_dir)
        demo_dir = cfg.data_dir / "demo-sources"
        console.print(f"Generating demo registers in {demo_dir} (seed {seed}, scale {scale})")
        generate_demo(demo_dir, seed=seed, scale=scale)
        cfg = cfg.with_overrides(demo_source_overrides(demo_dir))
        refresh_sources(cfg, list(SOURCE_NAMES))
        console.rule("[bold]register")
        result = publish_with_progress(cfg)
        console.print(f"\nPublished register: [bold]{cfg.register_path}[/]  (run {result.run_id})")
        print_register_summary(cfg.register_path)

    @app.command()
    def run(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
            area: list[str] | None = AreaOpt) -> None:
        """Refresh every source, then build, check and publish the register."""
        cfg = load_config(config, data_dir, area)
        refresh_sources(cfg, list(SOURCE_NAMES))
        result = publish_with_progress(cfg)
        console.print(f"\nPublished register: [bold]{cfg.register_path}[/]  (run {result.run_id})")
        print_register_summary(cfg.register_path)

    @app.command()
    def download(sources: list[str] | None = SourceArg, config: Path | None = ConfigOpt,
                 data_dir: Path | None = DataDirOpt) -> None:
        """Download sources (conditional requests: unchanged files are not fetched again)."""
        from ..pipeline import download_source

        cfg = load_config(config, data_dir)
        for name in _check_sources(sources):
            for r in download_source(cfg, name):
                console.print(f"{name}: {r.status} {r.path} ({r.size:,} bytes)")

    @app.command()
    def stage(sources: list[str] | None = SourceArg, config: Path | None = ConfigOpt,
              data_dir: Path | None = DataDirOpt) -> None:
        """Verify and stage already-downloaded sources into data/staging/<source>.duckdb."""
        from ..pipeline import stage_source

        cfg = load_config(config, data_dir)
        for name in _check_sources(sources):
            counts = stage_source(cfg, name)
            console.print(f"{name}: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

    @app.command()
    def refresh(sources: list[str] | None = SourceArg, config: Path | None = ConfigOpt,
                data_dir: Path | None = DataDirOpt) -> None:
        """Download and stage sources (no register build)."""
        refresh_sources(load_config(config, data_dir), _check_sources(sources))

    @app.command()
    def status(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
        """Show where the register is and summarise it."""
        cfg = load_config(config, data_dir)
        if not cfg.register_path.exists():
            console.print(f"No register published yet at {cfg.register_path}. Run `vcse demo` or `vcse run`.")
            raise typer.Exit(1)
        console.print(f"Register: [bold]{cfg.register_path}[/]")
        print_register_summary(cfg.register_path)
