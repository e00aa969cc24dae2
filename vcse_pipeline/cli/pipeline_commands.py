"""Commands that run the pipeline: demo, run, download, stage, build, status."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..config import Config
from ..sources import SOURCE_NAMES
from .options import AcceptOpt, AreaOpt, ConfigOpt, DataDirOpt, DropAreasOpt, ForceOpt, RegisterOpt, load_config

console = Console()

SourceArg = typer.Argument(None, metavar="SOURCE",
                           help=f"Sources to process (default: all of {', '.join(SOURCE_NAMES)}).")
RestageOpt = typer.Option(False, "--force", help="Stage every source again, even one whose downloaded files, "
                                                 "settings and code are those it was last staged from.")


def _check_sources(names: list[str] | None) -> list[str]:
    names = list(names or SOURCE_NAMES)
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown:
        raise typer.BadParameter(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCE_NAMES)}")
    return names


def refresh_sources(cfg: Config, names: list[str], accept: list[str] | None = None, force: bool = False) -> None:
    """Download and verify each source, then stage those whose files, settings or code changed since their last
    stage (all of them with `force`), several at once ([download] stage_workers), reporting what happened
    (`accept`: staging gates let through). A source that fails to stage leaves its staging as it was and stops no
    other; the first failure is then raised."""
    from ..pipeline import download_source, staged_already
    from ..quality import parse_accept

    parse_accept(accept)  # an unknown gate fails before any download

    changed = []
    for name in names:
        console.rule(f"[bold]{name}")
        results = download_source(cfg, name)
        print_release(results)
        for r in results:
            console.print(f"  {r.status:<12} {r.path.name}  {r.size:,} bytes  sha256 {r.sha256[:12]}")
        staged_at = None if force else staged_already(cfg, name)
        if staged_at:
            console.print(f"  unchanged: staged from these files at {format_when(staged_at)}; not staged again "
                          "(--force stages them anyway)", highlight=False)
        else:
            changed.append(name)
    if changed:
        console.rule("[bold]staging")
        stage_and_report(cfg, changed, accept)


def stage_and_report(cfg: Config, names: list[str], accept: list[str] | None = None) -> None:
    """Stage the sources several at once (pipeline.stage_sources) and say what each staged; a source that failed
    keeps its staging and stops no other, and the first failure is then raised (the others are said here)."""
    from ..pipeline import stage_sources

    with console.status(f"verifying and staging {', '.join(names)}..."):
        outcomes = stage_sources(cfg, names, accept)
    failed = [outcome for outcome in outcomes.values() if isinstance(outcome, Exception)]
    for name, outcome in outcomes.items():
        if not isinstance(outcome, Exception):
            console.print(f"  {name}: staged " + ", ".join(f"{table} {rows:,}" for table, rows in outcome.items()))
        else:
            said = "" if outcome is failed[0] else f": {outcome}"
            console.print(f"  {name}: not staged, its staging is as it was{said}", highlight=False, soft_wrap=True)
    if failed:
        raise failed[0]


def print_release(results: list, prefix: str = "  ") -> None:
    """The release a download found (Companies House, ONSPD): its name and date, and where it was found."""
    release = next((r.release for r in results if r.release), None)
    if release:
        where = f"found on {release['page']}" if release.get("page") else "as configured (url)"
        console.print(f"{prefix}release {release['name']} (as at {release.get('date') or 'unknown date'}), {where}",
                      highlight=False, soft_wrap=True)


NUMBER_HEADERS = ("organisations", "records", "active", "all (incl. inactive)", "rows")


def format_when(value, zone: str = " UTC") -> str:
    """An ISO time as 'yyyy-mm-dd hh:mm UTC' (the stored values are UTC)."""
    from datetime import UTC, datetime

    if not value:
        return "-"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def _origin(urls: list[str]) -> str:
    """Where files came from, short enough for a table: 'host: file' for a URL, 'file (local)' for a path."""
    from urllib.parse import urlparse

    if not urls:
        return "-"
    parsed = urlparse(urls[0])
    name = Path(parsed.path).name or urls[0]
    where = f"{parsed.netloc}: " if parsed.scheme in ("http", "https") else ""
    local = "" if where else " (local)"
    return f"{where}{name}{local}" if len(urls) == 1 else f"{len(urls)} files, e.g. {where}{name}{local}"


def source_rows(sources: dict, staging_now: dict | None = None) -> list[dict]:
    """Per source: when it was staged, when its files were downloaded, from where (and which release), rows staged,
    and (given the current staging) when the staging folder holds something newer than the register was built from:
    other content (its fingerprint), or, where either staging recorded none, another staging time."""
    rows = []
    for name in SOURCE_NAMES:
        info = sources.get(name) or {}
        if not info.get("staged"):
            rows.append({"source": name, "staged": "not staged", "downloaded": "-", "rows": "-", "from": "-",
                         "newer": None})
            continue
        files = info.get("files") or []
        fetched = [f["fetched_at"] for f in files if f.get("fetched_at")]
        urls = [f.get("url") or f.get("file") for f in files if f.get("url") or f.get("file")]
        current = (staging_now or {}).get(name) or {}
        now = current.get("staged_at")
        if current.get("fingerprint") and info.get("fingerprint"):  # staged again from the same files: not newer
            newer = current["fingerprint"] != info["fingerprint"]
        else:
            newer = bool(now) and now != info.get("staged_at")
        release = (info.get("release") or {}).get("name")
        rows.append({"source": name, "staged": format_when(info.get("staged_at"), ""),
                     "downloaded": format_when(max(fetched), "") if fetched else "-",
                     "rows": f"{sum((info.get('row_counts') or {}).values()):,}",
                     "from": _origin(urls) + (f", release {release}" if release else ""),
                     "newer": format_when(now, "") if staging_now is not None and newer else None})
    return rows


def check_register(path: Path) -> None:
    """The checks find and report make (procurement.connection.open_register): a missing, empty, locked or foreign
    file is a PipelineError saying what to do, never a DuckDB message."""
    from ..procurement.connection import open_register

    open_register(path).close()


def print_publish_status(cfg: Config, register_path: Path, compare_staging: bool) -> None:
    """The published run (time, id, version), organisations active / all, and per-source freshness."""
    from ..db import connect
    from ..run_history import ROLLED, UNCHANGED, read_history, safe_source_versions
    from ..status import organisation_totals, published_run

    con = connect(register_path, read_only=True)
    try:
        run = published_run(con)
        totals = organisation_totals(con)
    finally:
        con.close()
    if run is None:
        console.print("[yellow]This register records no published run (no run_history row).[/]")
    else:
        console.print(f"Published: [bold]{format_when(run['finished_at'])}[/] by run {run['run_id']}")
        console.print(f"Version:   {run['version_file']}", soft_wrap=True)
        if compare_staging:
            print_switch(cfg, register_path)
    console.print("Organisations: " + ", ".join(f"{a} {active:,} active / {n:,} all" for a, active, n in totals))
    if compare_staging:
        history = read_history(cfg)
        last = history[-1] if history else None
        if (last and (run is None or last.get("run_id") != run["run_id"])
                and last.get("status") not in (*ROLLED, UNCHANGED)):
            detail = f": {last.get('message')}" if last.get("message") else ""
            console.print(f"[yellow]Latest run: {last.get('run_id')} {last.get('status')} at "
                          f"{format_when(last.get('finished_at'))}{detail}[/]")
    if run is None:
        return
    staging_now = safe_source_versions(cfg) if compare_staging else None
    sources = run["sources"]
    rows = source_rows(sources, staging_now)
    table = Table(title="Sources behind this register (times UTC)", title_justify="left")
    for h in ("source", "staged", "downloaded", "rows"):
        table.add_column(h, justify="right" if h in NUMBER_HEADERS else "left", no_wrap=True)
    for row in rows:
        table.add_row(row["source"], row["staged"], row["downloaded"], row["rows"])
    console.print(table)
    for row in rows:
        console.print(f"  {row['source']} from {row['from']}", highlight=False)
    print_freshness(cfg, sources)
    for row in rows:
        if row["newer"]:
            console.print(f"[yellow]  {row['source']}: staged again at {row['newer']}, not yet published "
                          "(`vcse publish` builds it)[/]")


def print_freshness(cfg: Config, sources: dict) -> None:
    """Each source's age against its [sources.<name>] max_age_days; a stale one is flagged in yellow."""
    from ..freshness import RELEASE_DATE, source_freshness

    table = Table(title=Text("Freshness (days; limit: [sources.<name>] max_age_days)"), title_justify="left")
    for h in ("source", "measured from", "age", "limit", "state"):
        table.add_column(h, justify="right" if h in ("age", "limit") else "left", no_wrap=True)
    checks = source_freshness(cfg, sources=sources, of="published register")
    for check in checks:
        since = "-" if not check.age_from else \
            f"{'release' if check.basis == RELEASE_DATE else 'download'} {check.age_from[:10]}"
        state = "[yellow]STALE[/]" if check.stale else ("no limit" if not check.max_age_days else "fresh")
        table.add_row(check.source, since, "-" if check.age_days is None else str(check.age_days),
                      str(check.max_age_days or "-"), state)
    console.print(table)
    for check in checks:
        if check.stale:
            console.print(Text(f"  {check.describe()}", style="yellow"))


