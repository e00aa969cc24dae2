"""The opportunity feed after the harvest: notices folded per procurement, kept when they concern Wirral, matched
to the test register's providers with match_notice, published atomically beside the register, the digest (HTML and
email to a local SMTP server) and `vcse opportunities feed`."""

from __future__ import annotations

import copy
import csv
import html as html_lib
import json
import re
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from ocds_replay import OcdsReplay
from procurement_fixtures import AREA, build_register
from test_alerts import running_smtp_server, smtp_connection
from test_data_dictionary import documented
from test_feed_harvest import RELEASES, UNTIL
from typer.testing import CliRunner

from vcse_pipeline.cli import app
from vcse_pipeline.config import Config
from vcse_pipeline.errors import PipelineError
from vcse_pipeline.procurement.feed import run, store
from vcse_pipeline.procurement.feed.fold import compile_releases
from vcse_pipeline.procurement.opportunities import match_notice, notice_location

DIGEST_TO = ["commissioning@wirral.example"]
PRINCES_PAVEMENT = "Princes Pavement, Birkenhead - New Market"


def feed_config(data_dir: Path, api: OcdsReplay, **settings) -> Config:
    feed = api.feed_settings(**{"window_hours": 24 * 7, "lookback_days": 50, "digest_to": DIGEST_TO, **settings})
    return Config.load(environ={}, overrides={"paths": {"data_dir": str(data_dir)}, "feed": feed})


