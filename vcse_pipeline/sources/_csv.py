"""CSV helpers shared by the Companies House, postcode and FCA mutuals loaders.

The big files are scanned by DuckDB; Python only reads headers, and, when DuckDB rejects a file, scans
it once more to name the exact line (so the happy path pays nothing for good error messages).

A staging error names the source, the file (`zip:member` for a member of a zip: file_label), row and column, and
ends with what to do next, as docs/operations.md's bad-input table says: fetch_again for a file that may have been
damaged on the way (bad bytes, a cut file, an unreadable row), FORMAT_CHANGED for a column missing or renamed,
REPORT_VALUE for a value that is not its column's type.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlparse

import duckdb

from ..archive import check_data_file, csv_ends_mid_row, extract_member, find_member, open_zip
from ..db import sql_literal
from ..errors import SourceError

_HEADER_BYTES = 1 << 20  # a header line longer than 1 MiB means this is not a CSV
# What to do next, at the end of a staging error (docs/operations.md, "Bad input").
FORMAT_CHANGED = ("the publisher changed the file's format: check their release notes, then report it so the "
                  "loader can follow (the previous data stays published)")
REPORT_VALUE = "report it to the publisher (the previous data stays published)"


def fetch_again(source: str) -> str:
    """The next step for a file that may have been damaged on its way here (a cut or corrupt download or copy)."""
    return (f"fetch the file again (`vcse refresh {source}`); if a fresh copy is the same, report it to the "
            "publisher")


# Longest row DuckDB is asked to read: a longer one is refused with its line; a shorter junk value reaches the
# value checks, whose errors quote an excerpt of it.
MAX_LINE_BYTES = 64 << 20


def ident(name: str) -> str:
    """A double-quoted SQL identifier (source headers contain dots and spaces)."""
    return '"' + name.replace('"', '""') + '"'


def blank_to_null(expr: str) -> str:
    """SQL for a trimmed text value with empty strings as NULL (the staging convention)."""
    return f"nullif(trim({expr}), '')"


def check_text_file(path: Path, source: str) -> None:
    """Refuse a missing, empty or HTML file where a CSV was expected."""
    check_data_file(path, source, "CSV")


def parse_header(first_line: bytes, source: str, file: str) -> list[str]:
    """Column names of a CSV header line, BOM removed and each name stripped of surrounding spaces."""
    if not first_line.strip():
        raise SourceError(source, f"file has no header row: {fetch_again(source)}", file=file)
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = first_line.decode("cp1252", errors="replace")
    names = next(csv.reader([text.rstrip("\r\n")]))
    return [name.strip() for name in names]


def read_header(path: Path, source: str) -> list[str]:
    check_text_file(path, source)
    with path.open("rb") as fh:
        return parse_header(fh.readline(_HEADER_BYTES), source, file_label(path))


def read_zip_member_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, zip_name: str) -> list[str]:
    """Header of a CSV inside a zip, read without extracting the (possibly 2.5 GB) member."""
    header, _has_rows = read_zip_member_start(archive, info, source, zip_name)
    return header


def read_zip_member_start(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str,
                          zip_name: str) -> tuple[list[str], bool]:
    """(header, whether a data line follows) of a CSV inside a zip."""
    try:
        with archive.open(info) as fh:
            first = fh.readline(_HEADER_BYTES)
            second = fh.readline(_HEADER_BYTES)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise SourceError(source, f"zip entry {info.filename} is unreadable ({exc}): {fetch_again(source)}",
                          file=zip_name) from exc
    if not first:
        raise SourceError(source, f"zip entry {info.filename} is empty: {fetch_again(source)}", file=zip_name)
    return parse_header(first, source, f"{zip_name}:{info.filename}"), bool(second.strip())


def require_columns(header: Iterable[str], required: Iterable[str], source: str, file: str) -> None:
    """SourceError naming every required column the header lacks (a renamed column shows up here), and what to do."""
    present = set(header)
    missing = [name for name in required if name not in present]
    if missing:
        raise SourceError(source, f"missing column(s) {', '.join(repr(m) for m in missing)}; "
                                  f"the header has: {header_summary(list(header))}; {FORMAT_CHANGED}", file=file,
                          column=missing[0])


def header_summary(header: list[str], shown: int = 12) -> str:
    """A header for an error message: the first names, and how many there are (Companies House has 55)."""
    if len(header) <= shown:
        return ", ".join(header)
    return f"{', '.join(header[:shown])}, ... ({len(header)} columns)"


def read_csv_sql(path: Path, header: list[str], encoding: str = "utf-8", skip: int = 1,
                 max_line_size: int | None = None) -> str:
    """A DuckDB read_csv call that uses our parsed (stripped) header names, every column VARCHAR.

    `max_line_size` (default MAX_LINE_BYTES) also sizes DuckDB's read buffers: a scan of a whole multi-gigabyte
    file with a smaller one holds far less memory.

    The header row is skipped and named explicitly rather than sniffed, so a header with leading spaces,
    a BOM or a type-looking column never changes what the query sees.
    """
    columns = ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in header)
    return (f"read_csv({sql_literal(path)}, header = false, skip = {skip}, auto_detect = false, delim = ',', "
            f"quote = '\"', escape = '\"', columns = {{{columns}}}, encoding = {sql_literal(encoding)}, "
            f"strict_mode = false, null_padding = false, max_line_size = {max_line_size or MAX_LINE_BYTES})")


# Control characters that never occur in the registers' text, so a CSV line reads (and writes) as one value.
LINE_DELIM, LINE_QUOTE = "\x01", "\x02"


def read_lines_sql(path: Path, skip: int = 0) -> str:
    """A DuckDB read_csv call giving each physical line of a file as one VARCHAR column `line`."""
    return (f"read_csv({sql_literal(path)}, columns = {{'line': 'VARCHAR'}}, header = false, skip = {skip}, "
            f"auto_detect = false, delim = {sql_literal(LINE_DELIM)}, quote = '', escape = '')")


def check_csv_text(path: Path, source: str, header: list[str], label: str | None = None,
                   chunk_size: int = 1 << 24) -> None:
    """One streamed pass over a whole CSV before DuckDB reads it.

    DuckDB checks UTF-8 only in the columns a query reads, and with strict_mode off it takes a file cut in
    the middle of a row, or of a quoted field, as complete. So a byte that is not UTF-8 (in any column) is a
    SourceError naming its row and column, and so is a file whose last row was cut (no line break after
    it, and a quoted field left open or fewer fields than the header: archive.csv_ends_mid_row) or whose last
    line leaves a quoted field open. The pass only asks each chunk "all ASCII?" (decoding the rare chunk that is not),
    about 1.5 s per GB (measured on a shared 2-core machine, file in the page cache); line numbers are counted
    only when there is an error to report.
    """
    label = label or file_label(path)
    offset = 0        # bytes of the file before `buf`
    carry = b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            buf = carry + chunk
            if not buf:
                break
            good = len(buf)
            if not buf.isascii():
                try:
                    buf.decode("utf-8")
                except UnicodeDecodeError as exc:
                    # A multi-byte character cut by the chunk boundary is completed by the next chunk.
                    if not (chunk and exc.reason == "unexpected end of data"):
                        line_start = buf.rfind(b"\n", 0, exc.start) + 1
                        raise SourceError(source, f"byte 0x{buf[exc.start]:02x} is not valid UTF-8 (the file "
                                                  "should be UTF-8: a byte from another encoding, or a corrupt file): "
                                                  f"{fetch_again(source)}",
                                          file=label, row=_line_of(path, offset + exc.start),
                                          column=_column_at(buf[line_start:exc.start], header)) from exc
                    good = exc.start
            offset += good
            carry = buf[good:]
            if not chunk:
                break
    if offset == 0:
        return
    with path.open("rb") as fh:
        fh.seek(max(0, offset - _HEADER_BYTES))
        tail = fh.read()
    if csv_ends_mid_row(path):
        raise SourceError(source, "the last row has no line break after it and is not whole (a quoted field left "
                                  "open, or fewer fields than the header): the file was cut short (a truncated "
                                  f"download or copy): {fetch_again(source)}", file=label, row=_line_of(path, offset))
    last_line = tail[tail.rfind(b"\n", 0, len(tail) - 1) + 1:]
    if last_line.count(b'"') % 2:  # the last line opens a field that never closes, unless a record spans lines
        opened = _unclosed_quote_line(path)
        if opened:
            raise SourceError(source, "a quoted field is never closed: the file was cut short or is corrupt: "
                                      f"{fetch_again(source)}", file=label, row=opened)


def _line_of(path: Path, position: int) -> int:
    """The 1-based line holding byte `position` of a file (error path only: one more pass)."""
    lines = 1
    with path.open("rb") as fh:
        while position > 0:
            block = fh.read(min(position, 1 << 24))
            if not block:
                break
            lines += block.count(b"\n")
            position -= len(block)
    return lines


def _column_at(line_prefix: bytes, header: list[str]) -> str | None:
    """The header name of the field a line's bytes up to a position fall in (None past the last column)."""
    text = line_prefix.decode("utf-8", errors="replace")
    fields = next(csv.reader([text + "\x00"]), [""])  # the marker keeps a trailing empty field
    index = len(fields) - 1
    return header[index] if 0 <= index < len(header) else None


