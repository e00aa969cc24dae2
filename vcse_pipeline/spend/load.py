"""Loading payment and grant files into the spend database: each file read once (spend/read.py, grants.py), its
canonical rows scanned and typed by DuckDB in one statement, the file's previous lines replaced.

A file is known by where it came from (its source: the URL, or the local file's full path), so two files of one name
from different places are two files; `file` is its name for people. A file whose bytes are unchanged since it was
loaded is skipped; a file whose bytes are already loaded from another source is not loaded again (it would count
the money twice) and says which file it repeats; a bad amount or date stops the load naming the file (and sheet),
row and column (as published), and the file's previous lines stay as they were. Every file loaded counts in the
measures until it is removed (remove_files).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import duckdb

from ..db import run_sql_file, sql_file, sql_literal, sql_text, table_columns
from ..errors import SourceError, excerpt
from .grants import is_360giving_json, write_360giving_json
from .layouts import Layout
from .read import SHEET_COLUMN, SOURCE, ReadResult, sheet_label, write_canonical

# Payee names that are redactions (personal data, commercially sensitive): kept, counted, never resolved by name.
REDACTED_PATTERN = r"redact|personal data|withheld|data protection|commercial(ly)?\s+(sensitive|confidential)"
# Files a spend folder may hold; anything else there is ignored.
SPEND_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm", ".json")


def run_spend_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict | None = None) -> None:
    """Run vcse_pipeline/sql/spend/<name> (a package resource, as every .sql file is read: db.sql_file)."""
    run_sql_file(con, sql_file(f"spend/{name}"), params)


def open_spend_db(path: Path) -> duckdb.DuckDBPyConnection:
    from ..db import connect

    con = connect(path)
    run_spend_sql(con, "00_macros.sql")
    _keep_files_by_source(con)
    run_spend_sql(con, "01_tables.sql")
    return con


def _keep_files_by_source(con: duckdb.DuckDBPyConnection) -> None:
    """A database written before files were known by their source (spend_file keyed on the name alone): its files
    keep their name as their source until they are loaded again from a full location (load_files replaces them)."""
    columns = table_columns(con, "spend_file")
    if not columns or "source" in columns:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("ALTER TABLE spend_file RENAME TO spend_file_by_name")
        run_spend_sql(con, "01_tables.sql")
        con.execute("""INSERT INTO spend_file BY NAME SELECT *, file AS source FROM spend_file_by_name""")
        con.execute("DROP TABLE spend_file_by_name")
        con.execute("UPDATE spend_line SET source = file")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def source_of(path: Path) -> str:
    """A local file's source: its full path."""
    return str(Path(path).resolve())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def spend_files(locations: list[Path]) -> list[Path]:
    """The files named, and the payment files inside any folder named, in name order."""
    found = []
    for location in locations:
        location = Path(location)
        if location.is_dir():
            found += sorted(p for p in location.iterdir()
                            if p.is_file() and p.suffix.lower() in SPEND_SUFFIXES and not p.name.startswith("."))
        elif location.exists():
            found.append(location)
        else:
            raise SourceError(SOURCE, "no such file or folder", file=str(location))
    return found


