"""Fault suite, input side (issue 11): after a good publish of the demo, corrupt one input the way it goes wrong
in real life, run the real refresh (`vcse refresh SOURCE`, as an operator or the source's DAG would), and check
that the operator gets one clear line naming the source, file, row and column (never a traceback), and that the
published register and the source's previous staging are byte-identical to before and still queryable. A case whose
bytes the download itself refuses (an HTML page, a cut zip) runs `vcse stage` on the downloaded copy instead, so
the staging checks' own messages are checked too.

The good demo is built once per session (conftest.demo_register); each case works on its own copy of the data
folder. The vanishing-source, concurrency and kill cases are in the "runs" fault table.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.cli import main
from vcse_pipeline.demo.generate import demo_source_overrides

SOURCES_DIR = "demo-sources"
CH_ZIP = "companies_house/BasicCompanyDataAsOneFile-2026-11-01.zip"
ONSPD_ZIP = "postcodes/ONSPD_NOV_2025_UK.zip"
ONSPD_MEMBER = "Data/ONSPD_NOV_2025_UK.csv"
FCA_CSV = "fca_mutuals/SocietyList.csv"
UKCAT_CSV = "ukcat/ukcat.csv"
CCEW_CHARITY_ZIP = "charity_commission/publicextract.charity.zip"
CCEW_AREA_ZIP = "charity_commission/publicextract.charity_area_of_operation.zip"
JUNK = "x" * (10 << 20)   # a 10 MB value, as a corrupt export or a hostile file gives


# -- the corruptions: each rewrites files under a copy's demo-sources folder, as a bad download would leave them --

def rewrite_member(archive: Path, change: Callable[[bytes], bytes], member: str | None = None) -> None:
    """Rewrite one member of a zip (the only one, or `member`) through `change`, as a valid zip."""
    with zipfile.ZipFile(archive) as zf:
        contents = [(info, zf.read(info)) for info in zf.infolist()]
    archive.unlink()   # a new file: the copy's hard links to the good demo are never written through
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in contents:
            target = member or contents[0][0].filename
            zf.writestr(info, change(data) if info.filename == target else data)


def rewrite_file(path: Path, change: Callable[[bytes], bytes]) -> None:
    data = change(path.read_bytes())
    path.unlink()
    path.write_bytes(data)


def change_line(number: int, change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Apply `change` to line `number` (1-based, the header is line 1) of a file's bytes."""
    def apply(data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines[number - 1] = change(lines[number - 1])
        return b"\n".join(lines)
    return apply


def set_field(number: int, column: str, value: bytes, delimiter: bytes = b",") -> Callable[[bytes], bytes]:
    """Line `number` with the field under header `column` replaced (quoted CSV or tab-separated text)."""
    def apply(data: bytes) -> bytes:
        lines = data.split(b"\n")
        if delimiter == b"\t":
            header = lines[0].rstrip(b"\r").split(b"\t")
            fields = lines[number - 1].rstrip(b"\r").split(b"\t")
            fields[header.index(column.encode())] = value
            lines[number - 1] = b"\t".join(fields) + b"\r"
        else:
            import csv
            header = [h.strip() for h in next(csv.reader([lines[0].decode("utf-8-sig")]))]
            fields = next(csv.reader([lines[number - 1].rstrip(b"\r").decode("utf-8")]))
            encoded = [f.encode() for f in fields]
            encoded[header.index(column)] = value
            ending = b"\r" if lines[number - 1].endswith(b"\r") else b""
            lines[number - 1] = b",".join(b'"' + f.replace(b'"', b'""') + b'"' for f in encoded) + ending
        return b"\n".join(lines)
    return apply


def cut_in_quoted_field(data: bytes) -> bytes:
    """The bytes up to the middle of a quoted field about two thirds of the way through (a cut download)."""
    opening = data.index(b',"', len(data) * 2 // 3) + 2
    return data[:opening + 3]


def cut_after_comma(data: bytes) -> bytes:
    return data[:data.index(b",", len(data) * 2 // 3) + 1]


def cut_zip(data: bytes) -> bytes:
    return data[:len(data) * 3 // 5]


def flip_compressed_byte(archive: Path) -> None:
    """Corrupt one byte of the first member's compressed data, leaving the zip's directory intact (a bad disk)."""
    with zipfile.ZipFile(archive) as zf:
        info = zf.infolist()[0]
    data = bytearray(archive.read_bytes())
    name_len, extra_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    spot = start + info.compress_size * 3 // 4
    data[spot] ^= 0x55
    archive.unlink()
    archive.write_bytes(bytes(data))


def html_page(_data: bytes) -> bytes:
    return b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>\n"


def rename_member(archive: Path, name: str) -> None:
    """The zip with its one member under another name (a publisher's new packaging)."""
    with zipfile.ZipFile(archive) as zf:
        (info,) = zf.infolist()
        data = zf.read(info)
    archive.unlink()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)


def header_only(data: bytes) -> bytes:
    return data[:data.index(b"\n") + 1]


def rename_column(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        end = data.index(b"\n")
        return data[:end].replace(old, new, 1) + data[end:]
    return apply


def ukcat_rule(code: str, pattern: str) -> Callable[[bytes], bytes]:
    """The UKCAT CSV with one tag's regular expression replaced (as an upstream edit would)."""
    def apply(data: bytes) -> bytes:
        import csv
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        column = rows[0].index("Regular expression")
        for row in rows[1:]:
            if row[0] == code:
                row[column] = pattern
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue().encode()
    return apply


# -- the table ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    source: str                           # the source refreshed
    corrupt: Callable[[Path], None]       # given the copy's demo-sources folder
    expect: tuple[str, ...]               # fragments of the one-line error (a regex each)
    command: str = "refresh"              # or "stage": the files already downloaded, as `corrupt` left them


def in_zip(name: str, change: Callable[[bytes], bytes], member: str | None = None) -> Callable[[Path], None]:
    return lambda src: rewrite_member(src / name, change, member)


def in_file(name: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda src: rewrite_file(src / name, change)


def in_download(name: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """The copy of the file the good refresh downloaded (data/downloads/...), changed: what `vcse stage` reads. A
    refresh would refuse these bytes at download and keep that copy."""
    return lambda src: rewrite_file(src.parent / "downloads" / name, change)


# A member of a zip is named zip:member, whichever loader extracted it.
CH = r"source companies_house, file BasicCompanyDataAsOneFile-2026-11-01\.zip:BasicCompanyDataAsOneFile-2026-11-01\.csv"
PC = r"source postcodes, file ONSPD_NOV_2025_UK\.zip:Data/ONSPD_NOV_2025_UK\.csv"
FCA = r"source fca_mutuals, file SocietyList\.csv"
# Each error ends with what to do next (docs/operations.md, "Bad input").
def fetch_again(source: str) -> str:
    return rf"fetch the file again \(`vcse refresh {source}`\); if a fresh copy is the same, report it to the " \
        "publisher$"


FORMAT_CHANGED = r"the publisher changed the file's format: check their release notes, then report it .*$"
REPORT_VALUE = r"report it to the publisher \(the previous data stays published\)$"
CCEW = r"source charity_commission, file publicextract\.charity\.zip:publicextract\.charity\.txt"

CASES = [
    # Companies House: truncations, bad bytes, bad values, wrong files
    Case("ch-cut-in-a-quoted-field", "companies_house", in_zip(CH_ZIP, cut_in_quoted_field),
         (CH, r"row \d+", "cut short", fetch_again("companies_house"))),
    Case("ch-cut-after-a-comma", "companies_house", in_zip(CH_ZIP, cut_after_comma),
         (CH, r"row \d+", "no line break")),
    Case("ch-zip-cut-short", "companies_house", in_file(CH_ZIP, cut_zip),
         ("source companies_house", "BasicCompanyDataAsOneFile-2026-11-01.zip", "not a readable zip")),
    Case("ch-downloaded-zip-cut-short", "companies_house", in_download(CH_ZIP, cut_zip),
         ("source companies_house", r"file BasicCompanyDataAsOneFile-2026-11-01\.zip: not a readable zip",
          fetch_again("companies_house")), command="stage"),
    Case("ch-zip-crc-mismatch", "companies_house", lambda src: flip_compressed_byte(src / CH_ZIP),
         (CH, "(CRC|corrupt|invalid)", fetch_again("companies_house"))),
    Case("ch-zip-without-a-csv", "companies_house",
         lambda src: rename_member(src / CH_ZIP, "BasicCompanyDataAsOneFile-2026-11-01.txt"),
         ("source companies_house", r"BasicCompanyDataAsOneFile-2026-11-01\.zip", r"entry matching '\*\.csv', found 0",
          FORMAT_CHANGED)),
    Case("ch-windows-1252-byte-in-a-name", "companies_house",
         in_zip(CH_ZIP, set_field(40, "CompanyName", b"Caf\xe9 Community CIC")),
         (CH, "row 40", "column 'CompanyName'", "0xe9 is not valid UTF-8", fetch_again("companies_house"))),
    Case("ch-windows-1252-byte-in-an-unused-column", "companies_house",
         in_zip(CH_ZIP, set_field(41, "RegAddress.Country", b"Cymru \x96 Wales")),
         (CH, "row 41", "column 'RegAddress.Country'", "0x96")),
    Case("ch-10-mb-junk-in-a-date", "companies_house",
         in_zip(CH_ZIP, set_field(25, "IncorporationDate", JUNK.encode())),
         (CH, r"'x{60}'\.\.\. \(10,485,760 characters\)", REPORT_VALUE)),
    Case("ch-bad-date", "companies_house", in_zip(CH_ZIP, set_field(25, "IncorporationDate", b"31/02/20O9")),
         (CH, "column 'IncorporationDate'", "'31/02/20O9' is not a valid date", REPORT_VALUE)),
    Case("ch-stray-quote-in-a-name", "companies_house",
         in_zip(CH_ZIP, change_line(101, lambda line: line[:4] + b'"' + line[4:])),  # "GRA"HAM ... LIMITED"
         (r"source companies_house, file BasicCompanyDataAsOneFile-2026-11-01\.zip:"
          r"BasicCompanyDataAsOneFile-2026-11-01\.csv, row 101, column 'CompanyName'",
          r"Expected Number of Columns: 55 Found: \d+", r"quote inside a quoted field is not doubled",
          fetch_again("companies_house"))),
    Case("ch-renamed-column", "companies_house", in_zip(CH_ZIP, rename_column(b"CompanyCategory", b"Category")),
         (CH, "column 'CompanyCategory'", "missing column", FORMAT_CHANGED)),
    Case("ch-html-error-page", "companies_house", in_file(CH_ZIP, html_page),
         ("source companies_house", "HTML page")),
    Case("ch-downloaded-html-page", "companies_house", in_download(CH_ZIP, html_page),
         ("source companies_house", r"file BasicCompanyDataAsOneFile-2026-11-01\.zip: expected a zip file but got an "
          "HTML page", fetch_again("companies_house")), command="stage"),
    Case("ch-header-only", "companies_house", in_zip(CH_ZIP, header_only),
         ("source companies_house", "header but no data rows")),
    # ONS postcode directory
    Case("onspd-windows-1252-byte", "postcodes",
         in_zip(ONSPD_ZIP, set_field(101, "pcd7", b"CH2 \xa34HL"), ONSPD_MEMBER),
         (PC, "row 101", "column 'pcd7'", "0xa3 is not valid UTF-8", fetch_again("postcodes"))),
    Case("onspd-cut-mid-row", "postcodes", in_zip(ONSPD_ZIP, cut_after_comma, ONSPD_MEMBER),
         (PC, r"row \d+", "cut short")),
    Case("onspd-bad-latitude", "postcodes", in_zip(ONSPD_ZIP, set_field(12, "lat", b"53.4O"), ONSPD_MEMBER),
         (PC, "row 12", "column 'lat'", "not a number", REPORT_VALUE)),
    Case("onspd-stray-quote", "postcodes",
         in_zip(ONSPD_ZIP, change_line(101, lambda line: line[:3] + b'"' + line[3:]), ONSPD_MEMBER),
         (PC + ", row 101, column 'pcd7'", "Expected Number of Columns", "not doubled", fetch_again("postcodes"))),
    Case("onspd-zip-crc-mismatch", "postcodes", lambda src: flip_compressed_byte(src / ONSPD_ZIP),
         (PC, "(CRC|corrupt|invalid)", fetch_again("postcodes"))),
    Case("onspd-unknown-layout", "postcodes", in_zip(ONSPD_ZIP, rename_column(b"lad25cd", b"ladcode"), ONSPD_MEMBER),
         (PC, "no known ONSPD layout", FORMAT_CHANGED)),
    # FCA mutuals: a small CSV read in Python
    Case("fca-cut-mid-row", "fca_mutuals", in_file(FCA_CSV, cut_after_comma),
         (FCA, r"row \d+", "cut short")),
    Case("fca-cut-in-a-quoted-address", "fca_mutuals", in_file(FCA_CSV, cut_in_quoted_field),
         (FCA, r"row \d+", "cut short")),
    Case("fca-downloaded-file-cut-short", "fca_mutuals", in_download(FCA_CSV, cut_in_quoted_field),
         (FCA, r"row \d+", "the file was cut short", fetch_again("fca_mutuals")), command="stage"),
    Case("fca-row-short-of-a-field", "fca_mutuals",
         in_file(FCA_CSV, change_line(7, lambda line: line[:line.rindex(b",")])),
         (FCA, "row 7", "expected 12 fields, found 11", fetch_again("fca_mutuals"))),
    Case("fca-renamed-column", "fca_mutuals", in_file(FCA_CSV, rename_column(b"Society Status", b"Status")),
         (FCA, "column 'Society Status'", "missing column", FORMAT_CHANGED)),
    Case("fca-downloaded-html-page", "fca_mutuals", in_download(FCA_CSV, html_page),
         (FCA, "expected a CSV file but got an HTML page", fetch_again("fca_mutuals")), command="stage"),
    Case("fca-mixed-encodings", "fca_mutuals",
         in_file(FCA_CSV, lambda d: d.replace(b"Limited", "Cyfyngedig \u0175".encode(), 1)
                 .replace(b"Birkenhead", b"Birkenh\xe9ad", 1)),
         (FCA, "row 2", "column 'Society Name'", "0xe9", fetch_again("fca_mutuals"))),
    Case("fca-bad-date", "fca_mutuals", in_file(FCA_CSV, set_field(5, "Registration Date", b"2019-31-12")),
         (FCA, "row 5", "column 'Registration Date'", "dd/mm/yyyy", REPORT_VALUE)),
    Case("fca-10-mb-junk-in-a-date", "fca_mutuals", in_file(FCA_CSV, set_field(6, "Registration Date", JUNK.encode())),
         (FCA, "row 6", "field larger than field limit")),
    # Charity Commission extract: tab-separated text in zips
    Case("ccew-zip-crc-mismatch", "charity_commission", lambda src: flip_compressed_byte(src / CCEW_CHARITY_ZIP),
         ("source charity_commission", "publicextract.charity.zip", "(CRC|corrupt|invalid)")),
    Case("ccew-cut-mid-row", "charity_commission", in_zip(CCEW_CHARITY_ZIP, lambda d: d[:len(d) // 2]),
         (CCEW, r"row \d+", "fields, expected 34", fetch_again("charity_commission"))),
    Case("ccew-windows-1252-byte", "charity_commission",
         in_zip(CCEW_CHARITY_ZIP, set_field(7, "charity_name", b"Wirral Caf\xe9 Trust", b"\t")),
         (CCEW, "row 7", "column 'charity_name'", "0xe9", fetch_again("charity_commission"))),
    Case("ccew-10-mb-junk-in-an-income", "charity_commission",
         in_zip(CCEW_CHARITY_ZIP, set_field(9, "latest_income", JUNK.encode(), b"\t")),
         (CCEW, "row 9", "column 'latest_income'", r"'x{60}'\.\.\. \(10,485,760 characters\)", REPORT_VALUE)),
    Case("ccew-bad-date", "charity_commission",
         in_zip(CCEW_CHARITY_ZIP, set_field(11, "date_of_registration", b"1962-13-45", b"\t")),
         (CCEW, "row 11", "column 'date_of_registration'", "as a date", REPORT_VALUE)),
    Case("ccew-header-from-another-table", "charity_commission",
         in_zip(CCEW_AREA_ZIP, rename_column(b"geographic_area_type", b"area_type")),
         ("source charity_commission", "publicextract.charity_area_of_operation", "geographic_area_type",
          FORMAT_CHANGED)),
    # UKCAT rules
    Case("ukcat-catastrophic-backtracking", "ukcat", in_file(UKCAT_CSV, ukcat_rule("AR", r"(a+)+$")),
         ("source ukcat", "code AR", re.escape("(a+)+$"), "time limit", REPORT_VALUE)),
    Case("ukcat-regex-does-not-compile", "ukcat", in_file(UKCAT_CSV, ukcat_rule("AR", r"\barts(")),
         ("source ukcat", "code AR", "does not compile", REPORT_VALUE)),
    Case("ukcat-code-twice", "ukcat", in_file(UKCAT_CSV, change_line(3, lambda line: b"AN" + line[line.index(b","):])),
         ("source ukcat", "row 3", "column 'Code'", "code AN appears twice", REPORT_VALUE)),
]


# -- running a case ----------------------------------------------------------------------------------------------

@dataclass
class Copy:
    data_dir: Path
    sources: Path
    config: Path
    register: Path


def copy_demo(demo_register, dest: Path) -> Copy:
    """The good demo's data folder copied to `dest`, with a config pointing every source at the copy's files.
    The copy keeps the demo's cache (the tagging model it trained), so a case that publishes does not train it
    again."""
    shutil.copytree(demo_register.cfg.data_dir, dest, ignore=shutil.ignore_patterns("versions"))
    sources = dest / SOURCES_DIR
    settings = {"paths": {"data_dir": str(dest)}, **demo_source_overrides(sources)}
    config = dest.parent / "vcse.toml"
    lines = [f"[paths]\ndata_dir = {json.dumps(str(dest))}\n"]
    for name, values in settings["sources"].items():
        lines.append(f"[sources.{name}]\nurl = {json.dumps(values['url'])}\n")
    config.write_text("\n".join(lines), encoding="utf-8")
    return Copy(dest, sources, config, dest / "register" / "vcse_register.duckdb")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_vcse(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`vcse ARGS` through the console entry point (main), as an operator runs it: (exit code, out, err)."""
    monkeypatch.setenv("VCSE__DOWNLOAD__PROGRESS", "false")
    monkeypatch.delenv("VCSE_CONFIG", raising=False)
    monkeypatch.setattr("sys.argv", ["vcse", *args])
    try:
        main()
        code = 0
    except SystemExit as stopped:
        code = stopped.code if isinstance(stopped.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(out: str, err: str) -> str:
    """The single `error:` line, after checking there is exactly one and no traceback."""
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err[-2000:]
    # A short line: never the whole of a bad value. Paths count as one word each, so the temporary folder's
    # length (pytest --basetemp) cannot fail a message that names a path twice.
    assert len(re.sub(r"/[^\s:'\"()]+", "/PATH", lines[0])) < 600, lines[0][:600]
    return lines[0]


def assert_untouched(copy: Copy, before: dict[str, str]) -> None:
    """The published register and every staging file are byte-identical, and the register still answers."""
    assert digest(copy.register) == before["register"]
    for path in sorted((copy.data_dir / "staging").glob("*.duckdb")):
        assert digest(path) == before[path.name], path.name
    assert not list((copy.data_dir / "staging").glob("*.tmp"))
    con = duckdb.connect(str(copy.register), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM provider_directory").fetchone()[0] > 0
    finally:
        con.close()


def fingerprints(copy: Copy) -> dict[str, str]:
    found = {"register": digest(copy.register)}
    found.update({p.name: digest(p) for p in (copy.data_dir / "staging").glob("*.duckdb")})
    return found


@pytest.fixture
def copy(demo_register, tmp_path) -> Copy:
    return copy_demo(demo_register, tmp_path / "data")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_fails_in_one_line_and_loses_nothing(case: Case, copy: Copy, monkeypatch, capsys):
    before = fingerprints(copy)
    case.corrupt(copy.sources)
    code, out, err = run_vcse(monkeypatch, capsys, case.command, case.source, "--config", str(copy.config))
    assert code == 1, out + err
    line = error_line(out, err)
    for fragment in case.expect:
        assert re.search(fragment, line), f"{fragment!r} not in {line!r}"
    assert_untouched(copy, before)


# -- operator mistakes and the machine's state: unreadable files, read-only folders, a full disk -------------------

def deny_reading(path: Path, monkeypatch) -> None:
    """Take away read permission on `path`. Root reads any file whatever its mode (CI runs as root), so there
    the open() calls on that one file fail as the kernel would fail them for another user."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    import builtins

    real_open, real_link = builtins.open, os.link

    def refuse(file):
        if Path(os.fsdecode(file)).resolve() == path.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(file))

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)):
            refuse(file)
        return real_open(file, *args, **kwargs)

    def guarded_link(src, dst, *args, **kwargs):
        refuse(src)
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(os, "link", guarded_link)


def make_read_only(folder: Path, request) -> None:
    """A folder nothing can be written into: mode 555, and for root (whom modes do not stop) the immutable flag."""
    folder.chmod(0o555)
    request.addfinalizer(lambda: folder.chmod(0o755))
    if os.geteuid() == 0:
        flagged = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        if flagged.returncode:
            pytest.skip(f"running as root and chattr +i is not allowed here: {flagged.stderr.decode().strip()}")
        request.addfinalizer(lambda: subprocess.run(["chattr", "-i", str(folder)], check=True))


def fill_the_disk(monkeypatch) -> None:
    """Every streamed copy (a zip entry being extracted) fails as on a full disk."""
    def no_space(src, dst, length=0):
        raise OSError(errno.ENOSPC, "No space left on device", getattr(dst, "name", None))
    monkeypatch.setattr(shutil, "copyfileobj", no_space)


def no_space_writing(out) -> None:
    """What writing the extract's rewritten text does on a full disk."""
    raise OSError(errno.ENOSPC, "No space left on device", out.name)


@dataclass(frozen=True)
class OperatorCase:
    id: str
    source: str
    prepare: Callable[[Copy, pytest.MonkeyPatch, pytest.FixtureRequest], None]
    expect: tuple[str, ...]


OPERATOR_CASES = [
    OperatorCase("source-file-without-read-permission", "fca_mutuals",
                 lambda c, mp, rq: deny_reading(c.sources / FCA_CSV, mp),
                 ("source fca_mutuals", "SocietyList.csv", "Permission denied")),
    OperatorCase("read-only-staging-folder", "fca_mutuals",
                 lambda c, mp, rq: make_read_only(c.data_dir / "staging", rq),
                 ("staging", "fca_mutuals.duckdb.tmp", "(Permission denied|Operation not permitted|Read-only)")),
    OperatorCase("read-only-download-folder", "ukcat",
                 lambda c, mp, rq: (rewrite_file(c.sources / UKCAT_CSV, lambda d: d + b"\n"),
                                    make_read_only(c.data_dir / "downloads" / "ukcat", rq)),
                 ("source ukcat", r"downloads/ukcat/ukcat\.csv", "(Permission denied|Operation not permitted)")),
    OperatorCase("full-disk-while-extracting", "companies_house", lambda c, mp, rq: fill_the_disk(mp),
                 ("source companies_house", "BasicCompanyDataAsOneFile-2026-11-01.zip", "No space left on device",
                  "free some space")),
    OperatorCase("full-disk-while-rewriting-the-extract", "charity_commission",
                 lambda c, mp, rq: mp.setattr("vcse_pipeline.sources.charity_commission._write_records",
                                              lambda chunks, n, out, where: no_space_writing(out)),
                 ("source charity_commission", "publicextract.charity", "_work/charity.tsv",
                  "No space left on device", "free some space")),
]


@pytest.mark.parametrize("case", OPERATOR_CASES, ids=[c.id for c in OPERATOR_CASES])
def test_an_operator_mistake_is_one_line_naming_the_path(case: OperatorCase, copy: Copy, monkeypatch, capsys,
                                                         request):
    before = fingerprints(copy)
    case.prepare(copy, monkeypatch, request)
    # --force: most cases keep the staged files, which a refresh would otherwise not stage again
    code, out, err = run_vcse(monkeypatch, capsys, "refresh", case.source, "--force", "--config", str(copy.config))
    monkeypatch.undo()   # give open() and the rest back before checking the files
    assert code == 1, out + err
    line = error_line(out, err)
    for fragment in case.expect:
        assert re.search(fragment, line), f"{fragment!r} not in {line!r}"
    assert_untouched(copy, before)


# -- repeated keys: reported and resolved, never a constraint traceback --------------------------------------------

def repeat_rows(data: bytes, number: int, changed: Callable[[bytes], bytes] | None = None) -> bytes:
    """The file with line `number` added again at the end as it is, and (given `changed`) once more, changed."""
    lines = data.rstrip(b"\r\n").split(b"\n")
    ending = b"\r" if lines[0].endswith(b"\r") else b""
    row = lines[number - 1].rstrip(b"\r")
    added = [row] + ([changed(row)] if changed else [])
    return b"\n".join([*lines, *(r + ending for r in added)]) + b"\n"


@pytest.mark.slow
def test_repeated_charity_and_company_numbers_are_reported_and_resolved(copy: Copy, monkeypatch, capsys):
    """The extract with a charity twice (once identical, once with a newer year end) and the Companies House file
    with a company twice: the refresh reports each, keeps one row by the documented rule, and the register
    builds (it died with _duckdb.ConstraintException: duplicate key "E08000015, charity_commission:...")."""
    def newer_year_end(data: bytes) -> Callable[[bytes], bytes]:
        header = data[:data.index(b"\n") + 1]
        change = set_field(2, "latest_acc_fin_period_end_date", b"2026-10-31 00:00:00.0000000", b"\t")
        return lambda row: change(header + row).split(b"\n")[1].rstrip(b"\r")

    rewrite_member(copy.sources / CCEW_CHARITY_ZIP, lambda d: repeat_rows(d, 5, newer_year_end(d)))
    rewrite_member(copy.sources / CH_ZIP, lambda d: repeat_rows(d, 25))   # row 25 once more, identical
    charity = zipfile.ZipFile(copy.sources / CCEW_CHARITY_ZIP).read("publicextract.charity.txt").split(b"\n")
    number = int(charity[4].split(b"\t")[1])
    with caplog_at_warning() as records:
        code, out, err = run_vcse(monkeypatch, capsys, "refresh", "charity_commission", "companies_house",
                                  "--config", str(copy.config))
    assert code == 0, out + err
    assert "Traceback" not in out + err
    notes = " ".join(" ".join(err.split()).split("warning: "))   # shown to the operator, one line each
    for said in (records, notes):
        said = " ".join(said) if isinstance(said, list) else said
        assert ("charity_commission: charity has 1 organisation_number(s) more than once: 2 repeated row(s) "
                "dropped (0 identical to the row kept; otherwise the row with the latest date_of_extract / "
                "latest_acc_fin_period_end_date was kept)") in said
        assert ("companies_house: company has 1 company_number(s) more than once: 1 repeated row(s) dropped "
                "(1 identical to the row kept") in said
    staging = duckdb.connect(str(copy.data_dir / "staging" / "charity_commission.duckdb"), read_only=True)
    try:
        rows = staging.execute("SELECT line, kept, identical_to_kept, row_json FROM duplicate_row "
                               "WHERE key = ? ORDER BY line", [str(number)]).fetchall()
        kept = staging.execute("SELECT latest_acc_fin_period_end_date FROM charity WHERE organisation_number = ?",
                               [number]).fetchall()
    finally:
        staging.close()
    lines = len(charity) - 1   # the header is line 1, the two added rows are the last two lines
    assert [(r[0], r[1], r[2]) for r in rows] == [(5, False, False), (lines - 1, False, False), (lines, True, True)]
    assert [str(k[0]) for k in kept] == ["2026-10-31"]
    code, out, err = run_vcse(monkeypatch, capsys, "publish", "--config", str(copy.config))
    assert code == 0, out + err
    con = duckdb.connect(str(copy.register), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM source_record WHERE record_id = ?",
                           [f"charity_commission:{number}"]).fetchone()[0] <= 1
    finally:
        con.close()


class caplog_at_warning:   # noqa: N801 - used as a context manager
    """The messages of the warnings logged inside the block (pytest's own capture keeps them off stderr)."""

    def __enter__(self) -> list[str]:
        self.messages: list[str] = []
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = lambda record: self.messages.append(record.getMessage())
        logging.getLogger("vcse_pipeline").addHandler(self.handler)
        return self.messages

    def __exit__(self, *exc) -> None:
        logging.getLogger("vcse_pipeline").removeHandler(self.handler)


# -- a data folder whose path holds a quote, spaces and non-ASCII letters -------------------------------------------

@pytest.mark.slow
def test_the_demo_builds_in_a_folder_with_quotes_spaces_and_accents(demo_register, tmp_path, monkeypatch, capsys):
    """No path is pasted into SQL: `ATTACH '{path}'` broke on a quote in the data folder's path. The folder starts
    with the session demo's tagging model in its cache (trained on the packaged labels, whatever the scale), so the
    run downloads, stages, builds and publishes there without training it again."""
    data = tmp_path / "O'Brien's \"shared\" drive" / "Régistre VCSE – Wirral" / "data"
    shutil.copytree(demo_register.cfg.data_dir / "cache", data / "cache")
    code, out, err = run_vcse(monkeypatch, capsys, "demo", "--data-dir", str(data), "--scale", "0.05")
    assert code == 0, out + err
    register = data / "register" / "vcse_register.duckdb"
    con = duckdb.connect(str(register), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM provider_directory").fetchone()[0] > 0
    finally:
        con.close()
    code, out, err = run_vcse(monkeypatch, capsys, "status", "--data-dir", str(data))
    assert code == 0, out + err
