"""procurement/ocds.py: what a real Contracts Finder / Find a Tender release says (tests/fixtures/ocds's 290
releases): its value (awarded or estimated, its currency, its term and lots), its planning milestones, its dates as
moments, and the entries of a file that are no release."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path

from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.procurement.feed.fold import compile_releases
from vcse_pipeline.procurement.ocds import (
    contract_value,
    delivery_regions,
    describe_releases,
    load_release,
    notice_phase,
    notice_value,
    planning_milestone,
    read_releases,
    value_text,
)

runner = CliRunner()
RELEASES_FILE = Path(__file__).parent / "fixtures" / "ocds" / "contracts-finder-releases.json"
RELEASES = json.loads(RELEASES_FILE.read_text(encoding="utf-8"))["releases"]
SURFACE_DRESSING = "af5f4872-7e6d-44c0-b994-99103ef45170-833023"   # award of £1,400,000; no tender value
FOSSE_PRIMARY = "762fedd4-7071-4ccb-9d26-7010616bf0d2-833010"      # tender value £140, award £48,172.80
FOUR_LOTS = "ocds-kuma6s-148410"                                     # £20m, four lots of £5m over 1,440 days


def release(release_id: str) -> dict:
    return copy.deepcopy(next(r for r in RELEASES if release_id in (r["id"], r["ocid"])))


def awarded_sum(r: dict) -> float | None:
    amounts = [a["value"]["amount"] for a in r.get("awards") or []
               if a.get("status") not in ("cancelled", "unsuccessful") and (a.get("value") or {}).get("amount")]
    return float(sum(amounts)) if amounts else None


# ------------------------------------------------------------------ value

def test_an_award_notice_is_worth_what_was_awarded_labelled_so():
    surface = release(SURFACE_DRESSING)
    assert "value" not in surface["tender"] and surface["awards"][0]["value"]["amount"] == 1_400_000
    assert notice_value(surface)["amount"] == 1_400_000 and notice_value(surface)["basis"] == "awarded"
    assert value_text(surface).startswith("£1,400,000 awarded")
    assert contract_value(surface)[0] == 1_400_000
    fosse = release(FOSSE_PRIMARY)
    assert fosse["tender"]["value"]["amount"] == 140
    assert notice_value(fosse)["amount"] == 48_172.80 and value_text(fosse).startswith("£48,173 awarded")
    awards = [r for r in RELEASES if r.get("awards")]
    assert len(awards) == 147
    for r in awards:   # an award of 0 states no value: the tender's estimate is shown, labelled as an estimate
        shown = notice_value(r)
        if awarded_sum(r):
            assert (shown["amount"], shown["basis"]) == (awarded_sum(r), "awarded"), r["id"]
        else:
            assert shown["basis"] in ("estimated", None) and "awarded" not in value_text(r), r["id"]
    # a tender keeps its estimate
    tender = next(r for r in RELEASES if r["tag"] == ["tender"] and (r["tender"].get("value") or {}).get("amount"))
    assert notice_value(tender)["basis"] == "estimated"
    assert notice_value(tender)["amount"] == tender["tender"]["value"]["amount"]
    assert "awarded" not in value_text(tender)
    listed = runner.invoke(app, ["opportunities", "list", str(RELEASES_FILE)], env={"COLUMNS": "200"})
    text = " ".join(listed.output.split())
    assert "£1,400,000 awarded over" in text and "£48,173 awarded over" in text


def test_the_term_comes_from_duration_in_days_and_each_lot_is_sized_on_its_own():
    lots = release(FOUR_LOTS)
    value = notice_value(lots)
    assert value["amount"] == 20_000_000 and value["years"] == 3.9          # 1,440 days, not one year
    assert contract_value(lots) == (20_000_000, 20_000_000 / 3.9, 3.9)
    assert [(lot["id"], lot["amount"], lot["years"]) for lot in value["lots"]] == [
        (str(n), 5_000_000, 3.9) for n in range(1, 5)]
    assert value["lots"][0]["annual"] == 5_000_000 / 3.9
    assert "4 lots, the largest £5,000,000 over 3.9 years" in value_text(lots)
    only_lot_terms = [r for r in RELEASES if not r["tender"].get("contractPeriod") and notice_value(r)["amount"]
                      and any("durationInDays" in (lot.get("contractPeriod") or {})
                              for lot in r["tender"].get("lots", []))]
    assert len(only_lot_terms) == 46
    for r in only_lot_terms:
        days = max(lot["contractPeriod"]["durationInDays"] for lot in r["tender"]["lots"]
                   if "durationInDays" in (lot.get("contractPeriod") or {}))
        assert notice_value(r)["years"] == max(1.0, round(days / 365.25, 1)), r["id"]


def test_a_value_in_another_currency_or_none_is_shown_as_such_and_not_sized_in_pounds():
    euros = release(FOUR_LOTS)
    euros["tender"]["value"] = {"amount": 150000, "currency": "EUR"}
    del euros["tender"]["lots"]
    assert notice_value(euros)["currency"] == "EUR"
    assert value_text(euros).startswith("150,000 EUR") and "£" not in value_text(euros)
    assert contract_value(euros)[:2] == (None, None)                        # no size fit against a pound income
    unstated = copy.deepcopy(euros)
    del unstated["tender"]["value"]["currency"]
    assert value_text(unstated).startswith("150,000 (currency not stated)") and contract_value(unstated)[0] is None
    rows = describe_releases([euros, unstated])
    assert "the value is in EUR, not pounds" in rows[0]["warning"]
    assert "the value's currency is not stated" in rows[1]["warning"]
    assert rows[0]["value"] == 150000


# ------------------------------------------------------------------ dates

def test_a_planning_notice_warns_when_its_engagement_end_date_has_passed():
    engagement = [r for r in RELEASES if "planning" in r["tag"] and r.get("planning", {}).get("milestones")]
    assert len(engagement) == 5
    for r in engagement:
        due = r["planning"]["milestones"][0]["dueDate"]
        milestone = planning_milestone(r, date(2025, 1, 15))
        assert milestone == {"title": "Engagement end date", "due": due, "passed": False}
        assert notice_phase(r, date(2025, 1, 15))["warning"] is None
        warning = notice_phase(r, date(2025, 4, 1))["warning"]
        assert warning == (f"the engagement end date ({due[:10]}) has passed: look for its tender or award notice "
                           "before acting on this shortlist")
    listed = runner.invoke(app, ["opportunities", "list", str(RELEASES_FILE)], env={"COLUMNS": "200"})
    assert " ".join(listed.output.split()).count("engagement end date") == 5


def test_a_deadline_is_a_moment_shown_in_uk_time():
    from vcse_pipeline.cli.opportunities import _date

    tender = release(next(r["id"] for r in RELEASES if r["tag"] == ["tender"]))
    tender["tender"]["tenderPeriod"] = {"endDate": "2025-05-12T09:00:00Z"}
    assert notice_phase(tender, datetime(2025, 5, 12, 13, 55, tzinfo=UTC))["warning"].startswith("the deadline")
    assert notice_phase(tender, datetime(2025, 5, 12, 8, 55, tzinfo=UTC))["warning"] is None
    assert _date("2025-05-12T12:00:00Z") == "12 May 2025 13:00"             # British Summer Time
    assert _date("2025-01-12T12:00:00Z") == "12 Jan 2025 12:00"
    # the latest release of an ocid is the latest moment, whatever the zone it is written in
    later = copy.deepcopy(tender)
    tender.update(id="early", date="2025-03-01T12:30:00+02:00")             # 10:30 UTC
    later.update(id="late", date="2025-03-01T11:00:00Z", tag=["tenderAmendment"])
    assert compile_releases([later, tender])["id"] == "late"
    rows = {r["id"]: r for r in describe_releases([tender, later])}
    assert rows["early"]["warning"] and "superseded by release late" in rows["early"]["warning"]
    assert rows["late"]["warning"] is None or "superseded" not in rows["late"]["warning"]


def test_load_release_picks_the_latest_moment(tmp_path):
    first = release(FOSSE_PRIMARY)
    second = copy.deepcopy(first)
    first.update(id="first", date="2025-03-01T12:30:00+02:00")
    second.update(id="second", date="2025-03-01T11:00:00Z")
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"releases": [second, first]}), encoding="utf-8")
    assert load_release(path, first["ocid"])["id"] == "second"


# ------------------------------------------------------------------ entries of a file

def test_entries_that_are_no_release_are_counted_with_a_reason(tmp_path):
    path = tmp_path / "package.json"
    path.write_text(json.dumps({"releases": [RELEASES[0], "not a release", {"tag": ["tender"]}, RELEASES[1]]}),
                    encoding="utf-8")
    releases, skipped = read_releases(path)
    assert [r["id"] for r in releases] == [RELEASES[0]["id"], RELEASES[1]["id"]]
    assert skipped == ["entry 2 of releases is not a JSON object (str)",
                       "entry 3 of releases has neither an id nor an ocid"]
    listed = runner.invoke(app, ["opportunities", "list", str(path)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "2 releases in package.json" in listed.output
    assert "None" not in listed.output and "(no title)" not in listed.output
    assert "2 entries in package.json skipped" in " ".join(listed.stderr.split())


def test_a_release_superseded_by_a_later_one_of_its_ocid_says_so():
    rows = describe_releases(RELEASES, date(2025, 3, 12), details=True)
    by_ocid: dict[str, list[dict]] = {}
    for r in RELEASES:
        by_ocid.setdefault(r["ocid"], []).append(r)
    superseded = 0
    for row, r in zip(rows, RELEASES, strict=True):
        latest = max(by_ocid[r["ocid"]], key=lambda x: (x["date"], x["id"]))
        assert row["superseded_by"] == (None if latest is r else latest["id"]), r["id"]
        superseded += row["superseded_by"] is not None
    assert superseded == 10
    listed = runner.invoke(app, ["opportunities", "list", str(RELEASES_FILE)], env={"COLUMNS": "200"})
    assert " ".join(listed.output.split()).count("a later release of the same procurement") == 10


def test_a_delivery_place_given_only_as_a_country_is_listed():
    jersey = release("191a551b-17ea-4cfe-b6ec-b4e6e7648ecb-832955")   # Ports of Jersey: countryName only
    assert delivery_regions(jersey) == ["Guernsey", "Jersey"]
    assert describe_releases([jersey])[0]["regions"] == ["Guernsey", "Jersey"]
    # Contracts Finder's list of every place it offers is not listed; the postcode beside it is
    assert delivery_regions(release("54550edf-9b87-48e3-9e3c-d204a4d45012-832928")) == ["OX14 3DB"]
    # a region, where given, is listed rather than its country
    assert delivery_regions(release("2a1e3359-87a0-4fdd-ac61-20d5e6520a13-819950")) == ["England"]


def test_a_nominal_value_is_shown_as_nominal_not_as_nothing(tmp_path):
    nominal = release("ocds-kuma6s-148440-release-148440")   # Sell2Wales: £0.01 over two years, a placeholder
    assert notice_value(nominal)["amount"] == 0.01 and notice_value(nominal)["currency"] == "GBP"
    assert value_text(nominal) == "nominal £0.01 over 2 years"          # was "£0 over 2 years (£0 a year)"
    path = tmp_path / "nominal.json"
    path.write_text(json.dumps(nominal), encoding="utf-8")
    shown = runner.invoke(app, ["opportunities", "list", str(path)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "nominal £0.01 over 2 years" in shown.output and "£0 " not in shown.output
    # a real value keeps its whole pounds on screen
    assert value_text(release(FOSSE_PRIMARY)).startswith("£48,173 awarded")