def load_files(con: duckdb.DuckDBPyConnection, paths: list[Path], layouts: list[Layout],
               sources: list[str] | None = None) -> list[dict]:
    """Load each file (unchanged files skipped); returns one summary per file: file, source, layout, lines,
    skipped, duplicate_of (the file already loaded with the same bytes) and skipped_sheets (a workbook's sheets
    with no payment layout). `sources`: where each path came from (the URL fetched), else the path itself."""
    summaries = []
    for index, path in enumerate(paths):
        path = Path(path)
        source = sources[index] if sources else source_of(path)
        digest = sha256_file(path)
        known = con.execute("SELECT sha256, line_count, layout FROM spend_file WHERE source = ?", [source]).fetchone()
        summary = {"file": path.name, "source": source, "skipped": False, "duplicate_of": None,
                   "skipped_sheets": []}
        if known and known[0] == digest:
            summaries.append({**summary, "layout": known[2], "lines": known[1], "skipped": True})
            continue
        same = con.execute("SELECT file, source, line_count, layout FROM spend_file WHERE sha256 = ? AND source <> ? "
                           "AND source <> ? ORDER BY source LIMIT 1", [digest, source, path.name]).fetchone()
        if same:
            if known:   # its earlier bytes are not what it holds now; what it holds now is counted under `same`
                remove_files(con, [source])
            summaries.append({**summary, "layout": same[3], "lines": 0, "skipped": True,
                              "duplicate_of": same[1]})
            continue
        with tempfile.TemporaryDirectory(prefix="vcse-spend-") as scratch:
            canonical = Path(scratch) / "lines.csv"
            if path.suffix.lower() == ".json" or is_360giving_json(path):
                result = write_360giving_json(path, canonical)
            else:
                result = write_canonical(path, canonical, layouts)
            _insert(con, canonical, result, digest, source)
        summaries.append({**summary, "layout": result.layout, "lines": result.rows,
                          "skipped_sheets": list(getattr(result, "skipped_sheets", []))})
    return summaries


def remove_files(con: duckdb.DuckDBPyConnection, names: list[str]) -> list[dict]:
    """Take files out of the spend database (and so out of the measures): each named by its source or, when only
    one loaded file has it, its name. Returns the files removed (file, source, lines)."""
    removed = []
    for name in names:
        found = con.execute("SELECT file, source, line_count FROM spend_file WHERE source = ? OR file = ? "
                            "ORDER BY source", [name, name]).fetchall()
        exact = [f for f in found if f[1] == name]
        found = exact or found
        if not found:
            raise SourceError(SOURCE, "no such file in the spend database (vcse spend lists what is loaded)",
                              file=name)
        if len(found) > 1:
            raise SourceError(SOURCE, "several loaded files have this name: give the source of the one to remove ("
                              + ", ".join(f[1] for f in found) + ")", file=name)
        file, source, lines = found[0]
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM spend_line WHERE source = ?", [source])
            con.execute("DELETE FROM spend_file WHERE source = ?", [source])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        removed.append({"file": file, "source": source, "lines": lines})
    return removed


