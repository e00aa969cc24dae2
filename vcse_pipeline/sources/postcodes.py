"""ONS Postcode Directory (ONSPD): every UK postcode with its local authority, ward, LSOA and IMD rank.

Accepts the release zip (`Data/ONSPD_<MON>_<YEAR>_UK.csv` plus the names lookups in `Documents/`) or
plain CSVs (the directory itself, and optionally ward / local authority names files). Both column layouts
are read: before 2025 (`oslaua`, `osward`, `lsoa21`, `imd`) and from 2025 (`lad25cd`, `wd25cd`,
`lsoa21cd`, `imd20ind`; the year digits may move on, so those are matched by pattern).
"""

from __future__ import annotations

import re
import tempfile
from contextlib import ExitStack
from pathlib import Path

import duckdb

from ..archive import extract_member, open_zip
from ..config import Config
from ..errors import SourceError, excerpt
from ._csv import (
    FORMAT_CHANGED,
    REPORT_VALUE,
    blank_to_null,
    check_csv_text,
    check_text_file,
    file_label,
    find_bad_value,
    ident,
    labelled,
    raise_for_scan_error,
    read_csv_sql,
    read_header,
    read_zip_member_header,
)

NAME = "postcodes"
DATA_PATTERN = "data/onspd_*_uk.csv"  # the single UK file; Data/multi_csv/ holds the same rows split up
WARD_PATTERN = "documents/ward names and codes*.csv"
LAD_PATTERN = "documents/la_ua names and codes*.csv"

# Field -> column name (exact) or regex (full match), per layout; header names compared in lower case.
LAYOUTS: dict[str, dict[str, str | re.Pattern]] = {
    "pre-2025": {"postcode": "pcds", "lad": "oslaua", "ward": "osward", "lsoa": "lsoa21", "imd": "imd",
                 "lat": "lat", "long": "long", "dointr": "dointr", "doterm": "doterm"},
    "2025": {"postcode": "pcds", "lad": re.compile(r"lad\d\dcd"), "ward": re.compile(r"wd\d\dcd"),
             "lsoa": "lsoa21cd", "imd": re.compile(r"imd\d\dind"), "lat": "lat", "long": "long",
             "dointr": "dointr", "doterm": "doterm"},
}
# The region (E12...), optional: read when the directory has it (local spend's "region" measure), else NULL.
REGION_COLUMN = re.compile(r"rgn(\d\d)?(cd)?")
# Names lookups: code and English name columns, e.g. WD25CD/WD25NM (the Welsh WD25NMW is not matched).
NAMES_FILES = {
    "ward": (re.compile(r"wd(\d\d)cd"), re.compile(r"wd\d\dnm"), "ward_code", "ward_name"),
    "local_authority": (re.compile(r"lad(\d\d)cd"), re.compile(r"lad\d\dnm"), "lad_code", "lad_name"),
}
# ONS pseudo codes (e.g. M99999999 for the Isle of Man, S99999999 for "not applicable") mean "no area".
PSEUDO_CODE = "[A-Z]99999999"
NO_COORDINATES_LAT = 99.0  # ONSPD puts 99.999999 where a postcode has no grid reference


def download(cfg: Config) -> list:
    """Fetch the current release: the newest ONSPD item the ONS geography account published on ArcGIS Online
    (releases.postcodes_release), or the configured `url` when one is set."""
    from ..download import fetch
    from ..releases import postcodes_release

    settings = cfg.section("download")
    release = postcodes_release(cfg)
    (url,), (file_name,) = release.urls, release.file_names
    return [fetch(url, cfg.download_dir(NAME) / file_name, source=NAME, settings=settings,
                  expect="csv" if file_name.lower().endswith(".csv") else "zip",
                  progress=settings.get("progress", True), release=release.as_dict())]


def detect_layout(header: list[str], file: str) -> tuple[str, dict[str, str]]:
    """(layout name, field -> actual header name) for a directory header, or SourceError naming what is missing."""
    lower = {h.lower(): h for h in header}
    missing_by_layout = {}
    for layout, fields in LAYOUTS.items():
        found, missing = {}, []
        for field, want in fields.items():
            if isinstance(want, str):
                match = [want] if want in lower else []
            else:
                match = sorted(h for h in lower if want.fullmatch(h))
            if match:
                found[field] = lower[match[-1]]  # the latest vintage if a release carries two
            else:
                missing.append(want if isinstance(want, str) else want.pattern.replace(r"\d\d", "NN"))
        if not missing:
            return layout, found
        missing_by_layout[layout] = missing
    detail = "; ".join(f"{layout} layout lacks {', '.join(m)}" for layout, m in missing_by_layout.items())
    raise SourceError(NAME, f"header matches no known ONSPD layout ({detail}); {FORMAT_CHANGED}", file=file,
                      column=min(missing_by_layout.values(), key=len)[0])


