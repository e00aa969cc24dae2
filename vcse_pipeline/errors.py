"""Errors that tell the user which source, file, row and column went wrong, and whether retrying can help."""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class for errors the CLI reports without a traceback.

    Most cannot heal by waiting (a corrupt or wrong file, schema drift, bad rows, a failed quality gate, a bad
    setting or parameter), so under Airflow the task fails at once instead of retrying. `transient=True` marks
    one that may (a server that kept answering 503, a file another process holds locked): it is retried.
    """

    transient = False

    def __init__(self, *args, transient: bool = False):
        super().__init__(*args)
        self.transient = transient


class SourceError(PipelineError):
    """Bad or unreadable input from one register.

    The message always names the source and, where known, the file, row (1-based, header = row 1)
    and column, so a data engineer can open the file and look.
    """

    def __init__(self, source: str, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None, transient: bool = False):
        self.source, self.file, self.row, self.column = source, file, row, column
        where = [f"source {source}"]
        if file:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column!r}")
        self.detail = message
        super().__init__(f"{', '.join(where)}: {message}", transient=transient)

    def __reduce__(self):
        # Rebuilt from its parts, not its message (Exception's default): a stage in a worker process sends it to the
        # refresh that started it (worker_processes), which raises it as the stage's own error.
        return (_source_error, (type(self), self.source, self.detail, self.file, self.row, self.column,
                                self.transient), self.__dict__)


def _source_error(cls, source, detail, file, row, column, transient):
    return cls(source, detail, file=file, row=row, column=column, transient=transient)


class DownloadError(SourceError):
    """A download failed after its retries (transient: the server may recover), or returned something that is not
    the expected file (not transient: the same bytes would come again)."""


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


# What DuckDB says when a write fails for want of space, wherever it meets it (an IOException, or a commit's or a
# checkpoint's TransactionException or FatalException around the same words).
WRITE_FAILURES = ("Could not write file", "No space left on device", "File too large", "Disk quota exceeded")


def write_failure(exc: BaseException) -> str | None:
    """The line of a DuckDB error that says a file could not be written (it names the file), with what to do; None
    when the error is about something else."""
    for line in str(exc).splitlines():
        if any(words in line for words in WRITE_FAILURES):
            return f"{line.strip()} (free some space on the disk holding the data folder, then run the step again)"
    return None


# Errors from outside the pipeline's own code that a later try may not meet: the network, and a file or database
# another process holds. Matched by name so that classifying an error imports nothing.
_TRANSIENT_TYPES = {
    "requests.exceptions.ConnectionError", "requests.exceptions.Timeout", "urllib3.exceptions.ProtocolError",
    "builtins.ConnectionError", "builtins.TimeoutError", "builtins.BlockingIOError", "builtins.InterruptedError",
}
_LOCK_MESSAGES = ("could not set lock", "conflicting lock", "database is locked", "resource temporarily unavailable")


def retry_can_help(exc: BaseException) -> bool | None:
    """Whether trying again may succeed: True (transient: retry with backoff), False (it cannot heal: fail now),
    or None when the error is not one the pipeline knows (a crash, a timeout: the task's usual retries apply).

    The pipeline's own errors say so themselves (`PipelineError.transient`); for others, network errors and
    file or database locks, HTTP 5xx and 429 are transient.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # a lock or reset may be the cause of the error raised
        seen.add(id(exc))
        if isinstance(exc, PipelineError):
            return exc.transient
        names = {f"{t.__module__}.{t.__qualname__}" for t in type(exc).__mro__}
        if names & _TRANSIENT_TYPES or any(m in str(exc).lower() for m in _LOCK_MESSAGES):
            return True
        status = getattr(getattr(exc, "response", None), "status_code", None)  # requests.HTTPError
        if isinstance(status, int) and (status == 429 or status >= 500):
            return True
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return None


class DivergedStorageError(PipelineError):
    """A task sees another data folder (or other staging) than the one its run or the source's asset event announced.

    Retrying on the same worker cannot fix it, and publishing would publish the wrong data: the run stops.
    """