def _unclosed_quote_line(path: Path) -> int:
    """The line where a field that is never closed begins, or 0 when every quote closes (error path only)."""
    inside, opened = False, 0
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if line.count(b'"') % 2:
                inside = not inside
                if inside:
                    opened = number
    return opened if inside else 0


def raise_for_scan_error(exc: duckdb.Error, path: Path, source: str, label: str | None = None) -> None:
    """Turn a DuckDB CSV error into a SourceError naming the file (`zip:member` for an extracted member, see
    file_label), line, column where it can be found, DuckDB's reason and what to do. Always raises.

    Bad bytes and cut files are caught before DuckDB reads a file (check_csv_text); this is for the rest
    (a quote inside a quoted field that is not doubled, a row with too few fields, a line longer than DuckDB takes).
    """
    text = str(exc)
    match = re.search(r"Line: (\d+)", text)
    row = int(match.group(1)) if match else None
    reason = _scan_error_reason(text) or type(exc).__name__
    column = None
    if row is not None:
        with suppress(OSError):
            line = _physical_line(path, row)
            stray = _stray_quote(line)
            if stray is not None:
                with suppress(SourceError):
                    column = _column_at(line[:stray], read_header(path, source))
                reason += "; a quote inside a quoted field is not doubled (\"\")"
    raise SourceError(source, f"unreadable CSV ({reason}): {fetch_again(source)}",
                      file=label or file_label(path), row=row, column=column) from exc


