"""bench/refresh_link_drift.py on the demo register and a copy edited as a refresh could have changed it: only the
fuzzy linker's pairs of unchanged records are counted, and each kind of difference is counted once, where it is."""

from __future__ import annotations

import json
import shutil

import duckdb
from bench_scripts import load_bench

FUZZY = "fuzzy name"


def _pairs(con, sql: str) -> list[tuple[str, str]]:
    return [tuple(row) for row in con.execute(sql).fetchall()]


def test_counts_only_the_differences_among_pairs_of_unchanged_records(demo_register, tmp_path, capsys):
    bench = load_bench("refresh_link_drift")
    before, after = tmp_path / "before.duckdb", tmp_path / "after.duckdb"
    shutil.copyfile(demo_register.path, before)
    shutil.copyfile(demo_register.path, after)
    with duckdb.connect(str(after)) as con:
        links = _pairs(con, f"SELECT left_record, right_record FROM organisation_link WHERE method = '{FUZZY}' "
                            "ORDER BY 1, 2")
        reviews = _pairs(con, "SELECT left_record, right_record FROM link_review ORDER BY 1, 2")
        assert len(links) >= 4 and len(reviews) >= 3, "the demo's fuzzy links and review rows changed"
        renamed, moved, reworded = links[0], links[1], links[2]
        rescored, dropped = reviews[0], reviews[1]
        used = {r for pair in (moved, reworded, rescored, dropped) for r in pair}
        assert not set(renamed) & used, "the demo's pairs share a record: pick others"
        # a record renamed: every pair with it is left out, whatever else moved
        con.execute("UPDATE source_record SET name = name || ' Renamed' WHERE record_id = ?", [renamed[0]])
        con.execute("UPDATE organisation_link SET score = 91.5, evidence = '{}' WHERE left_record = ? "
                    "AND right_record = ?", list(renamed))
        # a link among unchanged records held for review instead
        con.execute("""INSERT INTO link_review
                       SELECT l.area_code, l.left_record, l.right_record, a.name, b.name, 89.9, l.evidence
                       FROM organisation_link l
                       JOIN source_record a ON a.area_code = l.area_code AND a.record_id = l.left_record
                       JOIN source_record b ON b.area_code = l.area_code AND b.record_id = l.right_record
                       WHERE l.left_record = ? AND l.right_record = ?""", list(moved))
        con.execute("DELETE FROM organisation_link WHERE left_record = ? AND right_record = ?", list(moved))
        # a link kept, its evidence worded differently; a review kept, rescored; a review no longer made
        con.execute("UPDATE organisation_link SET evidence = evidence || ' ' WHERE left_record = ? "
                    "AND right_record = ?", list(reworded))
        con.execute("UPDATE link_review SET score = score + 0.1, evidence = evidence || ' ' WHERE left_record = ? "
                    "AND right_record = ?", list(rescored))
        con.execute("DELETE FROM link_review WHERE left_record = ? AND right_record = ?", list(dropped))
        # an exact link rescored: not the fuzzy linker's, not counted
        con.execute(f"UPDATE organisation_link SET score = score - 1 WHERE method <> '{FUZZY}'")

    result = bench.drift(before, after)

    pairs = result["unchanged_pairs"]
    with_renamed = sum(renamed[0] in pair for pair in links + reviews)
    assert result["records"]["changed_in_area"] == 1 and result["records"]["areas_with_a_change"] == 1
    assert pairs["pairs"] == len(links) + len(reviews) - with_renamed
    assert result["decision_moves"] == {"link -> review": 1, "review -> neither": 1}
    assert (pairs["decision_differs"], pairs["link_differs"]) == (2, 1)
    assert (pairs["links_before"], pairs["links_after"]) == (len(links) - with_renamed, len(links) - with_renamed - 1)
    assert pairs["same_decision"] == pairs["pairs"] - 2
    assert pairs["same_decision_score_differs"] == 1            # the rescored review
    assert pairs["same_decision_evidence_differs"] == 2         # it and the reworded link
    assert result["organisations_touched_by_a_differing_link"] == 1   # the moved link's two records, one organisation
    assert [(e["left_record"], e["right_record"], e["before"], e["after"]) for e in result["examples"]] == [
        (*moved, "link", "review"), (*dropped, "review", None)]

    # the command prints the figures and writes them
    assert bench.main([str(before), str(after), "--json", str(tmp_path / "drift.json")]) == 0
    printed = capsys.readouterr().out
    assert "decision differs: 2 of" in printed and "link -> review 1, review -> neither 1" in printed
    assert json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))["unchanged_pairs"] == pairs


def test_the_same_register_twice_has_no_drift(demo_register):
    result = load_bench("refresh_link_drift").drift(demo_register.path, demo_register.path)
    pairs = result["unchanged_pairs"]
    assert result["records"]["changed_in_area"] == 0 and pairs["pairs"] > 0
    assert pairs["pairs"] == pairs["same_decision"] and result["decision_moves"] == {} and result["examples"] == []
    assert pairs["same_decision_score_differs"] == pairs["same_decision_evidence_differs"] == 0