def print_switch(cfg: Config, register_path: Path) -> None:
    """Say so when the published register was put back by `vcse rollback` rather than by its own publish."""
    from ..run_history import PUBLISHED, ROLLED_BACK, latest_switch

    last = latest_switch(cfg)
    if not last or last.get("status") == PUBLISHED:
        return
    direction = "Rolled back" if last["status"] == ROLLED_BACK else "Rolled forward"
    console.print(f"[yellow]{direction}: {format_when(last.get('finished_at'))} by run {last.get('run_id')} (the "
                  "Published time and run above are this version's first publish)[/]", highlight=False)
    console.print(Padding(Text(last.get("message") or "", style="yellow"), (0, 0, 0, 2)), highlight=False)


# status.register_summary's counts on screen: (key, title, column headers)
SUMMARY_TABLES = (
    ("records_by_source", "Source records by register", ("area", "source", "records")),
    ("by_legal_form", "Organisations by legal form", ("area", "legal form", "active", "all (incl. inactive)")),
    ("by_area_basis", "Organisations by how the area was established",
     ("area", "area basis", "active", "all (incl. inactive)")),
)


def print_register_summary(register_path: Path) -> None:
    """Counts a newcomer wants to see: by source, by legal form, by how the area was established."""
    from ..db import connect
    from ..status import register_summary

    con = connect(register_path, read_only=True)
    try:
        summary = register_summary(con)
    finally:
        con.close()
    for key, title, headers in SUMMARY_TABLES:
        table = Table(title=title, title_justify="left")
        for h in headers:
            table.add_column(h, justify="right" if h in NUMBER_HEADERS else "left")
        for row in summary[key]:
            table.add_row(*[f"{v:,}" if isinstance(v, int) else str(v) for v in row])
        console.print(table)


