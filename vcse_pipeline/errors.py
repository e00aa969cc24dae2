"""Errors that tell the user which source, file, row and column went wrong."""

from __future__ import annotations


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