def by_ocid(releases: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for r in releases:
        grouped[r["ocid"]].append(r)
    return grouped


@pytest.fixture(scope="module")
def smtp():
    with running_smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def fed(tmp_path_factory, smtp):
    """One feed run over the 290 releases against the Wirral test register, the digest emailed."""
    mailbox, port = smtp
    data_dir = tmp_path_factory.mktemp("feed") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_VCSE_SMTP", smtp_connection(port))
        with OcdsReplay(RELEASES) as api:
            cfg = feed_config(data_dir, api)
            build_register(cfg.register_path)
            result = run.run_feed(cfg, UNTIL, wait=lambda s: None)
    published = duckdb.connect(str(store.published_path(cfg)), read_only=True)
    yield {"cfg": cfg, "result": result, "con": published, "mailbox": mailbox, "emails": len(mailbox.messages)}
    published.close()


def kept_ocids(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT ocid FROM feed_notice_area WHERE kept").fetchall()}


def test_each_procurement_is_one_notice_folded_from_its_releases(fed):
    con = fed["con"]
    grouped = by_ocid(RELEASES)
    notices = {r[0]: r[1:] for r in con.execute(
        "SELECT ocid, release_count, release_id, stage, deadline FROM feed_notice").fetchall()}
    assert set(notices) == set(grouped) and len(notices) == 280
    folded = {ocid: rs for ocid, rs in grouped.items() if len(rs) > 1}
    assert len(folded) == 10
    for ocid, releases in folded.items():
        latest = max(releases, key=lambda r: (r["date"], r["id"]))
        count, release_id, stage, deadline = notices[ocid]
        assert (count, release_id) == (len(releases), latest["id"])
        # a field the latest release leaves out is kept from an earlier one (OCDS compiles records this way)
        deadlines = [r["tender"].get("tenderPeriod", {}).get("endDate")
                     for r in sorted(releases, key=lambda r: r["date"])]
        assert deadline == next((d for d in reversed(deadlines) if d), None)
    assert con.execute("SELECT count(*) FROM feed_release").fetchone()[0] == 290   # every release as received
    raw = con.execute("SELECT raw FROM feed_release WHERE release_id = ?", [RELEASES[0]["id"]]).fetchone()[0]
    assert json.loads(raw) == RELEASES[0]


def test_notices_concerning_wirral_are_kept_with_their_reasons(fed):
    con, cfg = fed["con"], fed["cfg"]
    kept = {ocid: reasons for ocid, reasons in con.execute(
        "SELECT ocid, kept_reasons FROM feed_notice_area WHERE kept AND area_code = ?", [AREA]).fetchall()}
    not_kept = {r[0] for r in con.execute("SELECT ocid FROM feed_notice_area WHERE NOT kept").fetchall()}
    assert kept and all(kept.values()) and not_kept and not set(kept) & not_kept
    reg = duckdb.connect(str(cfg.register_path), read_only=True)
    try:
        for ocid, releases in by_ocid(RELEASES).items():
            compiled = compile_releases(releases)
            vcse = compiled["tender"].get("suitability", {}).get("vcse")
            where = notice_location(reg, compiled, AREA)[0]
            should_keep = bool(vcse) or where in ("local", "region")
            assert (ocid in kept) == should_keep, (ocid, where, vcse)
    finally:
        reg.close()
    titles = dict(con.execute("SELECT ocid, title FROM feed_notice").fetchall())
    pavement = [reasons for ocid, reasons in kept.items() if titles[ocid] == PRINCES_PAVEMENT]
    assert pavement and any("buyer Wirral Borough Council is based in Wirral" in r for r in pavement[0])


def test_each_kept_notice_has_the_shortlist_match_notice_ranks_with_its_reasons(fed):
    con, cfg = fed["con"], fed["cfg"]
    reg = duckdb.connect(str(cfg.register_path), read_only=True)
    try:
        shortlisted, kept = 0, kept_ocids(con)
        for ocid, releases in by_ocid(RELEASES).items():
            if ocid not in kept:
                assert con.execute("SELECT count(*) FROM feed_shortlist WHERE ocid = ?", [ocid]).fetchone()[0] == 0
                continue
            expected = match_notice(reg, compile_releases(releases), AREA, limit=20)
            stored = con.execute("SELECT rank, org_id, score, reasons FROM feed_shortlist WHERE ocid = ? "
                                 "ORDER BY rank", [ocid]).fetchall()
            assert [(r[1], r[2]) for r in stored] == [(m.org_id, m.score) for m in expected]
            assert [r[0] for r in stored] == list(range(1, len(stored) + 1))
            assert all(r[3] == m.reasons for r, m in zip(stored, expected, strict=True))
            shortlisted += len(stored)
    finally:
        reg.close()
    assert shortlisted > 100


def digest_entries(html: str) -> dict[str, list[str]]:
    """{ocid: provider names in order} from a digest's HTML."""
    entries = {}
    for block in re.split(r'<div class="notice" id="', html)[1:]:
        ocid = block.split('"', 1)[0]
        entries[ocid] = re.findall(r"<tr><td>\d+</td><td>([^<]*)</td>", block)
    return entries


def test_the_digest_lists_every_kept_notice_once_with_its_top_providers_and_is_emailed(fed):
    con, cfg, mailbox = fed["con"], fed["cfg"], fed["mailbox"]
    digest = cfg.data_dir / "feed" / "digests" / f"2025-03-12-{AREA}.html"
    html = digest.read_text(encoding="utf-8")
    entries = digest_entries(html)
    assert "New notices" in html and "Updated notices" not in html   # the first digest: every notice is new
    assert set(entries) == kept_ocids(con) and len(entries) == len(kept_ocids(con))
    for ocid, names in entries.items():
        top = [r[0] for r in con.execute("SELECT name FROM feed_shortlist WHERE ocid = ? AND rank <= 5 ORDER BY rank",
                                         [ocid]).fetchall()]
        assert [html_lib.unescape(n) for n in names] == top
    assert fed["emails"] == 1 and mailbox.recipients[0] == DIGEST_TO
    message = mailbox.messages[0]
    assert message["Subject"] == f"VCSE opportunities for Wirral, 12 Mar 2025: {len(entries)} notices"
    assert PRINCES_PAVEMENT in message.get_body(("html",)).get_content()
    assert con.execute("SELECT count(*) FROM feed_notice_area WHERE kept AND digested_at IS NULL").fetchone()[0] == 0


def test_the_feed_is_published_whole_beside_the_register(fed):
    cfg = fed["cfg"]
    published = store.published_path(cfg)
    assert published.parent == cfg.register_path.parent
    assert not list(published.parent.glob("*.tmp*"))
    tables = {r[0] for r in fed["con"].execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == set(store.FEED_TABLES)
    assert fed["con"].execute("SELECT count(*) FROM provider_opportunity").fetchone()[0] == \
        fed["con"].execute("SELECT count(*) FROM feed_shortlist").fetchone()[0]


def test_an_amendment_updates_its_notice_and_only_it_goes_in_the_next_digest(fed, tmp_path, smtp):
    mailbox, port = smtp
    data_dir = tmp_path / "data"
    shutil.copytree(fed["cfg"].data_dir, data_dir)
    tender = next(r for r in RELEASES if r["tender"].get("title") == PRINCES_PAVEMENT)
    amendment = copy.deepcopy(tender)
    amendment.update(id=tender["id"] + "-amended", date="2025-03-12T09:30:00Z", tag=["tenderAmendment"])
    amendment["tender"]["tenderPeriod"] = {"endDate": "2025-04-30T12:00:00Z"}
    before = len(mailbox.messages)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_VCSE_SMTP", smtp_connection(port))
        with OcdsReplay([*RELEASES, amendment]) as api:
            cfg = feed_config(data_dir, api)
            result = run.run_feed(cfg, "2025-03-13T00:00:00", wait=lambda s: None)
            asked = [r.query for r in api.requests(api.CF_PATH)]
    assert all(q["publishedFrom"] == [UNTIL] for q in asked)        # only the new day: from the mark
    assert result["releases_new"] == 1 and result["notices_changed"] == 1
    con = duckdb.connect(str(store.published_path(cfg)), read_only=True)
    try:
        count, release_id, deadline = con.execute("SELECT release_count, release_id, deadline FROM feed_notice "
                                                   "WHERE ocid = ?", [tender["ocid"]]).fetchone()
    finally:
        con.close()
    assert (release_id, deadline) == (amendment["id"], "2025-04-30T12:00:00Z") and count >= 2
    html = (cfg.data_dir / "feed" / "digests" / f"2025-03-13-{AREA}.html").read_text(encoding="utf-8")
    assert set(digest_entries(html)) == {tender["ocid"]} and "Updated notices" in html
    assert len(mailbox.messages) == before + 1 and "1 notice" in mailbox.messages[-1]["Subject"]


def test_without_a_register_nothing_is_lost_and_the_next_run_processes_what_was_stored(tmp_path):
    with OcdsReplay(RELEASES) as api:
        cfg = feed_config(tmp_path / "data", api, lookback_days=3, digest_to=[])
        run.harvest(cfg, "2025-01-25T00:00:00", wait=lambda s: None)
        with pytest.raises(PipelineError, match="no register at"):
            run.process(cfg)
        build_register(cfg.register_path)
        done = run.process(cfg)
    con = duckdb.connect(str(store.store_path(cfg)), read_only=True)
    try:
        left = con.execute("SELECT count(*) FROM feed_release WHERE NOT processed").fetchone()[0]
        stored_ocids = con.execute("SELECT count(DISTINCT ocid) FROM feed_release").fetchone()[0]
    finally:
        con.close()
    assert left == 0 and done["notices_changed"] == stored_ocids > 0


def test_vcse_opportunities_feed_shows_the_latest_and_exports_each_providers_opportunities(fed, tmp_path):
    data_dir = str(fed["cfg"].data_dir)
    runner = CliRunner()
    shown = runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, "--days", "60", "-n", "0"],
                          env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert PRINCES_PAVEMENT in shown.output and f"{len(kept_ocids(fed['con']))} notices" in shown.output
    out = tmp_path / "opportunities.csv"
    written = runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, "-o", str(out)])
    assert written.exit_code == 0, written.output
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == fed["con"].execute("SELECT count(*) FROM provider_opportunity").fetchone()[0]
    org_id = rows[0]["org_id"]
    one = runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, "--provider", org_id],
                        env={"COLUMNS": "200"})
    assert one.exit_code == 0 and rows[0]["provider"] in one.output
    assert one.output.count("(score ") == sum(1 for r in rows if r["org_id"] == org_id)
    missing = runner.invoke(app, ["opportunities", "feed", "--data-dir", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no opportunity feed at" in str(missing.exception)
    # only the two table formats the help offers: json was offered and ended in a traceback
    for wrong in (["-f", "json"], ["-f", "json", "--provider", org_id], ["-f", "json", "-o", str(tmp_path / "x.csv")]):
        refused = runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, *wrong], env={"COLUMNS": "200"})
        assert refused.exit_code == 2 and "'json' is not one of 'csv', 'xlsx'" in refused.output, refused.output
    on_screen = runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, "-f", "csv"])
    assert on_screen.exit_code == 0 and "org_id" in on_screen.output.splitlines()[0], on_screen.output[:300]


