"""What a refresh that kept the last full build's fuzzy-link decisions for unchanged records would get wrong: compare
the register a refresh published with the one before it, on the pairs of records neither of which changed.

    .venv/bin/python bench/refresh_link_drift.py BEFORE.duckdb AFTER.duckdb
    .venv/bin/python bench/refresh_link_drift.py BEFORE.duckdb AFTER.duckdb --json out.json

For example the two versions `bench/national_build.py --refresh-inputs` leaves in its last build's
`register/versions/` (the cold build of every area, then the refresh where about 1% of organisations changed).

Why: a full build links every area again, because the fuzzy linker's word weights and blocking keys are statistics
of the area's whole set of names (batch_matching.NameIndex), so a changed name can move the score of a pair whose
names did not change. A refresh that linked only the changed records, against statistics frozen at the last full
build, would keep the old decision, score and evidence for every pair of unchanged records. This script measures
how far those would be from what the full build gave, so the choice between exact and frozen refreshes can be made
on figures: pairs of unchanged records whose decision (link, review, neither) differs, whose score differs, whose
evidence differs, and the organisations those differing links touch.

A record counts as changed when its source_record row differs in any column, it is in only one register, or the
names of its organisation (organisation_name) differ: a wider net than the linker's inputs (names, other names,
postcode, town, register), so every difference left among the pairs of unchanged records comes from the
statistics. Pairs with a changed record are not measured: a frozen refresh would score them afresh, with the old
statistics.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

FUZZY_METHOD = "fuzzy name"  # register.fuzzy_links.METHOD: the only links whose score the statistics set

CHANGED_RECORDS = """
CREATE TEMP TABLE changed AS
WITH names AS (   -- each record's organisation's names, as one sorted list
    SELECT db, i.area_code, i.record_id, list_sort(list(DISTINCT n.source || ':' || n.name_type || ':' || n.name))
           AS names
    FROM (SELECT 'before' AS db, area_code, org_id, record_id FROM before.organisation_identifier
          UNION ALL SELECT 'after', area_code, org_id, record_id FROM after.organisation_identifier) i
    JOIN (SELECT 'before' AS db, * FROM before.organisation_name
          UNION ALL SELECT 'after', * FROM after.organisation_name) n USING (db, area_code, org_id)
    GROUP BY ALL),
rows AS (
    SELECT 'before' AS db, s.*, n.names FROM before.source_record s
    LEFT JOIN names n ON n.db = 'before' AND n.area_code = s.area_code AND n.record_id = s.record_id
    UNION ALL
    SELECT 'after', s.*, n.names FROM after.source_record s
    LEFT JOIN names n ON n.db = 'after' AND n.area_code = s.area_code AND n.record_id = s.record_id),
differ AS (
    (SELECT * EXCLUDE (db) FROM rows WHERE db = 'before' EXCEPT SELECT * EXCLUDE (db) FROM rows WHERE db = 'after')
    UNION ALL
    (SELECT * EXCLUDE (db) FROM rows WHERE db = 'after' EXCEPT SELECT * EXCLUDE (db) FROM rows WHERE db = 'before'))
SELECT DISTINCT area_code, record_id FROM differ
"""

DECISIONS = """
CREATE TEMP TABLE decisions AS
WITH d AS (
    SELECT 'before' AS db, area_code, left_record, right_record, 'link' AS decision, score, evidence
    FROM before.organisation_link WHERE method = $method
    UNION ALL SELECT 'before', area_code, left_record, right_record, 'review', score, evidence FROM before.link_review
    UNION ALL SELECT 'after', area_code, left_record, right_record, 'link', score, evidence
    FROM after.organisation_link WHERE method = $method
    UNION ALL SELECT 'after', area_code, left_record, right_record, 'review', score, evidence FROM after.link_review)
SELECT area_code, left_record, right_record,
       any_value(decision) FILTER (db = 'before') AS before_decision,
       any_value(decision) FILTER (db = 'after') AS after_decision,
       any_value(score) FILTER (db = 'before') AS before_score, any_value(score) FILTER (db = 'after') AS after_score,
       any_value(evidence) FILTER (db = 'before') AS before_evidence,
       any_value(evidence) FILTER (db = 'after') AS after_evidence
FROM d
-- pairs of unchanged records only
WHERE NOT EXISTS (SELECT 1 FROM changed c WHERE c.area_code = d.area_code AND c.record_id = d.left_record)
  AND NOT EXISTS (SELECT 1 FROM changed c WHERE c.area_code = d.area_code AND c.record_id = d.right_record)
