"""Errors that tell the user which source, file, row and column went wrong."""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class for errors the CLI reports without a traceback."""


class SourceError(PipelineError):
    """Bad or unreadable input from one register.

    The message always names the source and, where known, the file, row (1-based, header = row 1)
    and column, so a data engineer can open the file and look.
    """

    def __init__(self, source: str, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.source, self.file, self.row, self.column = source, file, row, column
        where = [f"source {source}"]
        if file:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column!r}")
        self.detail = message
        super().__init__(f"{', '.join(where)}: {message}")


class DownloadError(SourceError):
    """A download failed after its retries, or returned something that is not the expected file."""


class QualityGateError(PipelineError):
    """A data-quality gate failed, so the register was not published."""


EXCERPT_CHARS = 60  # how much of a bad value an error message quotes


def excerpt(value, limit: int = EXCERPT_CHARS) -> str:
    """repr() of a value for an error message, cut to `limit` characters with its full length noted, so a
    10 MB junk field gives a readable one-line error rather than the field itself."""
    text = str(value) if not isinstance(value, str) else value
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def os_error_message(exc: OSError) -> str:
    """One line for an operating-system error (no permission, read-only folder, full disk), naming the path."""
    import errno

    path = exc.filename or ""
    reason = exc.strerror or str(exc)
    hints = {
        errno.EACCES: "check the permissions of the file and its folder",
        errno.EPERM: "check the permissions (or the immutable flag) of the file and its folder",
        errno.EROFS: "the folder is on a read-only file system",
        errno.ENOSPC: f"free some space on the disk holding {Path(path).parent if path else 'the data folder'}",
        errno.EDQUOT: "the disk quota is used up",
    }
    hint = hints.get(exc.errno)
    where = f" {path}" if path else ""
    if getattr(exc, "filename2", None):
        where += f" -> {exc.filename2}"
    return f"cannot use{where}: {reason}" + (f" ({hint})" if hint else "")