def _names_columns(header: list[str], kind: str) -> tuple[str, str, int] | None:
    """(code column, name column, two-digit year) when the header is a names lookup of this kind."""
    code_re, name_re, _, _ = NAMES_FILES[kind]
    codes = [(int(m.group(1)), h) for h in header if (m := code_re.fullmatch(h.lower()))]
    names = [h for h in header if name_re.fullmatch(h.lower())]
    if not codes or not names:
        return None
    year, code = max(codes)
    same_year = [n for n in names if n.lower()[:-2] == code.lower()[:-2]] or names
    return code, same_year[0], year


def _classify_csv(path: Path) -> str:
    header = [h.lower() for h in read_header(path, NAME)]
    if "pcds" not in header:
        for kind in NAMES_FILES:
            if _names_columns(header, kind):
                return kind
    return "data"


def _zip_inventory(path: Path) -> dict[str, str | None]:
    """Member names for the directory and the newest names lookup of each kind (None when absent)."""
    from fnmatch import fnmatch

    with open_zip(path, NAME) as archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        data = [i for i in members if fnmatch(i.filename.lower(), DATA_PATTERN)]
        if len(data) != 1:
            listing = ", ".join(i.filename for i in members[:10]) or "nothing"
            raise SourceError(NAME, f"expected one entry matching {DATA_PATTERN!r}, found {len(data)} "
                                    f"(entries: {listing}); {FORMAT_CHANGED}", file=path.name)
        found: dict[str, str | None] = {"data": data[0].filename}
        for kind, pattern in (("ward", WARD_PATTERN), ("local_authority", LAD_PATTERN)):
            best = None
            for info in members:
                if fnmatch(info.filename.lower(), pattern):
                    cols = _names_columns(read_zip_member_header(archive, info, NAME, path.name), kind)
                    if cols and (best is None or cols[2] > best[0]):
                        best = (cols[2], info.filename)
            found[kind] = best[1] if best else None
        header = read_zip_member_header(archive, data[0], NAME, path.name)
    detect_layout(header, f"{path.name}:{data[0].filename}")
    return found


def verify(paths: list[Path]) -> None:
    """One directory file (zipped or plain) with a known layout; names lookups are optional."""
    _plan([Path(p) for p in paths])


def _plan(paths: list[Path]) -> dict[str, tuple[Path, str | None] | None]:
    """Where each input is: kind -> (file, zip member or None)."""
    plan: dict[str, tuple[Path, str | None] | None] = {"data": None, "ward": None, "local_authority": None}
    if not paths:
        raise SourceError(NAME, "no files to stage: fetch the directory (`vcse refresh postcodes`)")
    for path in paths:
        if path.suffix.lower() == ".zip":
            for kind, member in _zip_inventory(path).items():
                if member:
                    _put(plan, kind, (path, member))
        else:
            check_text_file(path, NAME)
            kind = _classify_csv(path)
            if kind == "data":
                detect_layout(read_header(path, NAME), path.name)
            _put(plan, kind, (path, None))
    if plan["data"] is None:
        raise SourceError(NAME, "no postcode directory file among the inputs "
                                f"({', '.join(p.name for p in paths)}): give the ONSPD zip, or its ONSPD_*.csv")
    return plan


def _put(plan: dict, kind: str, where: tuple[Path, str | None]) -> None:
    if plan[kind] is not None:
        raise SourceError(NAME, f"two {kind} files given: {plan[kind][0].name} and {where[0].name}; give one")
    plan[kind] = where


def stage(con: duckdb.DuckDBPyConnection, paths: list[Path], cfg: Config) -> dict[str, int]:
    """Create postcode, ward and local_authority (the last two empty when no names lookup is given)."""
    plan = _plan([Path(p) for p in paths])
    zips = [where[0] for where in plan.values() if where and where[1]]
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=zips[0].parent if zips else None) as scratch, \
            ExitStack() as labels:
        files = {kind: _materialise(where, Path(scratch), labels) if where else None for kind, where in plan.items()}
        _stage_postcodes(con, files["data"])
        for kind, (_, _, code_col, name_col) in NAMES_FILES.items():
            _stage_names(con, kind, files[kind], code_col, name_col)
    return {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("postcode", "ward", "local_authority")}


