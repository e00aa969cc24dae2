"""The pipeline's steps as plain functions: the CLI and the Airflow DAGs both call these.

Every step is safe to rerun: downloads are conditional, staging replaces a source's file atomically,
and a register build writes a new file that is only published when it is complete.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

from .clock import now_iso
from .config import Config
from .db import attach_staging, connect, remove_database, require_checkpointed, run_sql_dir, sql_literal
from .download import FetchResult
from .errors import SourceError
from .faultpoints import fault_point
from .fingerprint import content_fingerprint, stage_code, staged_content
from .postcode import register_macros
from .releases import staged_release
from .sources import SOURCE_NAMES, get_source


def download_source(cfg: Config, name: str, *, record: bool = True) -> list[FetchResult]:
    """Fetch one source's files into data/downloads/<name>/ (conditional: unchanged files are kept).

    Files left from an earlier configuration (last month's Companies House file, say) are removed, so the
    download folder always holds exactly what the next stage should load. Holds the source's download run lock:
    a second download of it (a shell refresh beside the source DAG's download task) is refused, naming the holder,
    instead of writing into the same `.part` file. A failure is one `failed` run in the history, naming the source
    and the error (run_history.source_failure_recorded); `record` False leaves that to the caller (an Airflow task
    is recorded once it fails for good, not on a try that is retried: airflow_tasks.end_refresh_on_failure).
    """
    from .run_history import new_run_id, source_failure_recorded
    from .runlock import download_lock_name, run_lock

    run_id = new_run_id()
    with source_failure_recorded(cfg, run_id, f"download {name}", record=record), \
            run_lock(cfg, download_lock_name(name), run_id, f"download {name}"):
        results = get_source(name).download(cfg)
        _remove_stale_downloads(cfg.download_dir(name), {r.path.resolve() for r in results})
    return results


def _remove_stale_downloads(download_dir: Path, keep: set[Path]) -> None:
    for path in download_dir.iterdir():
        if path.is_file() and path.name != "manifest.jsonl" and not path.name.endswith((".part", ".part.json")) \
                and path.resolve() not in keep:
            path.unlink()


def downloaded_paths(cfg: Config, name: str) -> list[Path]:
    """The files the last download of a source produced, from its manifest."""
    from .download import latest_paths

    return latest_paths(cfg.download_dir(name))


def stage_source(cfg: Config, name: str, paths: list[Path] | None = None,
                 accept: list[str] | tuple[str, ...] | None = None, *, record: bool = True) -> dict[str, int]:
    """Verify and stage one source into data/staging/<name>.duckdb, replacing it only on success.

    Holds the source's run lock (a second stage of the same source is refused, naming the holder), cleans what a
    killed stage of it left, and refuses a staging whose tables went empty or moved beyond [quality]
    staged_rows_band against the previous staging (quality.staging_gates) unless `accept` names the gate. A failure
    is one run in the history: `stage_refused` for the gates (check_staging), else `failed` naming the source and
    the error (as for download_source, `record` False leaves that to the caller).
    """
    from .quality import parse_accept
    from .run_history import new_run_id, source_failure_recorded
    from .runlock import run_lock, stage_lock_name

    parse_accept(accept)  # an unknown gate fails before any work
    run_id = new_run_id()
    with source_failure_recorded(cfg, run_id, f"stage {name}", record=record), \
            run_lock(cfg, stage_lock_name(name), run_id, f"stage {name}"):
        return _stage_locked(cfg, name, paths, accept, run_id)


def _stage_locked(cfg: Config, name: str, paths: list[Path] | None, accept, run_id: str) -> dict[str, int]:
    module = get_source(name)
    paths = paths if paths is not None else downloaded_paths(cfg, name)
    if not paths:
        raise SourceError(name, f"nothing downloaded yet in {cfg.download_dir(name)}: "
                                f"run `vcse download {name}` (or `vcse refresh {name}`) first")
    final = cfg.staging_path(name)
    tmp = final.with_suffix(".duckdb.tmp")
    remove_stage_debris(cfg, name, tmp)
    con = None
    # Everything from here is inside the try, the connect and the rename too: a stop (Ctrl-C, a refresh stopping its
    # stage workers) that lands just as a call returns must still remove the half-written file.
    try:
        module.verify(paths)
        started = time.monotonic()
        con = connect(tmp)
        register_macros(con)
        counts = module.stage(con, paths, cfg)
        fault_point("stage_loaded")
        # What this staging is made of (files by content, settings) and its fingerprint, which the register build
        # compares and the source DAG's asset event carries. staged_at is when, not what; release is the publisher's.
        # stage_code: the code that made these tables, so a refresh stages the same files again after an upgrade.
        content = staged_content(cfg, name, paths)
        con.execute(
            "CREATE TABLE _staged AS SELECT ? AS source, ? AS staged_at, ? AS files, ? AS row_counts, ? AS seconds, "
            "? AS release, ? AS content, ? AS fingerprint, ? AS stage_code",
            [name, now_iso(), json.dumps([str(p) for p in paths]),
             json.dumps(counts), round(time.monotonic() - started, 3),
             json.dumps(staged_release(cfg.download_dir(name), paths)), json.dumps(content),
             content_fingerprint(content), stage_code()],
        )
        # close() checkpoints too, but a checkpoint that cannot write (a full disk) fails there without a word and
        # leaves the tables in tmp's WAL, which checking reads back and the rename leaves behind: an empty staging.
        con.execute("CHECKPOINT")
        con.close()
        require_checkpointed(tmp)
        check_staging(cfg, name, final, counts, accept, run_id)
        fault_point("stage_before_replace")
        os.replace(tmp, final)
    except BaseException:
        if con is not None:
            con.close()
        remove_stage_debris(cfg, name, tmp)
        raise
    return counts


def staged_already(cfg: Config, name: str, paths: list[Path] | None = None) -> str | None:
    """When data/staging/<name>.duckdb was staged from these very files (by content), with these settings, by this
    code (its `staged_at`), so staging them again would make the same tables; None when it was not (or there is no
    staging, or one that records less: staged by older code)."""
    from .db import table_columns

    paths = paths if paths is not None else downloaded_paths(cfg, name)
    final = cfg.staging_path(name)
    if not paths or not final.exists():
        return None
    try:
        con = connect(final, read_only=True)
    except Exception:
        return None  # unreadable: staging again replaces it
    try:
        if not {"fingerprint", "stage_code"} <= (table_columns(con, "_staged") or set()):
            return None
        staged_at, fingerprint, code = con.execute(
            "SELECT staged_at, fingerprint, stage_code FROM _staged").fetchone()
    finally:
        con.close()
    if code != stage_code() or fingerprint != content_fingerprint(staged_content(cfg, name, paths)):
        return None
    return str(staged_at)


def stage_sources(cfg: Config, names: list[str], accept: list[str] | tuple[str, ...] | None = None,
                  workers: int | None = None, paths: dict[str, list[Path]] | None = None
                  ) -> dict[str, dict[str, int] | Exception]:
    """Stage several sources (stage_source; `paths` by source, else what each last downloaded), `workers` at once
    (default [download] stage_workers): each source's row counts, or the error that left its staging as it was. One
    source failing stops no other, as the source DAGs run apart; Ctrl-C stops them all. One worker stages here, one
    source after another."""
    from .quality import parse_accept

    parse_accept(accept)  # an unknown gate fails before any work
    paths = paths or {}
    workers = workers or stage_worker_count(cfg, len(names))
    if workers <= 1 or len(names) <= 1:
        outcomes: dict[str, dict[str, int] | Exception] = {}
        for name in names:
            try:
                outcomes[name] = stage_source(cfg, name, paths.get(name), accept=accept)
            except Exception as exc:  # noqa: BLE001 - the caller reports it with the others
                outcomes[name] = exc
        return outcomes
    from .worker_processes import Job, run_jobs

    jobs = [Job(f"the stage of {name}", f"vcse-stage-{name}", _stage_in_worker,
                (cfg.raw, name, paths.get(name), list(accept) if accept else None)) for name in names]
    results = run_jobs(jobs, workers, stop_on_failure=False, lost="its staging was left as it was")
    return dict(zip(names, results, strict=True))


def stage_worker_count(cfg: Config, sources: int) -> int:
    """How many sources stage at once: [download] stage_workers ("auto": the CPUs this process may use), never more
    than the sources."""
    from .worker_processes import workers_for

    return workers_for(cfg, "download", "stage_workers", sources)


def _stage_in_worker(raw: dict, name: str, paths: list[Path] | None, accept: list[str] | None) -> dict[str, int]:
    return stage_source(Config(raw), name, paths, accept=accept)


def remove_stage_debris(cfg: Config, name: str, tmp: Path) -> None:
    """What a killed stage of this source left (its .tmp staging file and WAL, zip extraction folders); only
    called under the source's lock, so no live stage is using them."""
    import shutil

    remove_database(tmp)
    download_dir = cfg.download_dir(name)
    if download_dir.is_dir():
        for scratch in download_dir.glob(".extract-*"):
            shutil.rmtree(scratch, ignore_errors=True)


def previous_row_counts(final: Path) -> dict[str, int] | None:
    """Rows per table of the current staging file (its _staged record), None when there is none to compare."""
    if not final.exists():
        return None
    try:
        con = connect(final, read_only=True)
    except Exception:
        return None  # unreadable: the new staging replaces it; nothing to compare against
    try:
        row = con.execute("SELECT row_counts FROM _staged").fetchone()
    except Exception:
        return None  # an old staging file without _staged
    finally:
        con.close()
    return json.loads(row[0]) if row and row[0] else None


def check_staging(cfg: Config, name: str, final: Path, counts: dict[str, int], accept, run_id: str) -> None:
    """Gate a new staging against the previous one; a breach raises (recorded in the run history), and an
    accepted breach is recorded too, so the history says who let which change through."""
    from .quality import accepted_summary, apply_accept, staging_error, staging_gates
    from .run_history import append_history, run_record

    results = apply_accept(staging_gates(cfg, name, previous_row_counts(final), counts), accept)
    error = staging_error(name, results)
    if error:
        append_history(cfg, run_record(run_id, "stage_refused", started_at=now_iso(), gates=results,
                                       sources={name: {"row_counts": counts}}, message=str(error)))
        raise error
    accepted = accepted_summary(results)
    if accepted:
        append_history(cfg, run_record(run_id, "stage_accepted", started_at=now_iso(), gates=results,
                                       sources={name: {"row_counts": counts}}, message=f"source {name}: {accepted}"))


# Texts whose new tags a build holds (in a DuckDB temp table, tagging/cache.py) before writing them to the tag cache:
# each holds its service-area scores, so a process building every English area (about a million organisations) would
# otherwise hold them all until the end.
TAGS_HELD = 20_000
# Organisations tagged together (tag_areas: one pass over the staging and the tag cache for the batch's areas; an area
# larger than this is a batch of its own). All of a worker's 148 areas at once held about 450 MB more at 0.25x
# national size; batches of this size cost a few more staging scans and hold a sixth of it.
TAG_BATCH_ORGANISATIONS = 20_000


# Source records of the areas a build writes together (register/build.build_areas: one INSERT per table and one
# statement per enrich and reference step for the batch): each statement has a fixed cost of 10-20 ms whatever its
# rows, and most areas of a national build have a few thousand records.
BUILD_BATCH_RECORDS = 20_000


def build_batches(areas: list[str], held: set[str], records: dict[str, int], limit: int) -> list[list[str]]:
    """The areas in build order, cut into runs of at most `limit` source records (`records`; an area larger than that
    alone) whose rows the build's area tables all hold (`held`); an area they do not hold is a batch of its own."""
    batches: list[list[str]] = []
    count = 0
    for area in areas:
        if area not in held:
            batches.append([area])
            count = limit  # nothing joins it
            continue
        if not batches or batches[-1][0] not in held or count + records.get(area, 0) > limit:
            batches.append([])
            count = 0
        batches[-1].append(area)
        count += records.get(area, 0)
    return batches


def tag_batches(organisations: dict[str, int], limit: int) -> list[list[str]]:
    """The areas in build order, cut into runs of at most `limit` organisations (an area larger than that alone)."""
    batches: list[list[str]] = []
    held = 0
    for area, count in organisations.items():
        if not batches or held + count > limit:
            batches.append([])
            held = 0
        batches[-1].append(area)
        held += count
    return batches


def build_register(cfg: Config, out_path: Path, areas: list[str] | None = None,
                   national: Path | None = None, as_of: date | None = None, order_postcodes: bool = True,
                   memory_limit: str | None = None) -> dict:
    """Build the register for each area into a new DuckDB file at out_path (which must not exist).

    `as_of` is the run's date, from which every area counts overdue filings and years operating (today when not
    given): a run's workers and tasks pass the one date, so a run across midnight counts from one day.

    The national state (register/national.py) is built once for all the areas, or reused when the staging and
    settings are those it was built from; `national` names one already built (the Airflow national_state task's).
    `order_postcodes` False leaves postcode_location in the order its areas added postcodes, for a file that is
    assembled with others (parallel_build.assemble_register sorts the merged table). `memory_limit`: DuckDB's for
    this build ([register] build_memory_limit when not given; a build worker passes worker_memory_limit)."""
    from .name_caches import clear_name_caches
    from .register.area import national_coverage, require_records_for
    from .register.area_facts import HELD, area_records, hold_area_tables
    from .register.build import build_areas
    from .register.national import SCHEMA, attach_national_state, ensure_national_state
    from .register.reference_copy import copy_reference, order_postcode_location
    from .tagging.apply import prepare_tagging, tag_areas

    areas = list(dict.fromkeys(areas or cfg.areas))  # an area named twice is built once
    as_of = as_of or date.today()
    if out_path.exists():
        raise FileExistsError(f"{out_path} exists: a build always writes a new file")
    national = national or ensure_national_state(cfg, areas)
    con = connect(out_path)
    summary: dict = {"areas": {}, "as_of": as_of.isoformat()}
    try:
        # DuckDB's default (80% of the machine's memory) let a process building many areas grow with them: spill
        # past the limit instead (to out_path's .tmp folder, DuckDB's default for a file).
        limit = memory_limit or cfg.section("register")["build_memory_limit"]
        con.execute(f"SET memory_limit = {sql_literal(limit)}")
        summary["memory_limit"] = limit
        register_macros(con)
        attach_staging(con, cfg)
        attach_national_state(con, national)
        covered = national_coverage(con, areas)
        for area in (a for a in areas if a not in covered):  # a state built for other areas fails here, at once
            require_records_for(con, area)
        held = hold_area_tables(con, areas)  # what each area reads, selected for all of them in one pass
        run_sql_dir(con, "core")
        tagging = prepare_tagging(con, cfg)
        for batch in build_batches(areas, held, area_records(con), BUILD_BATCH_RECORDS):
            built = build_areas(con, cfg, batch, batch[0] in held, as_of)
            references = copy_reference(con, batch)
            for area in batch:
                summary["areas"][area] = {**built[area], "reference": references[area]}
                fault_point("build_area_done")
        if order_postcodes:
            order_postcode_location(con)
        # Tagged once the areas exist: one pass over the staging and the tag cache for each batch of them (tag_areas)
        organisations = {area: summary["areas"][area]["organisations"] for area in areas}
        for batch in tag_batches(organisations, TAG_BATCH_ORGANISATIONS):
            for area, tagged in tag_areas(con, cfg, batch, tagging, flush_after=TAGS_HELD).items():
                summary["areas"][area]["tagging"] = tagged
            clear_name_caches()
        tagging.flush()
        run_sql_dir(con, "views")
        for source in (*SOURCE_NAMES, SCHEMA):
            con.execute(f"DETACH {source}")
        con.execute(f"DETACH DATABASE IF EXISTS {HELD}")  # frees the areas' rows before the file's checkpoint
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return summary


def staged_areas(cfg: Config) -> dict[str, str] | None:
    """Local authority code -> name (or code) the staged postcode directory knows; None when it is not staged."""
    path = cfg.staging_path("postcodes")
    if not path.exists():
        return None
    from .db import table_columns

    con = connect(path, read_only=True)
    try:
        if "lad_code" not in (table_columns(con, "postcode") or set()):
            return None  # not a staging file this code can read: the build will say so
        names = {}
        if {"lad_code", "lad_name"} <= (table_columns(con, "local_authority") or set()):
            names = dict(con.execute("SELECT lad_code, lad_name FROM local_authority").fetchall())
        codes = [r[0] for r in con.execute("SELECT DISTINCT lad_code FROM postcode WHERE lad_code IS NOT NULL")
                 .fetchall()]
    finally:
        con.close()
    return {code: names.get(code) or code for code in sorted(set(codes) | set(names))}


# An area name meaning every English local authority the staged postcode directory knows.
ALL_ENGLAND = "all-england"
# GSS prefixes of English local authorities: unitary, non-metropolitan district, metropolitan district, London borough.
ENGLISH_LA_PREFIXES = ("E06", "E07", "E08", "E09")


def english_local_authorities(known: dict[str, str] | None) -> list[str]:
    """The English local authority codes of the staged postcode directory (`staged_areas`), in code order."""
    from .errors import PipelineError

    if known is None:
        raise PipelineError(f"{ALL_ENGLAND} needs the postcode directory staged: run `vcse refresh postcodes` first")
    return [code for code in sorted(known) if code.startswith(ENGLISH_LA_PREFIXES)]


def resolve_areas(cfg: Config, areas: list[str] | None = None) -> list[str]:
    """GSS codes for the areas to build ([register] areas / --area): codes or names ("Wirral"), checked against the
    staged postcode directory, so an unknown area, or none at all, is an error before a build that would publish
    nothing. `all-england` stands for every English local authority in the staged postcode directory."""
    from .errors import PipelineError
    from .lookups import area_profile_named, key, unknown

    typed_areas = list(areas or cfg.areas or [])
    if not typed_areas:
        raise PipelineError("no area to build: set [register] areas (e.g. areas = [\"E08000015\"]) or pass --area")
    known = staged_areas(cfg)
    codes = []
    for typed in typed_areas:
        if key(typed) == key(ALL_ENGLAND):
            codes += [c for c in english_local_authorities(known) if c not in codes]
            continue
        named = [code for code, name in (known or {}).items() if key(typed) in (key(code), key(name))]
        profile = area_profile_named(typed)  # the councils the procurement commands know by name
        code = named[0] if named else profile["area_code"] if profile else str(typed).strip().upper()
        if known is not None and code not in known:
            choices = [f"{name} ({c})" if name != c else c for c, name in known.items()]
            error = unknown("area", typed, choices)
            raise PipelineError(f"{error} ([register] areas / --area, checked against the staged postcode directory "
                                f"{cfg.staging_path('postcodes')}, which has {len(known):,} local authorities)")
        if code not in codes:
            codes.append(code)
    return codes