def test_every_table_view_and_column_of_the_feed_is_in_the_data_dictionary(fed):
    found: dict[str, set[str]] = defaultdict(set)
    for table, column in fed["con"].execute("SELECT table_name, column_name FROM duckdb_columns() "
                                            "WHERE NOT internal").fetchall():
        found[table].add(column)
    assert documented("feed") == found


def lapsed_or_let(releases: list[dict], on: str) -> str | None:
    """Why a procurement is no longer open on the day `on` (ISO), read from its releases, or None when open."""
    latest = max(releases, key=lambda r: (r["date"], r["id"]))
    if any(str(t).startswith(("award", "contract")) for t in latest["tag"]):
        return "award"
    newest_first = sorted(releases, key=lambda r: r["date"], reverse=True)
    deadline = next((r["tender"]["tenderPeriod"]["endDate"] for r in newest_first
                     if r["tender"].get("tenderPeriod", {}).get("endDate")), None)
    if "planning" in latest["tag"]:   # a planning notice: the date its tender was expected by, else its milestone's
        deadline = latest["tender"].get("communication", {}).get("futureNoticeDate") or max(
            (m["dueDate"] for m in latest.get("planning", {}).get("milestones", [])), default=None)
    if deadline and datetime.fromisoformat(deadline.replace("Z", "+00:00")) < datetime.fromisoformat(on + "+00:00"):
        return "passed"
    return None


