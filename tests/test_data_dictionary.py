"""docs/data-dictionary.md describes every table, view and column of a built register (datasette style)."""

import re
from pathlib import Path

import duckdb
import pytest
from procurement_fixtures import copy_register

DICTIONARY = Path(__file__).resolve().parent.parent / "docs" / "data-dictionary.md"


FEED_PART = "# The opportunity feed"
SPEND_PART = "# Local spend"


def documented_types(part: str = "register") -> dict[tuple[str, str], str]:
    """{(table, column): type} as the dictionary's register part, or (part="feed") its opportunity feed part, or
    (part="spend") its local spend part writes them (the second cell of a column's row)."""
    types: dict[tuple[str, str], str] = {}
    current = None
    register_text, _, rest = DICTIONARY.read_text(encoding="utf-8").partition(FEED_PART)
    feed_text, _, spend_text = rest.partition(SPEND_PART)
    for line in {"register": register_text, "feed": feed_text, "spend": spend_text}[part].splitlines():
        heading = re.match(r"^## `(\w+)`", line)
        if heading:
            current = heading.group(1)
            types[(current, "")] = ""   # a section, even one listing no columns
        column = re.match(r"^\| `(\w+)` \| ([^|]+) \| *\S", line)
        if column and current is not None:
            types[(current, column.group(1))] = column.group(2).strip()
    return types


def documented(part: str = "register") -> dict[str, set[str]]:
    """{table: columns} described in the dictionary's `part` (documented_types; tests/test_spend_demo.py)."""
    sections: dict[str, set[str]] = {}
    for (table, column) in documented_types(part):
        sections.setdefault(table, set()).update({column} if column else set())
    return sections


@pytest.fixture(scope="module", params=["fixture", "demo"])
def objects(request, tmp_path_factory):
    """The hand-made test register and the real pipeline's published register (vcse demo)."""
    if request.param == "demo":
        path = request.getfixturevalue("demo_register").path
    else:
        path = copy_register(request.getfixturevalue("register_master"),
                             tmp_path_factory.mktemp("dict") / "register.duckdb")
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("""
        SELECT c.table_name, c.column_name FROM duckdb_columns() c
        WHERE c.table_name IN (SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()
                               WHERE NOT internal)""").fetchall()
    con.close()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def test_every_table_and_view_has_a_section(objects):
    missing = sorted(set(objects) - set(documented()))
    assert not missing, f"add a section to docs/data-dictionary.md for: {', '.join(missing)}"


def test_every_column_is_described(objects):
    docs = documented()
    missing = [f"{t}.{c}" for t, cols in sorted(objects.items()) for c in sorted(cols - docs.get(t, set()))]
    assert not missing, f"describe these columns in docs/data-dictionary.md: {', '.join(missing)}"


def test_no_section_for_something_the_register_lacks(objects):
    stale = sorted(set(documented()) - set(objects))
    assert not stale, f"docs/data-dictionary.md describes tables the register does not have: {', '.join(stale)}"