GROUP BY ALL
"""


def drift(before: Path, after: Path, examples: int = 10) -> dict:
    """The figures (see the module's docstring) for two register files, and up to `examples` differing pairs."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS before (READ_ONLY)", [str(before)])
    con.execute("ATTACH ? AS after (READ_ONLY)", [str(after)])
    con.execute(CHANGED_RECORDS)
    con.execute(DECISIONS, {"method": FUZZY_METHOD})
    records = con.execute("""
        SELECT (SELECT count(*) FROM before.source_record), (SELECT count(*) FROM after.source_record),
               (SELECT count(*) FROM changed), (SELECT count(DISTINCT area_code) FROM changed),
               (SELECT count(DISTINCT area_code) FROM after.source_record)""").fetchone()
    keys = ("pairs", "same_decision", "decision_differs", "link_differs", "same_decision_score_differs",
            "same_decision_evidence_differs", "links_before", "links_after")
    pairs = con.execute("""
        SELECT count(*), count(*) FILTER (before_decision IS NOT DISTINCT FROM after_decision),
               count(*) FILTER (before_decision IS DISTINCT FROM after_decision),
               count(*) FILTER ((before_decision = 'link') IS DISTINCT FROM (after_decision = 'link')
                                AND 'link' IN (before_decision, after_decision)),
               count(*) FILTER (before_decision = after_decision AND before_score <> after_score),
               count(*) FILTER (before_decision = after_decision AND before_evidence <> after_evidence),
               count(*) FILTER (before_decision = 'link'), count(*) FILTER (after_decision = 'link')
        FROM decisions""").fetchone()
    moves = con.execute("""
        SELECT coalesce(before_decision, 'neither') || ' -> ' || coalesce(after_decision, 'neither'), count(*)
        FROM decisions WHERE before_decision IS DISTINCT FROM after_decision
        GROUP BY 1 ORDER BY 2 DESC, 1""").fetchall()
    touched = con.execute("""
        SELECT count(DISTINCT (i.area_code, i.org_id)) FROM decisions d
        JOIN after.organisation_identifier i
          ON i.area_code = d.area_code AND i.record_id IN (d.left_record, d.right_record)
        WHERE (before_decision = 'link') IS DISTINCT FROM (after_decision = 'link')
          AND 'link' IN (before_decision, after_decision)""").fetchone()[0]
    shown = con.execute("""
        SELECT area_code, left_record, right_record, before_decision, after_decision, before_score, after_score
        FROM decisions WHERE before_decision IS DISTINCT FROM after_decision
        ORDER BY (before_decision = 'link' OR after_decision = 'link') DESC, area_code, left_record, right_record
        LIMIT ?""", [examples]).fetchall()
    con.close()
    return {
        "records": dict(zip(("before", "after", "changed_in_area", "areas_with_a_change", "areas"), records,
                            strict=True)),
        "unchanged_pairs": dict(zip(keys, pairs, strict=True)),
        "decision_moves": dict(moves),
        "organisations_touched_by_a_differing_link": touched,
        "examples": [dict(zip(("area_code", "left_record", "right_record", "before", "after", "before_score",
                               "after_score"), row, strict=True)) for row in shown],
    }


def _share(n: int, of: int) -> str:
    return f"{n:,} of {of:,} ({100 * n / of:.2f}%)" if of else f"{n:,} of 0"


def report(result: dict) -> str:
    r, p = result["records"], result["unchanged_pairs"]
    lines = [
        f"records (area, record): {r['before']:,} before, {r['after']:,} after; changed or only on one side: "
        f"{r['changed_in_area']:,}, in {r['areas_with_a_change']} of {r['areas']} areas",
        f"fuzzy-linker pairs (link or review) of two unchanged records: {p['pairs']:,}",
        f"  decision differs: {_share(p['decision_differs'], p['pairs'])}: "
        + (", ".join(f"{k} {v}" for k, v in result["decision_moves"].items()) or "none"),
        f"  a link made or lost: {p['link_differs']:,} (links among them: {p['links_before']:,} before, "
        f"{p['links_after']:,} after); organisations touched: {result['organisations_touched_by_a_differing_link']}",
        f"  same decision, score differs: {_share(p['same_decision_score_differs'], p['same_decision'])}",
        f"  same decision, evidence differs: {_share(p['same_decision_evidence_differs'], p['same_decision'])}",
    ]
    for e in result["examples"]:
        lines.append(f"  {e['area_code']} {e['left_record']} ~ {e['right_record']}: {e['before'] or 'neither'} "
                     f"{e['before_score'] if e['before_score'] is not None else ''} -> {e['after'] or 'neither'} "
                     f"{e['after_score'] if e['after_score'] is not None else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the register before the refresh")
    parser.add_argument("after", type=Path, help="the register the refresh published")
    parser.add_argument("--examples", type=int, default=10, help="differing pairs to list (default 10)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    for path in (args.before, args.after):
        if not path.is_file():
            parser.error(f"{path}: no such register file")
    result = drift(args.before, args.after, args.examples)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