def test_awards_and_lapsed_tenders_are_set_apart_with_their_warning_in_digest_screen_and_export(fed, tmp_path):
    con, cfg = fed["con"], fed["cfg"]
    kept = kept_ocids(con)
    closed = {ocid: why for ocid, rs in by_ocid(RELEASES).items()
              if ocid in kept and (why := lapsed_or_let(rs, UNTIL))}
    assert sum(w == "award" for w in closed.values()) >= 20 and "passed" in closed.values()
    html = (cfg.data_dir / "feed" / "digests" / f"2025-03-12-{AREA}.html").read_text(encoding="utf-8")
    head, apart = html.split("Awards and notices no longer open to bids")
    assert set(digest_entries(apart)) == set(closed)                     # listed apart, after the open notices
    assert not set(digest_entries(head)) & set(closed) and digest_entries(head)
    for ocid, why in closed.items():
        block = apart.split(f'id="{ocid}"')[1].split('<div class="notice"')[0]
        assert ("this notice is an award" if why == "award" else ") has passed") in html_lib.unescape(block)
    # the tender whose deadline passed in 2016 is not a new opportunity
    old = [o for o, rs in by_ocid(RELEASES).items() if o in kept and any(
        r["tender"].get("tenderPeriod", {}).get("endDate", "").startswith("2016") for r in rs)]
    assert old and all(o in closed for o in old)

    data_dir = str(cfg.data_dir)
    runner = CliRunner()
    shown = runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, "--days", "60", "-n", "0"],
                          env={"COLUMNS": "200"})
    text = " ".join(shown.output.split())
    titles = dict(con.execute("SELECT ocid, title FROM feed_notice").fetchall())
    assert text.count("note: this notice is an award") == sum(w == "award" for w in closed.values())
    # on screen as of now: every tender of 2025 has passed by now, as the warning says
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")
    shown_kept = {o for o in kept if titles[o] and titles[o] in shown.output}
    assert text.count("(passed); ") == sum(lapsed_or_let(by_ocid(RELEASES)[o], now) == "passed" for o in shown_kept)
    out = tmp_path / "opportunities.csv"
    assert runner.invoke(app, ["opportunities", "feed", "--data-dir", data_dir, "-o", str(out)]).exit_code == 0
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(bool(r["warning"]) == bool(lapsed_or_let(by_ocid(RELEASES)[r["ocid"]], now)) for r in rows)
    assert {r["title"] for r in rows if r["warning"].startswith("this notice is an award")} == {
        titles[o] for o, w in closed.items() if w == "award" and o in {r["ocid"] for r in rows}}


@pytest.mark.parametrize(("digest_to", "said"), [([], "not emailed: [feed] digest_to is empty"),
                                                 (DIGEST_TO, "emailed")])
def test_harvest_says_emailed_only_when_the_digest_went_to_someone(tmp_path, smtp, monkeypatch, digest_to, said):
    mailbox, port = smtp
    before = len(mailbox.messages)
    monkeypatch.setenv("AIRFLOW_CONN_VCSE_SMTP", smtp_connection(port))
    with OcdsReplay(RELEASES) as api:
        cfg = feed_config(tmp_path / "data", api, lookback_days=3, digest_to=digest_to)
        build_register(cfg.register_path)
        monkeypatch.setattr("vcse_pipeline.cli.options.load_config", lambda config, data_dir: cfg)
        result = CliRunner().invoke(app, ["opportunities", "harvest", "--until", "2025-01-25T00:00:00"],
                                    env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith(f"digest for {AREA}:"))
    assert line.endswith(f".html, {said}")
    assert len(mailbox.messages) - before == (1 if digest_to else 0)
