"""db.py: the DuckDB helpers every step shares."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# In a process of its own, so that no other test's queries have left DuckDB memory to reuse: the resident size (MB)
# before a query that groups six million rows, after it, and after release_freed_memory().
_MEASURE = textwrap.dedent("""
    import json
    import duckdb
    from vcse_pipeline.db import release_freed_memory

    def resident_mb():
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096 // 2**20

    con = duckdb.connect(config={"memory_limit": "1GB", "threads": 2})
    con.execute("SELECT 1").fetchall()
    before = resident_mb()
    con.execute("SELECT count(*) FROM (SELECT i % 3000000 AS k, list(i) FROM range(6000000) t(i) GROUP BY k)")
    con.fetchall()
    after_query = resident_mb()
    release_freed_memory()
    print(json.dumps([before, after_query, resident_mb()]))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; DuckDB's allocator is jemalloc on Linux")
def test_release_freed_memory_hands_back_what_a_finished_query_freed():
    # DuckDB keeps a finished query's freed memory for reuse while its connection is open (about 0.5 GB after the
    # reconciliation index's queries on a national register): released, the process is near its size before
    result = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True, check=True, timeout=120)
    before, after_query, released = json.loads(result.stdout)
    kept = after_query - before
    assert kept >= 100, (before, after_query)    # the query's freed memory stayed with the process ...
    assert released - before <= kept / 4, (before, after_query, released)   # ... until released
