"""The web app's Local spend page (vcse_pipeline/web/spend.py) in-process, over a spend database `vcse spend` built
from the demo's year of Wirral payments (as tests/test_spend_demo.py builds it): the page shows the spend views'
own figures, the top suppliers' downloads hold every row of the CLES view, the providers to talk to link to their
profiles, and with no spend database (or one a run is writing) the page says so instead of failing. With declared
tier-2 spend (the audit's file, as tests/test_spend_measures.py loads it) the page shows the with-tier-2 figure by
financial year and every declared row not counted in full, with why; with none declared, no tier-2 row at all."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal

import duckdb
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from openpyxl import load_workbook
from test_spend_demo import demo_files, spend_cfg
from test_web import main_text

from vcse_pipeline.spend.load import open_spend_db
from vcse_pipeline.spend.run import run_spend
from vcse_pipeline.web.app import create_app
from vcse_pipeline.web.render import money, number, percent, sentence
from vcse_pipeline.web.spend import TOP_SUPPLIERS_SHOWN

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spend_run(demo_register, tmp_path_factory):
    cfg = spend_cfg(demo_register, tmp_path_factory.mktemp("web-spend"))
    run = run_spend(cfg, [str(demo_files(demo_register))])
    return cfg, run.database


@pytest.fixture(scope="module")
def client(spend_run):
    cfg, _database = spend_run
    with TestClient(create_app(cfg), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def views(spend_run):
    """The spend views' rows, read as any other reader would."""
    con = duckdb.connect(str(spend_run[1]), read_only=True)   # closed before the tests: it would block a writer
    try:
        def rows(sql: str) -> list[dict]:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        return {"shares": rows("SELECT * FROM spend_local_share"),
               "years": rows("SELECT p.*, s.label FROM spend_share_by_period p JOIN spend_local_share s "
                             "USING (definition) WHERE period_type = 'financial_year'"),
               "quarters": rows("SELECT * FROM spend_share_by_period WHERE period_type = 'quarter' "
                                "AND definition = 'district'"),
               "size": rows("SELECT * FROM spend_by_size_class"),
               "areas": rows("SELECT * FROM spend_by_expense_area"),
               "top": rows("SELECT * FROM spend_top_suppliers ORDER BY rank"),
               "coverage": rows("SELECT * FROM spend_coverage"),
               "review": rows("SELECT * FROM spend_review ORDER BY amount DESC, supplier_name"),
               "opportunities": rows("SELECT * FROM spend_opportunity")}
    finally:
        con.close()


def test_the_page_shows_the_local_share_under_each_definition_against_the_target(client, views):
    response = client.get("/spend")
    assert response.status_code == 200
    text = main_text(response)
    assert len(views["shares"]) == 4   # district, wider area, region, and the district with tier 2
    declared = [s for s in views["shares"] if s["definition"] == "district_tier2"]
    assert declared[0]["label"] not in text   # the demo declares no tier-2 spend: the district's figures again
    for share in [s for s in views["shares"] if s not in declared]:
        row = f"{share['label']} {money(share['scope_amount'])} {money(share['local_amount'])} " \
              f"{percent(share['local_share'])}"
        assert row in text, row
        assert f"{percent(share['target_share'])} {number(share['local_suppliers'])} of " \
               f"{number(share['suppliers'])}" in text
    met = [s for s in views["shares"] if s["local_share"] >= s["target_share"] and s not in declared]
    assert text.count("Meets target") == len(met) and text.count("Below target") == len(views["shares"]) - 1 - len(met)
    assert re.search(r'href="/spend" aria-current="true"><strong[^>]*>Local spend<', response.text)   # in the menu


def test_the_share_over_time_is_a_table_and_a_chart_drawn_without_javascript(client, views):
    text = main_text(client.get("/spend"))
    assert views["years"] and views["quarters"]
    for period in views["years"] + views["quarters"]:
        row = f"{money(period['scope_amount'])} {money(period['local_amount'])} " \
              f"{percent(period['local_share'])} {percent(period['target_share'])}"
        if "label" in period:   # a financial year: under each definition of local, as the report has them
            row = f"{period['period']} {period['label']} {row}"
            assert (row in text) == (period["definition"] != "district_tier2"), row   # no tier-2 spend declared
        else:
            assert f"{period['period']} {row}" in text, row
    assert "Declared tier-2 spend" not in text
    chart = client.get("/spend/share-chart.svg")
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert chart.text.lstrip().startswith("<svg") and "Local share by month" in chart.text


