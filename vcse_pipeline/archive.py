"""Safe reading of downloaded files (zips, and the shape of a CSV's last row): each failure names the source and
file (`zip:member` for a member of a zip) and ends with what to do next, in sources/_csv.py's words (fetch_again for
a file damaged on its way here, FORMAT_CHANGED for a zip laid out unlike the publisher's), as docs/operations.md's
bad-input table says."""

from __future__ import annotations

import contextlib
import csv
import errno
import fnmatch
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from .errors import SourceError, os_error_message

# errno values that say the machine (a full or read-only disk, permissions) failed, not the file being read.
_MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def is_machine_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.errno in _MACHINE_ERRNOS


_HTML_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")


def looks_like_html(path: Path) -> bool:
    """True for the error pages some servers send with a 200 where a data file was expected."""
    with path.open("rb") as fh:
        head = fh.read(512).lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(_HTML_STARTS)


def csv_ends_mid_row(path: Path, tail_bytes: int = 1 << 20) -> bool:
    """True when a CSV's last row was cut: no line break after it, and a quoted field left open or fewer
    fields than the header.

    A body can match its Content-Length and still be cut (the publisher's copy was). Most exports end their
    last row with a line break, but not every publisher is known to, so a last row without one is accepted
    when it is whole: as many fields as the header and every quote closed. (A cut that lands exactly on a
    field or row boundary looks whole; the per-source count gates catch lost rows.)
    """
    with path.open("rb") as fh:
        header = fh.readline()
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return False
        fh.seek(max(0, size - tail_bytes))
        tail = fh.read()
    if tail.endswith(b"\n"):
        return False
    last = tail[tail.rfind(b"\n") + 1:]
    if last.count(b'"') % 2:
        return True

    def fields(line: bytes) -> int:
        return len(next(csv.reader([line.decode("utf-8", errors="replace").rstrip("\r\n")]), []))

    return fields(last) < fields(header)


def _fetch_again(source: str) -> str:
    from .sources._csv import fetch_again  # here, not at the top: _csv imports this module

    return fetch_again(source)


def _format_changed() -> str:
    from .sources._csv import FORMAT_CHANGED

    return FORMAT_CHANGED


def check_data_file(path: Path, source: str, kind: str) -> None:
    """Refuse a missing or empty file, or an HTML error page where a `kind` ('zip', 'CSV') file was expected."""
    if not path.exists():
        raise SourceError(source, "file not found", file=str(path))
    try:
        empty = path.stat().st_size == 0
        html = not empty and looks_like_html(path)
    except OSError as exc:  # no read permission: an operator's mistake, told in one line
        raise SourceError(source, os_error_message(exc), file=str(path)) from exc
    if empty:
        raise SourceError(source, f"file is empty (0 bytes): {_fetch_again(source)}", file=path.name)
    if html:
        raise SourceError(source, f"expected a {kind} file but got an HTML page (an error page from the server?): "
                                  f"{_fetch_again(source)}", file=path.name)


def open_zip(path: Path, source: str) -> zipfile.ZipFile:
    """Open a zip, or raise SourceError saying why it is not one (empty, HTML page, truncated, corrupt)."""
    check_data_file(path, source, "zip")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise SourceError(source, f"not a readable zip file, truncated or corrupt ({exc}): {_fetch_again(source)}",
                          file=path.name) from exc
    for info in archive.infolist():
        _check_member_path(info.filename, path, source)
    return archive


def _check_member_path(name: str, zip_path: Path, source: str) -> None:
    # A member like ../../etc/passwd or /etc/passwd would escape the directory we extract into.
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise SourceError(source, f"zip entry {name!r} has a path outside the target directory; refusing to extract: "
                                  f"{_fetch_again(source)}", file=zip_path.name)


def find_member(archive: zipfile.ZipFile, pattern: str, zip_path: Path, source: str) -> zipfile.ZipInfo:
    """The single member whose name matches a glob pattern (case-insensitive)."""
    matches = [i for i in archive.infolist()
               if not i.is_dir() and fnmatch.fnmatch(i.filename.lower(), pattern.lower())]
    if len(matches) != 1:
        found = ", ".join(i.filename for i in archive.infolist()[:10]) or "nothing"
        raise SourceError(source, f"expected exactly one entry matching {pattern!r}, found {len(matches)} "
                                  f"(entries: {found}); {_format_changed()}", file=zip_path.name)
    return matches[0]


def extract_member(zip_path: Path, pattern: str, dest_dir: Path, source: str) -> Path:
    """Stream one member (by glob pattern) to dest_dir, checking its CRC; returns the extracted path."""
    with open_zip(zip_path, source) as archive:
        info = find_member(archive, pattern, zip_path, source)
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / PurePosixPath(info.filename).name
        partial = target.with_name(target.name + ".part")
        try:
            with archive.open(info) as src, partial.open("wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            if is_machine_error(exc):  # the disk, not the zip: say which folder
                raise SourceError(source, os_error_message(exc), file=zip_path.name) from exc
            raise SourceError(source, f"zip entry is truncated or corrupt ({exc}): {_fetch_again(source)}",
                              file=f"{zip_path.name}:{info.filename}") from exc
        partial.replace(target)
        return target
