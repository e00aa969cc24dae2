"""The local spend measures (sql/spend/10_measures.sql, spend/measures.py, spend/report.py) on a small payments file
of the demo's own organisations, resolved against the demo register: declared tier-2 spend and what of it counts,
spellings of one organisation counted once, redacted payments in the coverage, and expense areas mapped to the
register's service areas by whole words."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from vcse_pipeline.spend import measures
from vcse_pipeline.spend.layouts import BUILT_IN
from vcse_pipeline.spend.report import render_html
from vcse_pipeline.spend.run import run_spend

LGA = next(layout for layout in BUILT_IN if layout.name == "lga")
WIRRAL = "E08000015"
# The audit's tier-2 file (a year not loaded, a supplier never paid, a supplier local already) and two rows that
# count: the taxi firm declares more than it was paid (capped at its £200), the garage £100 of its £300.
TIER2 = [("{garage}", "2019-20", "£50,000"), ("Nobody At All Ltd", "2025-26", "1000"),
         ("{charity}", "2025-26", "500"), ("{taxis}", "2025-26", "1000"), ("{garage}", "2025/26", "100")]


def demo_suppliers(demo_register) -> dict[str, dict]:
    """Real demo organisations for each part (the truth of the demo's payments): two Wirral charities, a Wirral
    business and two businesses based elsewhere, each with its number."""
    from test_spend_demo import truth_rows

    truth = truth_rows(demo_register)
    charities = [t for t in truth if t["truth_kind"] == "vcse" and t["lad_code"] == WIRRAL
                 and t["identifiers"].startswith("GB-CHC-")]
    local = [t for t in truth if t["truth_kind"] == "business" and t["lad_code"] == WIRRAL]
    elsewhere = [t for t in truth if t["truth_kind"] == "business" and t["lad_code"] not in ("", WIRRAL)]
    return {"cat_rescue": charities[0], "charity": charities[1], "builder": local[0], "garage": elsewhere[0],
            "taxis": elsewhere[1]}


def payments(suppliers: dict[str, dict]) -> list[tuple[str, str, str, str, str]]:
    """(date, payee as written, its number, amount, expense area): £6,000 in scope in 2025-26, £5,500 of it with
    Wirral organisations (one charity written three ways, another charity, a builder); the garage and the taxi firm
    are based elsewhere; the redacted payee (an individual) is outside the measured spend."""
    def number(part):
        return suppliers[part]["identifiers"].split("|")[0].split("-", 2)[2]

    cat = suppliers["cat_rescue"]["supplier_name"]
    return [("15/05/2025", cat.upper(), number("cat_rescue"), "1000.00", "Adult Social Care"),
            ("15/05/2025", f"{cat} (Wirral)", number("cat_rescue"), "1500.00", "Adult Social Care"),
            ("20/01/2026", f"{cat} - Birkenhead", number("cat_rescue"), "2000.00", "Adult Social Care"),
            ("15/05/2025", suppliers["charity"]["supplier_name"], number("charity"), "500.00", "Public Health"),
            ("15/05/2025", suppliers["builder"]["supplier_name"], number("builder"), "500.00", "Highways"),
            ("20/01/2026", suppliers["garage"]["supplier_name"], number("garage"), "300.00", "Fleet"),
            ("15/05/2025", suppliers["taxis"]["supplier_name"], number("taxis"), "200.00", "Transport"),
            ("15/05/2025", "REDACTED PERSONAL DATA", "", "700.00", "Adult Social Care")]


def write_payments(path: Path, lines: list[tuple[str, str, str, str, str]]) -> Path:
    header = list(LGA.columns.values())
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row_number, (date, name, number, amount, area) in enumerate(lines, start=1):
            row = dict.fromkeys(header, "")
            row.update({LGA.columns["payment_date"]: date, LGA.columns["supplier_name"]: name,
                        LGA.columns["amount"]: amount, LGA.columns["expense_area"]: area,
                        LGA.columns["transaction_ref"]: f"T{row_number}",
                        LGA.columns["charity_number" if number.isdigit() else "company_number"]: number})
            writer.writerow([row[h] for h in header])
    return path


def write_tier2(path: Path, suppliers: dict[str, dict]) -> Path:
    """TIER2's declarations as a tier-2 file, each supplier named as the payments name it."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["supplier", "financial_year", "local_amount"])
        for supplier, year, amount in TIER2:
            writer.writerow([supplier.format(**{part: t["supplier_name"] for part, t in suppliers.items()}), year,
                             amount])
    return path


@pytest.fixture(scope="module")
def measured(demo_register, tmp_path_factory):
    from test_spend_demo import spend_cfg

    folder = tmp_path_factory.mktemp("measures")
    suppliers = demo_suppliers(demo_register)
    lines = payments(suppliers)
    tier2 = write_tier2(folder / "tier2.csv", suppliers)
    cfg = spend_cfg(demo_register, folder, tier2_file=str(tier2), district=[WIRRAL])
    run = run_spend(cfg, [str(write_payments(folder / "payments.csv", lines))])
    con = duckdb.connect(str(run.database), read_only=True)
    yield con, lines
    con.close()


def rows(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.slow
def test_the_payments_resolve_to_the_demo_organisations(measured):
    """The premise of the tests below: every payee found and placed, the three spellings one charity."""
    con, lines = measured
    resolved = dict(con.execute("SELECT supplier_name, org_id FROM supplier_resolution WHERE status = 'resolved' "
                                "AND (lad_code IS NOT NULL OR kind = 'individual')").fetchall())
    assert set(resolved) == {name for _, name, _, _, _ in lines}
    assert len({resolved[name] for _, name, _, _, _ in lines[:3]}) == 1
    assert con.execute("SELECT count(*) FROM supplier_resolution").fetchone()[0] == len(lines)


@pytest.mark.slow
def test_declared_tier2_counts_only_for_paid_suppliers_not_local_already_within_their_spend(measured):
    con, _ = measured
    shares = {s["definition"]: s for s in rows(con, "SELECT * FROM spend_local_share")}
    district, tier2 = shares["district"], shares["district_tier2"]
    assert float(district["scope_amount"]) == 6000 and float(district["local_amount"]) == 5500
    # Barnsley Taxis' £1,000 capped at the £200 it was paid; Chester Motors' £100 in full; nothing else
    assert float(tier2["local_amount"]) == 5500 + 200 + 100
    assert tier2["scope_amount"] == district["scope_amount"] and tier2["local_share"] <= 1
    checked = {r["row_number"]: r for r in rows(con, "SELECT * FROM spend_tier2_check")}
    assert {n: (r["status"], float(r["counted_amount"])) for n, r in checked.items()} == {
        2: ("ignored", 0), 3: ("ignored", 0), 4: ("ignored", 0), 5: ("capped", 200), 6: ("counted", 100)}
    assert "financial year" in checked[2]["reason"] and "no supplier" in checked[3]["reason"]
    assert "local already" in checked[4]["reason"] and checked[6]["reason"] is None
    # the with-tier-2 figure by financial year, where the declarations are made
    by_year = {(r["period"], r["definition"]): r for r in rows(
        con, "SELECT * FROM spend_share_by_period WHERE period_type = 'financial_year'")}
    assert float(by_year[("2025-26", "district_tier2")]["local_amount"]) == 5500 + 200 + 100
    assert by_year[("2025-26", "district_tier2")]["scope_amount"] == by_year[("2025-26", "district")]["scope_amount"]


@pytest.mark.slow
def test_the_report_shows_the_tier2_rows_left_out_and_why(measured, tmp_path):
    con, _ = measured
    html = render_html(con, tmp_path / "spend.html").read_text(encoding="utf-8")
    section = html.split('id="tier-2-spend"')[1].split("<h2")[0]
    assert "Nobody At All Ltd" in section and "no supplier of that id or name in the payments" in section
    assert "the supplier is local already" in section
    assert 'id="by-financial-year"' in html and "district_tier2" in html.split('id="by-financial-year"')[1]


@pytest.mark.slow
def test_spellings_of_one_organisation_are_one_supplier(measured):
    """Three spellings of one Wirral charity (one charity number): one row of the top suppliers with all its money,
    and one local supplier: three organisations are local in Wirral (the charity, the other charity, the builder)."""
    con, lines = measured
    org_id = con.execute("SELECT org_id FROM supplier_resolution WHERE supplier_name = ?", [lines[0][1]]
                         ).fetchone()[0]
    top = rows(con, "SELECT * FROM spend_top_suppliers")
    charity = [t for t in top if t["org_id"] == org_id]
    assert len(charity) == 1 and charity[0]["rank"] == 1
    assert float(charity[0]["amount"]) == sum(float(amount) for _, _, _, amount, _ in lines[:3])
    assert charity[0]["line_count"] == 3 and charity[0]["based"] == "district"
    assert set(charity[0]["names_written"].split("; ")) == {name for _, name, _, _, _ in lines[:3]}
    assert len(top) == len({t["org_id"] or t["supplier_name"] for t in top}) == len(lines) - 2
    district = rows(con, "SELECT * FROM spend_local_share WHERE definition = 'district'")[0]
    assert (district["suppliers"], district["local_suppliers"]) == (5, 3)
    assert sum(r["suppliers"] for r in rows(con, "SELECT * FROM spend_by_size_class")) == 6   # 5 + the individual


@pytest.mark.parametrize(("words", "wanted"), [
    ("Transport Vehicle Hire", []),                                   # not "sport"
    ("Street Lighting Electricity", []),                              # not "tree"
    ("Fleet Vehicle Parts", []),                                      # not "arts"
    ("Horticulture Grounds Maintenance", []),                         # not "culture"
    ("Community Transport Dial a Ride", ["community_transport"]),
    ("Leisure, Libraries and Culture Culture and Leisure", ["arts_culture", "sport_leisure"]),
    ("Sports Development Grants", ["sport_leisure"]),
    ("Arts Council Match Funding", ["arts_culture"]),
    ("Parks and Countryside Tree Works", ["environment"]),
    ("Waste and Environment Environmental Services", ["environment"]),
    ("Adult Social Care Learning Disabilities", ["adult_social_care", "disability"]),
    ("Unemployment Support", ["employment_skills"]),
])
def test_expense_areas_map_to_service_areas_by_whole_words(words, wanted):
    """An expense area's words name a service area from the start of a word: "Transport", "Street Lighting" and
    "Vehicle Parts" are no sport, environment or arts (expense_service_areas.csv)."""
    assert measures.service_areas_of(words, measures.expense_service_areas()) == wanted


@pytest.mark.slow
def test_coverage_counts_redacted_payments_apart_from_resolved_ones(measured):
    """The redacted payee is resolved to a kind (an individual), not to a supplier: its £700 is redacted, not
    resolved, and resolved, to review, unresolved and redacted add up to all the money."""
    con, lines = measured
    coverage = {r["measure"]: r for r in rows(con, "SELECT * FROM spend_coverage")}
    redacted = sum(float(amount) for _, name, _, amount, _ in lines if name.startswith("REDACTED"))
    total = sum(float(amount) for _, _, _, amount, _ in lines)
    assert float(coverage["redacted"]["amount"]) == redacted == 700
    assert float(coverage["resolved"]["amount"]) == total - redacted
    parts = ("resolved", "needs review", "unresolved", "redacted")
    assert sum(float(coverage[m]["amount"]) for m in parts) == total
    assert sum(coverage[m]["share"] for m in parts) == pytest.approx(1)
    assert list(coverage)[:4] == list(parts)


@pytest.mark.slow
def test_tier2_declarations_leave_the_figures_when_their_file_is_no_longer_configured(demo_register, tmp_path):
    """A tier-2 file configured once and then taken out of the settings: its declarations went on counting in the
    local share (and showing on the spend page), since only loading a file emptied them."""
    from test_spend_demo import spend_cfg

    suppliers = demo_suppliers(demo_register)
    payments_file = str(write_payments(tmp_path / "payments.csv", payments(suppliers)))
    tier2 = write_tier2(tmp_path / "tier2.csv", suppliers)

    def shares(cfg) -> dict[str, float]:
        run = run_spend(cfg, [payments_file])
        con = duckdb.connect(str(run.database), read_only=True)
        try:
            return {d: float(a) for d, a in con.execute(
                "SELECT definition, local_amount FROM spend_local_share").fetchall()} | {
                "declared": con.execute("SELECT count(*) FROM spend_tier2").fetchone()[0]}
        finally:
            con.close()

    declared = shares(spend_cfg(demo_register, tmp_path, tier2_file=str(tier2), district=[WIRRAL]))
    assert declared["declared"] == len(TIER2) and declared["district_tier2"] > declared["district"]
    undeclared = shares(spend_cfg(demo_register, tmp_path, tier2_file="", district=[WIRRAL]))
    assert undeclared["declared"] == 0
    assert undeclared["district_tier2"] == undeclared["district"] == declared["district"]