def test_the_splits_coverage_and_biggest_unresolved_are_the_views(client, views):
    text = main_text(client.get("/spend"))
    for split in views["size"]:
        assert f"{sentence(split['size_class'])} {money(split['amount'])} {percent(split['share'])} " \
               f"{number(split['suppliers'])}" in text
    for area in views["areas"]:
        assert f"{area['expense_area'] or 'Not given'} {money(area['amount'])} {money(area['local_amount'])}" in text
    for measure in views["coverage"]:
        assert f"{sentence(measure['measure'])} {money(measure['amount'])} {percent(measure['share'])}" in text
    for supplier in views["review"][:10]:
        assert f"{supplier['supplier_name']} {money(supplier['amount'])} {number(supplier['line_count'])}" in text


def test_the_splits_and_coverage_name_their_rows_as_sentences(client, views):
    """A row's name starts with a capital, as GOV.UK tables write them: "Large", "Public", "Needs review", not the
    views' keys in lower case beside "SME" and "VCSE"."""
    text = main_text(client.get("/spend"))
    lower = [r["size_class"] for r in views["size"] if r["size_class"][:1].islower()]
    lower += [r["measure"] for r in views["coverage"] if r["measure"][:1].islower()]
    assert lower   # the views name them in lower case: the page must not
    for name in lower:
        capital = name[:1].upper() + name[1:]
        assert re.search(rf"\b{re.escape(capital)} £", text), capital
        assert not re.search(rf"\b{re.escape(name)} £", text), name

def test_the_top_suppliers_page_shows_the_first_ones_in_rank_order(client, views):
    response = client.get("/spend")
    table = response.text.split('id="top-suppliers-table"', 1)[1].split("</table>", 1)[0]
    shown = views["top"][:TOP_SUPPLIERS_SHOWN]
    assert len(views["top"]) > TOP_SUPPLIERS_SHOWN   # the page shows some; the download has them all
    positions = [table.index(f">{escape(t['supplier_name'])}<") for t in shown]
    assert positions == sorted(positions)
    assert table.count('<tr class="govuk-table__row">') == len(shown) + 1   # + the heading row
    assert f"The first {len(shown)} of {number(len(views['top']))} are shown" in main_text(response)


def test_where_a_top_supplier_is_based_is_named_as_the_local_share_names_it(client, views):
    """"Based in" names the area a supplier counts as local to, as the local share table does ("Wirral",
    "Liverpool City Region", "North West"), not the definition's key ("District", "Region"), which the page never
    defines: "Region (Chester)" read as if Chester were the region."""
    table = client.get("/spend").text.split('id="top-suppliers-table"', 1)[1].split("</table>", 1)[0]
    labels = {s["definition"]: s["label"] for s in views["shares"]}
    shown = views["top"][:TOP_SUPPLIERS_SHOWN]
    assert {"district", "wider area", "region", "elsewhere"} <= {t["based"] for t in shown}
    for t in shown:
        row = words(table.split(f">{escape(t['supplier_name'])}</th>", 1)[1].split("</tr>", 1)[0])
        based = labels.get(t["based"].replace(" ", "_"), t["based"][:1].upper() + t["based"][1:])
        assert row.startswith(based + (f" ({t['ward_name']})" if t["ward_name"] else "")), row

def test_the_downloads_hold_every_top_supplier(client, views):
    response = client.get("/spend/top-suppliers.csv")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [(int(r["rank"]), r["supplier_name"], r["based"], r["org_id"]) for r in rows] == \
        [(t["rank"], t["supplier_name"], t["based"], t["org_id"] or "") for t in views["top"]]
    assert [Decimal(r["amount"]) for r in rows] == [t["amount"] for t in views["top"]]
    assert {r["register_version"] for r in rows} == {"spend.duckdb"}

    workbook = load_workbook(io.BytesIO(client.get("/spend/top-suppliers.xlsx").content), read_only=True)
    sheet = workbook.worksheets[0]
    names = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == [t["supplier_name"] for t in views["top"]]
    assert client.get("/spend/top-suppliers.json").status_code == 404