def loaded_files(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every file in the spend database, so the measures reconcile to files: file, source, layout, lines, £ amount,
    credit notes (lines below zero) and when it was loaded, in name order."""
    cursor = con.execute(sql_text("spend/20_files.sql"))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def duplicate_lines(con: duckdb.DuckDBPyConnection, sources: list[str]) -> list[dict]:
    """Lines of `sources` that repeat another line (the same date, amount, supplier and reference) in any loaded
    file: each group with where its lines are (file, sheet and row). Reported, never dropped: a council may pay
    the same amount twice; the analyst decides."""
    if not sources:
        return []
    cursor = con.execute(sql_text("spend/21_duplicate_lines.sql"), {"sources": sources})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _check_values(con: duckdb.DuckDBPyConnection, result: ReadResult) -> None:
    """A payment row whose amount or date is not one: an error naming the file, row and column."""
    checks = {"amount": "spend_text(amount) IS NULL OR spend_amount(amount) IS NULL",
              "payment_date": "spend_text(payment_date) IS NULL OR spend_date(payment_date) IS NULL",
              "vat": "spend_text(vat) IS NOT NULL AND spend_amount(vat) IS NULL"}
    sheet = SHEET_COLUMN if result.sheets else "NULL"
    for field, bad in checks.items():
        if field not in result.headers:
            continue
        row = con.execute(f"SELECT row_number, {field}, {sheet} FROM _spend_raw WHERE {bad} "
                          "ORDER BY rowid LIMIT 1").fetchone()   # the first in file (and sheet) order
        if row:
            what = {"amount": "an amount", "payment_date": "a date (dd/mm/yyyy, dd-Mon-yy or yyyy-mm-dd)",
                    "vat": "an amount"}[field]
            shown = excerpt(row[1]) if row[1] else "blank"
            raise SourceError(SOURCE, f"{shown} is not {what}", file=sheet_label(result.file, row[2]), row=row[0],
                              column=result.headers[field])


def _insert(con: duckdb.DuckDBPyConnection, canonical: Path, result: ReadResult, digest: str, source: str) -> None:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _spend_raw AS
                    SELECT * FROM read_csv({sql_literal(str(canonical))}, header = true, all_varchar = true,
                                           quote = '"', escape = '"', delim = ',')""")
    _check_values(con, result)
    kind = "grant" if result.layout.startswith("360giving") else "payment"
    con.execute("BEGIN TRANSACTION")
    try:
        # its own earlier lines, and those of a database from before sources whose key was the name alone
        for table in ("spend_line", "spend_file"):
            con.execute(f"DELETE FROM {table} WHERE source = ? OR (source = ? AND source = file)",
                        [source, result.file])
        con.execute(f"""
            INSERT INTO spend_line BY NAME
            SELECT file, source, sheet, row_number, kind, payment_date, amount, amount_basis, vat,
                   amount < 0 AS is_credit,
                   supplier_name, supplier_id, company_number, charity_number, supplier_postcode, expense_area,
                   expense_type, description, transaction_ref, is_redacted,
                   CASE WHEN is_redacted THEN 'redacted:' || upper(coalesce(supplier_name, ''))
                        WHEN supplier_id IS NOT NULL THEN 'id:' || supplier_id
                        WHEN spend_name_key(supplier_name) IS NOT NULL THEN 'name:' || spend_name_key(supplier_name)
                        ELSE 'unnamed' END AS supplier_key
            FROM (
                SELECT ? AS file, ? AS source, {SHEET_COLUMN if result.sheets else "NULL"} AS sheet,
                       CAST(row_number AS INTEGER) AS row_number, ? AS kind,
                       spend_date(payment_date) AS payment_date, spend_amount(amount) AS amount,
                       ? AS amount_basis, spend_amount(vat) AS vat, spend_text(supplier_name) AS supplier_name,
                       spend_supplier_id(supplier_id) AS supplier_id,
                       coalesce(spend_company_number(company_number),     -- an org-id as the supplier id
                                spend_company_number(regexp_extract(supplier_id, '^GB-COH-(.+)$', 1)))
                           AS company_number,
                       coalesce(spend_charity_number(charity_number),
                                spend_charity_number(regexp_extract(supplier_id, '^GB-CHC-(.+)$', 1)))
                           AS charity_number,
                       upper(spend_text(supplier_postcode)) AS supplier_postcode,
                       spend_text(expense_area) AS expense_area, spend_text(expense_type) AS expense_type,
                       spend_text(description) AS description, spend_text(transaction_ref) AS transaction_ref,
                       coalesce(regexp_matches(lower(supplier_name), {sql_literal(REDACTED_PATTERN)}), FALSE)
                           AS is_redacted
                FROM _spend_raw)""", [result.file, source, kind, result.basis])
        con.execute("INSERT INTO spend_file BY NAME SELECT ? AS file, ? AS source, ? AS sha256, ? AS kind, "
                    "? AS layout, ? AS amount_basis, ? AS encoding, ? AS header_row, ? AS line_count, "
                    "current_timestamp AS loaded_at",
                    [result.file, source, digest, kind, result.layout, result.basis, result.encoding,
                     result.header_row, result.rows])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS _spend_raw")


def load_tier2(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Declared tier-2 spend (a supplier's own spend with local subcontractors): a CSV with columns supplier (its
    name or the council's supplier id), financial_year ("2025-26") and local_amount. Replaces what was loaded."""
    from ..tabular_io import read_table, require_columns

    frame = read_table(path, "tier-2 spend")
    require_columns(frame, ["supplier", "financial_year", "local_amount"], "tier-2 spend", path)
    con.execute("DELETE FROM spend_tier2")
    rows = []
    for number, record in enumerate(frame.to_dict("records"), start=2):
        amount = con.execute("SELECT spend_amount(?)", [record["local_amount"]]).fetchone()[0]
        if amount is None:
            raise SourceError(SOURCE, f"{excerpt(record['local_amount']) or 'blank'} is not an amount",
                              file=path.name, row=number, column="local_amount")
        rows.append([record["supplier"], record["financial_year"], amount, path.name, number])
    if rows:
        con.executemany("INSERT INTO spend_tier2 VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)