def print_unchanged(result) -> bool:
    """Say so when a publish found the published register's inputs again (and built nothing); True if it did."""
    from ..run_history import UNCHANGED

    if result.status != UNCHANGED:
        return False
    console.print(f"Unchanged: the staged releases, settings and code are those of the published register "
                  f"({result.version_path.name}); nothing built or published (run {result.run_id}; --force rebuilds)",
                  soft_wrap=True)
    return True


def publish_with_progress(cfg: Config, drop_areas: bool = False, accept: list[str] | None = None,
                          force: bool = False):
    """Build, check and publish, with a spinner: the build is the longest quiet step."""
    from ..publish import build_and_publish

    with console.status("linking, tagging, checking and publishing the register..."):
        return build_and_publish(cfg, drop_areas=drop_areas, accept=accept, force=force)


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command()
def demo(
    data_dir: Path = typer.Option(Path("data"), "--data-dir", file_okay=False,
                                  help="Where the demo sources and register go (a folder)."),
    scale: float = typer.Option(1.0, help="Demo size multiplier, greater than 0 (1.0 is about 1,470 active "
                                          "Wirral VCSEs)."),
    seed: int = typer.Option(20261121, help="Random seed for the synthetic demo registers."),
    config: Path | None = ConfigOpt,
) -> None:
    """Generate the offline Wirral demo registers and run the whole pipeline on them."""
    from ..demo.generate import demo_source_overrides, generate_demo

    if scale <= 0:
        raise typer.BadParameter(f"{scale} is not greater than 0", param_hint="--scale")
    cfg = load_config(config, data_dir)
    demo_dir = cfg.data_dir / "demo-sources"
    console.print(f"Generating demo registers in {demo_dir} (seed {seed}, scale {scale})")
    generate_demo(demo_dir, seed=seed, scale=scale)
    cfg = cfg.with_overrides(demo_source_overrides(demo_dir))
    refresh_sources(cfg, list(SOURCE_NAMES))
    console.rule("[bold]register")
    result = publish_with_progress(cfg)
    if not print_unchanged(result):
        console.print(f"\nPublished register: [bold]{cfg.register_path}[/]  (run {result.run_id})")
    print_register_summary(cfg.register_path)
    console.print(f"\nA year of demo council payments for local spend: [bold]vcse spend {demo_dir / 'spend'}[/] "
                  "(docs/spend.md)")