def test_the_opportunities_link_to_the_providers_to_talk_to(client, views):
    assert views["opportunities"], "the demo year has expense areas whose money goes outside"
    response = client.get("/spend")
    text = main_text(response)
    opportunities = response.text.split('id="opportunities"', 1)[1]
    for opp in views["opportunities"]:
        assert f"{opp['expense_area']}: {opp['service_label']}" in text
        assert f"{money(opp['outside_amount'])} of {money(opp['amount'])}" in text
        for name in opp["providers"]:
            assert f">{escape(name)}</a>" in opportunities, name
    first = views["opportunities"][0]["providers"][0]
    href = opportunities.split(f">{escape(first)}</a>", 1)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    profile = client.get(href)
    assert profile.status_code == 200 and first in main_text(profile)


def test_an_opportunity_says_when_it_lists_only_some_of_its_providers(client, views):
    """An expense area with more local providers than the ten listed says the list is the first ten by name, so
    "34 local providers work in this service" over ten names is not read as all of them."""
    text = main_text(client.get("/spend"))
    some = [o for o in views["opportunities"] if len(o["providers"]) < o["local_providers"]]
    assert some   # the demo has areas with more providers than are listed
    for o in views["opportunities"]:
        listed = len(o["providers"])
        shows = f"The first {listed} by name, to talk to: {o['providers'][0]}" in text
        assert shows == (listed < o["local_providers"]), o["expense_area"]


@pytest.mark.parametrize("measured", [False, True], ids=["no database", "loaded but not measured"])
def test_with_no_spend_figures_the_page_says_how_to_create_them(spend_run, tmp_path, measured):
    database = tmp_path / "none" / "spend.duckdb"
    if measured:   # the tables of a spend database, without the measures' views (no run has finished)
        database.parent.mkdir()
        open_spend_db(database).close()
    cfg = spend_run[0].with_overrides({"spend": {"database": str(database)}})
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        response = client.get("/spend")
        assert response.status_code == 200
        assert "There are no local spend figures yet" in main_text(response)
        assert "vcse spend PAYMENT-FILES" in main_text(response)
        download = client.get("/spend/top-suppliers.csv")
        assert download.status_code == 404 and "vcse spend" in main_text(download)
        assert client.get("/spend/share-chart.svg").status_code == 404
        assert client.get("/providers").status_code == 200   # the rest of the site works as before
    assert database.exists() == measured   # reading never creates the database


def test_with_every_file_removed_the_page_says_there_are_no_figures(spend_run, tmp_path):
    """A spend database whose loaded files were all taken out (`vcse spend --remove`) has measures of nothing: the
    page says there are no figures and how to load some, not "From 0 payment lines paid between and" over empty
    tables, and the downloads and the chart are not files of nothing."""
    cfg = spend_run[0].with_overrides({"spend": {"database": str(tmp_path / "spend.duckdb")}})
    shutil.copyfile(spend_run[1], tmp_path / "spend.duckdb")
    con = duckdb.connect(str(tmp_path / "spend.duckdb"), read_only=True)
    files = [r[0] for r in con.execute("SELECT file FROM spend_file").fetchall()]
    con.close()
    emptied = run_spend(cfg, fetch=False, remove=files)
    assert len(emptied.removed) == len(files) > 0
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        response = client.get("/spend")
        assert response.status_code == 200
        text = main_text(response)
        assert "There are no local spend figures yet" in text and "vcse spend PAYMENT-FILES" in text
        assert "payment lines paid between" not in text and "Top suppliers" not in text
        for download in ("/spend/top-suppliers.csv", "/spend/top-suppliers.xlsx", "/spend/share-chart.svg"):
            assert client.get(download).status_code == 404


@contextmanager
def run_writing(database):
    """Another process holding the spend database's write lock, as `vcse spend` does while it loads and measures."""
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('ready', flush=True); sys.stdin.read()", str(database)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_while_a_run_writes_the_database_the_page_says_it_is_being_updated(spend_run):
    cfg, database = spend_run
    with TestClient(create_app(cfg), raise_server_exceptions=False) as client:
        with run_writing(database):
            response = client.get("/spend")
            assert response.status_code == 503 and "being updated" in main_text(response)
            assert client.get("/spend/top-suppliers.csv").status_code == 503
        assert client.get("/spend").status_code == 200