# Where DuckDB's CSV error message goes on from its reason: the fixes it suggests, then the reader's options.
_SCAN_ERROR_TAIL = re.compile(r"\n(?:Possible (?:fix|Solution)|\n\s*file = )")


def _scan_error_reason(text: str) -> str | None:
    """DuckDB's reason in a CSV error ("Expected Number of Columns: 55 Found: 49", "Maximum line size of ...
    exceeded"): the line before its suggested fixes, after the offending line it quotes (which may span lines)."""
    head = _SCAN_ERROR_TAIL.split(text, maxsplit=1)[0]
    lines = [line.strip() for line in head.strip().splitlines() if line.strip()]
    if not lines:
        return None
    if len(lines) == 1 or lines[-1].startswith("Original Line:"):
        return lines[0][:200]  # no reason given: the error's first line
    return lines[-1][:200]


def _physical_line(path: Path, number: int) -> bytes:
    """Line `number` (1-based) of a file, without its line break (error path only: one more pass)."""
    with path.open("rb") as fh:
        for current, line in enumerate(fh, start=1):
            if current == number:
                return line.rstrip(b"\r\n")
    return b""


def _stray_quote(line: bytes) -> int | None:
    """The position of the first quote that ends a quoted field but is followed by neither a comma nor the end of
    the line (`"ACME "THE CHARITY"`: a quote in a value that was not doubled), or None."""
    i, n = 0, len(line)
    while i < n:
        if line[i:i + 1] != b'"':  # an unquoted field: up to the next comma
            comma = line.find(b",", i)
            if comma < 0:
                return None
            i = comma + 1
            continue
        i += 1
        while i < n:
            if line[i:i + 1] == b'"':
                if line[i + 1:i + 2] == b'"':
                    i += 2
                    continue
                if i + 1 < n and line[i + 1:i + 2] != b",":
                    return i
                break
            i += 1
        else:
            return None  # the quoted field goes on past this line
        i += 2
    return None


def find_bad_value(con: duckdb.DuckDBPyConnection, scan_sql: str, checks: dict[str, str],
                   where_sql: str = "TRUE") -> tuple[int, str, str] | None:
    """Rescan a file to find the first row (header = row 1) where a check fails.

    `checks` maps a column name to a SQL predicate that is TRUE when that column's value is bad.
    Returns (row, column, value). Only used after a conversion failed, so its cost is off the happy path.
    """
    names = list(checks)
    flags = ", ".join(f"CASE WHEN {checks[n]} THEN {sql_literal(n)} END" for n in names)
    any_bad = " OR ".join(f"coalesce({checks[n]}, false)" for n in names)
    row = con.execute(f"""
        SELECT line, coalesce({flags}) AS col, t.*
        FROM (SELECT row_number() OVER () + 1 AS line, * FROM {scan_sql}) AS t
        WHERE ({where_sql}) AND ({any_bad})
        ORDER BY line LIMIT 1""").fetchone()
    if row is None:
        return None
    line, column = row[0], row[1]
    described = [d[0] for d in con.description]
    value = row[described.index(column, 2)]
    return int(line), column, value