def _materialise(where: tuple[Path, str | None], scratch: Path, labels: ExitStack) -> Path:
    """The file to scan: a plain CSV as it is, a zip's member extracted to `scratch`, named `zip:member` by the errors
    about it (_csv.labelled) while `labels` is open."""
    path, member = where
    if member is None:
        return path
    # fnmatch-escape the exact member name so extract_member picks that one entry.
    pattern = re.sub(r"([\[\]*?])", r"[\1]", member)
    extracted = extract_member(path, pattern, scratch / path.stem, NAME)
    return labels.enter_context(labelled(extracted, f"{path.name}:{member}"))


def _code(column: str) -> str:
    value = blank_to_null(ident(column))
    return f"CASE WHEN regexp_full_match({value}, '{PSEUDO_CODE}') THEN NULL ELSE {value} END"


def _stage_postcodes(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    header = read_header(path, NAME)
    _, col = detect_layout(header, file_label(path))
    check_csv_text(path, NAME, header)  # a bad byte in any column, or a file cut mid-row or mid-quote
    scan = read_csv_sql(path, header)
    pcds = ident(col["postcode"])
    region = next((h for h in header if REGION_COLUMN.fullmatch(h.lower())), None)
    sql = f"""
        CREATE OR REPLACE TABLE postcode AS
        SELECT coalesce(normalise_postcode({pcds}), upper({blank_to_null(pcds)})) AS postcode,
               postcode_key({pcds}) AS postcode_key,
               {_code(col["lad"])} AS lad_code,
               {_code(col["ward"])} AS ward_code,
               {_code(col["lsoa"])} AS lsoa_code,
               {_code(region) if region else "NULL::VARCHAR"} AS region_code,
               CASE WHEN _imd > 0 THEN _imd END AS imd_rank,
               CASE WHEN _lat < {NO_COORDINATES_LAT} THEN _lat END AS lat,
               CASE WHEN _lat < {NO_COORDINATES_LAT} THEN _long END AS long,
               {blank_to_null(ident(col["dointr"]))} AS date_introduced,
               {blank_to_null(ident(col["doterm"]))} AS date_terminated,
               {blank_to_null(ident(col["doterm"]))} IS NOT NULL AS is_terminated
        FROM (SELECT *, CAST({blank_to_null(ident(col["imd"]))} AS INTEGER) AS _imd,
                        CAST({blank_to_null(ident(col["lat"]))} AS DOUBLE) AS _lat,
                        CAST({blank_to_null(ident(col["long"]))} AS DOUBLE) AS _long
              FROM {scan})"""
    try:
        con.execute(sql)
    except duckdb.Error as exc:
        checks = {col["imd"]: f"TRY_CAST({blank_to_null(ident(col['imd']))} AS INTEGER) IS NULL",
                  col["lat"]: f"TRY_CAST({blank_to_null(ident(col['lat']))} AS DOUBLE) IS NULL",
                  col["long"]: f"TRY_CAST({blank_to_null(ident(col['long']))} AS DOUBLE) IS NULL"}
        checks = {c: f"{blank_to_null(ident(c))} IS NOT NULL AND {p}" for c, p in checks.items()}
        try:
            found = find_bad_value(con, scan, checks)
        except duckdb.Error:
            found = None
        if found:
            row, column, value = found
            raise SourceError(NAME, f"{excerpt(value)} is not a number: {REPORT_VALUE}", file=file_label(path),
                              row=row, column=column) from exc
        raise_for_scan_error(exc, path, NAME)


def _stage_names(con: duckdb.DuckDBPyConnection, kind: str, path: Path | None, code_col: str, name_col: str) -> None:
    if path is None:
        con.execute(f"CREATE OR REPLACE TABLE {kind} ({code_col} VARCHAR, {name_col} VARCHAR)")
        return
    header = read_header(path, NAME)
    cols = _names_columns(header, kind)
    if cols is None:
        like = "WD25CD, WD25NM" if kind == "ward" else "LAD25CD, LAD25NM"
        raise SourceError(NAME, f"no {kind} code and name columns (like {like}) "
                                f"in the header: {', '.join(header)}; {FORMAT_CHANGED}", file=file_label(path))
    code, name, _ = cols
    check_csv_text(path, NAME, header)
    try:
        con.execute(f"""
            CREATE OR REPLACE TABLE {kind} AS
            SELECT code AS {code_col}, min(name) AS {name_col}
            FROM (SELECT {blank_to_null(ident(code))} AS code, {blank_to_null(ident(name))} AS name
                  FROM {read_csv_sql(path, header)})
            WHERE code IS NOT NULL
            GROUP BY code ORDER BY code""")
    except duckdb.Error as exc:
        raise_for_scan_error(exc, path, NAME)