def test_the_page_keeps_its_figures_while_a_run_writes_and_never_blocks_the_run(client, spend_run, views):
    cfg, database = spend_run
    before = main_text(client.get("/spend"))
    with run_writing(database):   # the run gets its lock: the page holds no connection to the file between copies
        response = client.get("/spend")
        assert response.status_code == 200 and main_text(response) == before
    label = views["shares"][0]["label"]
    con = duckdb.connect(str(database))   # a run changes the figures: the next request reads the new ones
    try:
        con.execute("UPDATE spend_definition SET label = 'Wirral district' WHERE definition = 'district'")
    finally:
        con.close()
    try:
        assert f"Wirral district {money(views['shares'][0]['scope_amount'])}" in main_text(client.get("/spend"))
    finally:
        con = duckdb.connect(str(database))
        con.execute("UPDATE spend_definition SET label = ? WHERE definition = 'district'", [label])
        con.close()


def words(html: str) -> str:
    """A part of a page as words, as main_text reads the whole."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&").strip()


@pytest.fixture(scope="module")
def declared(demo_register, tmp_path_factory):
    """The page over the audit's tier-2 file (tests/test_spend_measures.py: a year not loaded, a supplier never
    paid, one local already, one capped at what it was paid, one counted) and its payments, and what the views say."""
    from test_spend_demo import spend_cfg
    from test_spend_measures import TIER2, WIRRAL, demo_suppliers, payments, write_payments

    folder = tmp_path_factory.mktemp("web-spend-tier2")
    suppliers = demo_suppliers(demo_register)
    names = {part: t["supplier_name"] for part, t in suppliers.items()}
    with (folder / "tier2.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("supplier", "financial_year", "local_amount"),
                                  *((supplier.format(**names), year, amount) for supplier, year, amount in TIER2)])
    cfg = spend_cfg(demo_register, folder, tier2_file=str(folder / "tier2.csv"), district=[WIRRAL])
    database = run_spend(cfg, [str(write_payments(folder / "payments.csv", payments(suppliers)))]).database
    con = duckdb.connect(str(database), read_only=True)
    try:
        def rows(sql: str) -> list[dict]:
            cursor = con.execute(sql)
            return [dict(zip([d[0] for d in cursor.description], r, strict=True)) for r in cursor.fetchall()]
        views = {"shares": rows("SELECT * FROM spend_local_share"),
                 "years": rows("SELECT p.*, s.label FROM spend_share_by_period p JOIN spend_local_share s "
                               "USING (definition) WHERE period_type = 'financial_year'"),
                 "tier2": rows("SELECT * FROM spend_tier2_check ORDER BY file, row_number")}
    finally:
        con.close()
    with TestClient(create_app(cfg), raise_server_exceptions=False) as test_client:
        yield test_client, views


def test_declared_tier2_spend_shows_by_financial_year_with_the_rows_not_counted_in_full(declared):
    client, views = declared
    response = client.get("/spend")
    text = main_text(response)
    tier2 = next(s for s in views["shares"] if s["definition"] == "district_tier2")
    assert f"{tier2['label']} {money(tier2['scope_amount'])} {money(tier2['local_amount'])}" in text
    # the with-tier-2 figure by financial year, as the report's "By financial year" table has it
    by_year = response.text.split('id="by-financial-year"', 1)[1].split("</table>", 1)[0]
    year_text = words(by_year)
    with_tier2 = [y for y in views["years"] if y["definition"] == "district_tier2"]
    assert with_tier2 and len(views["years"]) == 4 * len(with_tier2)
    for year in views["years"]:
        assert f"{year['period']} {year['label']} {money(year['scope_amount'])} {money(year['local_amount'])} " \
               f"{percent(year['local_share'])} {percent(year['target_share'])}" in year_text
    # every declared row not counted in full, with its reason; the rows counted in full are not listed
    assert {r["status"] for r in views["tier2"]} == {"counted", "capped", "ignored"}
    table = response.text.split('id="tier-2-not-counted"', 1)[1].split("</table>", 1)[0]
    listed = words(table)
    for row in views["tier2"]:
        reason = (row["reason"] or "")[:1].upper() + (row["reason"] or "")[1:]
        shown = f"{row['supplier']} {row['financial_year']} {money(row['local_amount'])} " \
                f"{money(row['counted_amount'])} {reason}".strip()
        assert (shown in listed) == (row["status"] != "counted"), shown
    assert table.count('<tr class="govuk-table__row">') == 1 + sum(r["status"] != "counted" for r in views["tier2"])
    declared_total = sum(r["local_amount"] for r in views["tier2"])
    counted_total = sum(r["counted_amount"] for r in views["tier2"])
    assert f"Suppliers declared {money(declared_total)} " in text
    assert f"; {money(counted_total)} of it is counted" in text
