"""errors.write_failure: a write DuckDB could not make is one line for the operator, whichever exception DuckDB wraps
it in (the messages are DuckDB 2.0's own, met on a full disk and under a file-size limit)."""

from __future__ import annotations

import duckdb
import pytest

from vcse_pipeline.errors import write_failure

COMMIT = ('TransactionContext Error: Failed to commit: Could not write file '
          '"/srv/vcse/data/register/versions/register-1.duckdb.wal": No space left on device')
CHECKPOINT = ('FATAL Error: Failed to create checkpoint because of error: Could not write file '
              '"/srv/vcse/data/staging/fca_mutuals.duckdb.tmp": File too large')


@pytest.mark.parametrize(("error", "line"), [
    (duckdb.TransactionException(COMMIT), COMMIT),
    (duckdb.FatalException(CHECKPOINT + "\n\nThis error signals an assertion failure within DuckDB."), CHECKPOINT)])
def test_a_write_that_failed_is_its_own_line_and_what_to_do(error, line):
    told = write_failure(error)
    assert told is not None and told.startswith(line) and "free some space" in told


def test_other_duckdb_errors_are_left_to_their_traceback():
    assert write_failure(duckdb.CatalogException("Catalog Error: Table with name society does not exist!")) is None
    assert write_failure(duckdb.TransactionException(
        "TransactionContext Error: cannot rollback - no transaction is active")) is None