def check_areas_before_refresh(cfg: Config) -> None:
    """An area the staged postcode directory does not know fails before any download (as an unknown --accept gate
    does), not after every source is downloaded and staged. With no postcode directory staged yet (a first run) the
    areas are checked once the refresh has staged one, by the publish (publish.start_run)."""
    from ..errors import PipelineError
    from ..pipeline import resolve_areas, staged_areas

    if not cfg.areas:
        resolve_areas(cfg)  # "no area to build: set [register] areas ..."
    if staged_areas(cfg) is None:
        return
    try:
        resolve_areas(cfg)
    except PipelineError as exc:
        raise PipelineError(f"{exc}; nothing was downloaded (a local authority new in a later postcode directory: "
                            "`vcse refresh postcodes` stages it, then run again)") from None


@commands.command()
def run(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
        area: list[str] | None = AreaOpt, drop_areas: bool = DropAreasOpt,
        accept: list[str] | None = AcceptOpt, force: bool = ForceOpt) -> None:
    """Refresh every source, then build, check and publish the register (unless nothing changed)."""
    cfg = load_config(config, data_dir, area)
    check_areas_before_refresh(cfg)
    refresh_sources(cfg, list(SOURCE_NAMES), accept)
    result = publish_with_progress(cfg, drop_areas, accept, force)
    if print_unchanged(result):
        return
    console.print(f"\nPublished register: [bold]{cfg.register_path}[/]  (run {result.run_id})")
    print_register_summary(cfg.register_path)


@commands.command()
def download(sources: list[str] | None = SourceArg, config: Path | None = ConfigOpt,
             data_dir: Path | None = DataDirOpt) -> None:
    """Download sources (conditional requests: unchanged files are not fetched again)."""
    from ..pipeline import download_source

    cfg = load_config(config, data_dir)
    for name in _check_sources(sources):
        results = download_source(cfg, name)
        print_release(results, f"{name}: ")
        for r in results:
            console.print(f"{name}: {r.status} {r.path} ({r.size:,} bytes)")


@commands.command()
def stage(sources: list[str] | None = SourceArg, config: Path | None = ConfigOpt,
          data_dir: Path | None = DataDirOpt, accept: list[str] | None = AcceptOpt) -> None:
    """Verify and stage already-downloaded sources into data/staging/<source>.duckdb, several at once."""
    stage_and_report(load_config(config, data_dir), _check_sources(sources), accept)  # an unknown gate fails first


@commands.command()
def refresh(sources: list[str] | None = SourceArg, config: Path | None = ConfigOpt,
            data_dir: Path | None = DataDirOpt, accept: list[str] | None = AcceptOpt,
            force: bool = RestageOpt) -> None:
    """Download sources, and stage those with new files (no register build)."""
    refresh_sources(load_config(config, data_dir), _check_sources(sources), accept, force)


@commands.command()
def status(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
           register_file: Path | None = RegisterOpt) -> None:
    """Show the register: when and by which run it was published, how fresh each source is, and its counts."""
    cfg = load_config(config, data_dir)
    path = register_file or cfg.register_path
    check_register(path)  # "error: no register at X: build one with ..." as find and report say it
    console.print(f"Register: [bold]{path}[/]", soft_wrap=True)
    print_publish_status(cfg, path, compare_staging=register_file is None)
    print_register_summary(path)