@contextmanager
def csv_files(paths: list[Path], member_pattern: str, source: str) -> Iterator[list[Path]]:
    """The CSV files to scan: plain CSVs as they are, zips extracted (one member each) to a scratch folder
    beside the zip that is removed afterwards."""
    zips = [p for p in paths if p.suffix.lower() == ".zip"]
    if not zips:
        for path in paths:
            check_text_file(path, source)
        yield list(paths)
        return
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=zips[0].parent) as scratch:
        out: list[Path] = []
        try:
            for i, path in enumerate(paths):
                if path.suffix.lower() == ".zip":
                    extracted = extract_member(path, member_pattern, Path(scratch) / f"{i}-{path.stem}", source)
                    with open_zip(path, source) as archive:
                        member = find_member(archive, member_pattern, path, source).filename
                    _EXTRACTED_FROM[extracted] = f"{path.name}:{member}"
                    out.append(extracted)
                else:
                    check_text_file(path, source)
                    out.append(path)
            yield out
        finally:
            for path in out:
                _EXTRACTED_FROM.pop(path, None)


# An extracted member's label while csv_files (or labelled) holds it: the zip and the member's name in it, as the other
# messages name a member ("BasicCompanyDataAsOneFile-2026-11-01.zip:BasicCompanyDataAsOneFile-2026-11-01.csv").
_EXTRACTED_FROM: dict[Path, str] = {}


def file_label(path: Path) -> str:
    """How an error names a file csv_files (or labelled) gave: `zip:member` for a member extracted from a zip, else
    its name."""
    return _EXTRACTED_FROM.get(Path(path), Path(path).name)


@contextmanager
def labelled(path: Path, label: str) -> Iterator[Path]:
    """`path` named `label` by file_label (and so by every error about it) while the block runs: a loader that
    extracts a zip's members itself names each `zip:member`, as csv_files does."""
    _EXTRACTED_FROM[Path(path)] = label
    try:
        yield path
    finally:
        _EXTRACTED_FROM.pop(Path(path), None)


def csv_headers(path: Path, member_pattern: str, source: str) -> list[tuple[str, list[str]]]:
    """(file label, header) of a plain CSV, or of the member of a zip matching member_pattern.

    A file with a header and no data rows is refused: a register export is never legitimately empty.
    """
    if path.suffix.lower() == ".zip":
        with open_zip(path, source) as archive:
            info = find_member(archive, member_pattern, path, source)
            label = f"{path.name}:{info.filename}"
            header, has_rows = read_zip_member_start(archive, info, source, path.name)
    else:
        label, header = path.name, read_header(path, source)
        with path.open("rb") as fh:
            fh.readline(_HEADER_BYTES)
            has_rows = bool(fh.readline(_HEADER_BYTES).strip())
    if not has_rows:
        raise SourceError(source, f"the file has a header but no data rows: {fetch_again(source)}", file=label)
    return [(label, header)]


def file_name_from_url(url: str, default: str) -> str:
    """The last path segment of a URL or path when it looks like a file name, else `default`."""
    name = Path(urlparse(url).path).name if "://" in url else Path(url).name
    return name if Path(name).suffix.lower() in (".zip", ".csv") else default


def decode_small_text(raw: bytes, source: str, file: str) -> tuple[str, str]:
    """Decode a small register file: UTF-8 (BOM optional), or a whole-file Windows-1252 export.

    A file that fails UTF-8 but holds no multi-byte UTF-8 at all is read as Windows-1252 (what Excel
    saves). A file mixing valid UTF-8 with invalid bytes is corrupt: SourceError naming the line.
    Returns (text, encoding used).
    """
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start]
        if _UTF8_MULTIBYTE.search(raw):
            header = parse_header(raw[:raw.find(b"\n")], source, file)
            column = _column_at(raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start], header)
            raise SourceError(source, f"byte 0x{byte:02x} is not valid UTF-8, and the rest of the file is UTF-8 "
                                      f"(mixed encodings: the file is corrupt): {fetch_again(source)}", file=file,
                              row=line,
                              column=column) from exc
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SourceError(source, f"byte 0x{raw[exc.start]:02x} is neither UTF-8 nor Windows-1252: "
                                  f"{fetch_again(source)}", file=file, row=line) from exc


_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def parse_small_csv(text: str, source: str, file: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit: a junk value, not a register row
        raise SourceError(source, f"unreadable CSV ({exc}): {fetch_again(source)}", file=file,
                          row=reader.line_num) from exc
