"""Supplier resolution rules that need no register: public bodies and people by name, redactions, the overrides
file, and which national record a name names (vcse_pipeline/spend/resolve.py)."""

from __future__ import annotations

import csv
import json
import re

import duckdb
import pytest

from vcse_pipeline.errors import PipelineError
from vcse_pipeline.spend.load import run_spend_sql
from vcse_pipeline.spend.resolve import (
    INDIVIDUAL,
    PUBLIC,
    PUBLIC_BODY,
    REDACTED,
    SAME_NAME,
    _by_pattern,
    _name_groups,
    _one_organisation,
    _override,
    _redaction,
    name_similarity,
    read_overrides,
)
from vcse_pipeline.spend.run import run_spend


def supplier(name: str, supplier_id: str | None = None, redacted: bool = False) -> dict:
    return {"supplier_name": name, "supplier_id": supplier_id, "names": [name], "is_redacted": redacted}


@pytest.mark.parametrize("name", [
    "Liverpool City Council", "WIRRAL COUNCIL", "Wirral University Teaching Hospital NHS Foundation Trust",
    "NHS Cheshire and Merseyside Integrated Care Board", "Merseyside Police", "Merseyside Fire & Rescue Service",
    "St Anselm's Catholic Primary School", "Wirral Metropolitan College", "HM Revenue & Customs",
    "Department for Education", "Liverpool City Region Combined Authority", "Hoylake Parish Council"])
def test_public_bodies_by_name(name):
    assert _by_pattern(supplier(name)).kind == PUBLIC


@pytest.mark.parametrize("name", [
    "Wirral Council for Voluntary Service", "Sefton Council of Voluntary Service", "Council Street Garage Ltd",
    "Birkenhead Community Trust", "Acme Builders Ltd", "Mrs Buckets Cafe Ltd",
    "Friends of Saughall Massie Primary School", "Eastham High School PTA", "Oxton High School P.T.F.A.",
    "St Mary's Catholic Primary School Parents' Association", "Parent Teacher Association of Wirral Grammar School"])
def test_voluntary_services_schools_friends_and_businesses_are_not_public_bodies_or_people(name):
    assert _by_pattern(supplier(name)) is None


def test_people_and_redactions():
    assert _by_pattern(supplier("Mr J Smith")).kind == INDIVIDUAL
    assert _by_pattern(supplier("Dr. A Patel")).method == "personal name"
    assert _redaction(supplier("REDACTED PERSONAL DATA", redacted=True)).kind == INDIVIDUAL
    assert _redaction(supplier("Redacted Commercial Data", redacted=True)).kind == REDACTED
    assert _redaction(supplier("Acme Ltd")) is None


def test_overrides_by_supplier_id_or_any_name_written(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("supplier,org_id,note\nS000123,GB-COH-1234567,checked\nwirral  mind,GB-CHC-1098765,\n"
                    "Old Swan Community Hub,public,\n", encoding="utf-8")
    overrides = read_overrides(path)
    by_id = _override(None, supplier("ACME", "S000123"), overrides)
    assert (by_id.org_id, by_id.company_number, by_id.method, by_id.score) == (
        "GB-COH-1234567", "01234567", "override", 100.0)
    by_name = _override(None, supplier("Wirral Mind"), overrides)
    assert (by_name.org_id, by_name.charity_number) == ("GB-CHC-1098765", "1098765")
    assert _override(None, supplier("OLD SWAN COMMUNITY HUB"), overrides).kind == PUBLIC
    assert _override(None, supplier("Someone Else"), overrides) is None
    assert read_overrides(tmp_path / "missing.csv") == {}


def test_an_overrides_row_without_an_org_id_names_the_file_and_row(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("supplier,org_id\nS1,GB-COH-1\nS2,\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"overrides\.csv row 3: supplier and org_id must both be given"):
        read_overrides(path)


def test_which_record_a_name_names():
    company = ("COH", "01234567", "ACME LIMITED", True, "CH41 1AA")
    dissolved = ("COH", "07654321", "ACME LTD", False, "L1 1AA")
    charity = ("CHC", "1100001", "ACME", True, "CH41 1AA")
    assert _one_organisation([company, dissolved]) == company            # the live one
    assert _one_organisation([company, charity]) == charity              # one organisation in two registers
    assert _one_organisation([company, ("COH", "0999", "ACME", True, None)]) is None   # two live companies: review
    assert _one_organisation([dissolved]) == dissolved


def test_names_under_one_supplier_id_group_by_spelling():
    # one supplier's spellings stay one group; different suppliers sharing the id are apart
    assert _name_groups(["Wirral Mind", "Mind in Wirral", "Chester Motors Ltd", "Age UK Wirral",
                         "Age Concern Wirral", "Wirral Taxis"]) == [[0, 1], [2], [3, 4], [5]]
    assert name_similarity("Tranmere Mind", "TRANMERE MIND LIMITED") == 100.0
    assert name_similarity("Kiveton Park and Wales Community Development Trust", "PHOENIX RETAIL LTD") < SAME_NAME


@pytest.mark.parametrize(("written", "read"), [
    ("SUNDRY CREDITOR", None), ("Sundry Creditors", None), ("ONE-OFF SUPPLIER", None), ("Petty Cash", None),
    ("CASH", None), ("VARIOUS", None), ("ONETIME", None), ("0000", None), (" v000777 ", "V000777"),
    ("CASHMORE1", "CASHMORE1")])
def test_generic_supplier_ids_name_no_supplier(written, read):
    con = duckdb.connect()
    run_spend_sql(con, "00_macros.sql")
    assert con.execute("SELECT spend_supplier_id(?)", [written]).fetchone()[0] == read
    con.close()


# Resolution against the demo register (the `demo_register` session build): payment files written here, in
# councils' real layouts, with suppliers the demo's truth names.
BRADFORD = ("Service Code,Service Label,Expenditure code,Expenditure category,Payment date,Transaction Number,"
            "Net Amount,Supplier Number,Supplier Name")
WIRRAL = "E08000015"


def demo_suppliers(demo_register) -> list[dict]:
    path = demo_register.cfg.data_dir / "demo-sources" / "truth" / "spend_suppliers.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if not PUBLIC_BODY.search(r["supplier_name"]) and r["identifiers"]
            and sum(spend_name_key(t["supplier_name"]) == spend_name_key(r["supplier_name"]) for t in rows) == 1]


def spend_name_key(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9]+", " ", name.upper().replace("&", " AND "))).strip()


def run_file(demo_register, tmp_path, text: str, name: str = "payments.csv"):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / name).write_text(text, encoding="utf-8")
    cfg = demo_register.cfg.with_overrides({"spend": {"database": str(tmp_path / "spend.duckdb"),
                                                      "overrides_file": str(tmp_path / "overrides.csv")},
                                            "download": {"progress": False}})
    run = run_spend(cfg, fetch=False, paths=[tmp_path / "files" / name])
    return duckdb.connect(str(run.database), read_only=True)


def district_share(con) -> float:
    return con.execute("SELECT local_share FROM spend_local_share WHERE definition = 'district'").fetchone()[0]


@pytest.mark.slow
def test_a_supplier_id_shared_by_different_suppliers_keeps_them_apart(demo_register, tmp_path):
    """A Bradford-layout file whose every line has one supplier number (a council's sundry-creditor account): a
    Wirral charity twice, two businesses elsewhere. One supplier per name, each resolved and placed on its own;
    one supplier's spellings under one id stay one supplier."""
    suppliers = demo_suppliers(demo_register)
    vcse = next(s for s in suppliers if s["truth_kind"] == "vcse" and s["lad_code"] == WIRRAL)
    elsewhere = [s for s in suppliers if s["truth_kind"] == "business" and s["lad_code"] not in ("", WIRRAL)][:2]
    lines = [(vcse["supplier_name"], 1000), (vcse["supplier_name"].upper(), 1500),
             (elsewhere[0]["supplier_name"], 5000), (elsewhere[1]["supplier_name"], 2000)]
    rows = [f"S1,Adults,E1,Services,{day + 1:02d}/05/2025,T{day},{amount:.2f},V000777,\"{name}\""
            for day, (name, amount) in enumerate(lines)]
    con = run_file(demo_register, tmp_path, "\n".join([BRADFORD, *rows]) + "\n")
    resolved = con.execute("SELECT supplier_key, supplier_name, status, lad_code FROM supplier_resolution "
                           "ORDER BY supplier_key").fetchall()
    assert len(resolved) == 3, resolved
    assert {r[3] for r in resolved if r[2] == "resolved"} == {vcse["lad_code"], elsewhere[0]["lad_code"],
                                                              elsewhere[1]["lad_code"]}
    assert all(key.startswith("id:V000777|name:") for key, *_ in resolved)
    assert district_share(con) == pytest.approx(2500 / 9500, abs=1e-4)
    assert con.execute("SELECT count(DISTINCT supplier_key) FROM spend_line").fetchone()[0] == 3   # the lines too
    con.close()


MANCHESTER = "Service Area,Expenses Type,Invoice Payment Date,Transaction Number,Net Amount,Supplier Name"


def register_names_like_public_bodies(demo_register) -> list[str]:
    """Active Wirral register organisations whose names a public body's pattern finds (schools' PTAs, friends),
    each the only one of its name key."""
    con = duckdb.connect(str(demo_register.path), read_only=True)
    names = [n for (n,) in con.execute("SELECT DISTINCT name FROM organisation WHERE is_active AND lad_code = ? "
                                       "ORDER BY name", [WIRRAL]).fetchall()]
    con.close()
    return [n for n in names if PUBLIC_BODY.search(n)
            and sum(spend_name_key(o) == spend_name_key(n) for o in names) == 1]


def schools_friends_file(demo_register) -> tuple[str, list[str], float]:
    """A Manchester-layout file: two register charities named like schools, and a business outside Wirral."""
    charities = register_names_like_public_bodies(demo_register)[:2]
    business = next(s for s in demo_suppliers(demo_register)
                    if s["truth_kind"] == "business" and s["lad_code"] not in ("", WIRRAL))
    lines = [(charities[0], 12000), (charities[1], 8000), (business["supplier_name"], 5000)]
    rows = [f"Children,Grants,{day + 1:02d}/06/2025,T{day},{amount:.2f},\"{name}\""
            for day, (name, amount) in enumerate(lines)]
    return "\n".join([MANCHESTER, *rows]) + "\n", charities, 20000 / 25000


@pytest.mark.slow
def test_register_charities_named_like_schools_are_not_public_bodies(demo_register, tmp_path):
    text, charities, share = schools_friends_file(demo_register)
    con = run_file(demo_register, tmp_path, text)
    methods = con.execute("SELECT kind, method, in_register, lad_code FROM supplier_resolution "
                          "WHERE supplier_name IN (SELECT unnest(?))", [charities]).fetchall()
    assert methods == [("vcse", "register name", True, WIRRAL)] * 2
    assert district_share(con) == pytest.approx(share, abs=1e-4)
    con.close()


@pytest.mark.slow
def test_an_identical_register_name_wins_over_the_public_body_pattern(demo_register, tmp_path, monkeypatch):
    """Without the friends/PTA rule, the register's own organisations still win over the pattern, and a public
    body the register does not have stays one."""
    monkeypatch.setattr("vcse_pipeline.spend.resolve.SUPPORTS_A_PUBLIC_BODY", re.compile(r"(?!x)x"))
    text, _charities, share = schools_friends_file(demo_register)
    con = run_file(demo_register, tmp_path, text + "Adults,Rates,30/06/2025,T9,-100.00,Wirral Council\n")
    assert district_share(con) == pytest.approx(share, abs=1e-4)
    assert con.execute("SELECT kind, method FROM supplier_resolution WHERE supplier_name = 'Wirral Council'"
                       ).fetchall() == [("public body", "public body name")]
    assert con.execute("SELECT count(*) FROM supplier_resolution WHERE in_register").fetchone()[0] == 2
    con.close()


def wirral_register_organisations(demo_register) -> list[tuple[str, str]]:
    """(name, org id) of active Wirral register charities, each the only one of its name key, in name order."""
    con = duckdb.connect(str(demo_register.path), read_only=True)
    found = con.execute("SELECT DISTINCT name, org_id FROM organisation WHERE is_active AND lad_code = ? "
                        "ORDER BY name", [WIRRAL]).fetchall()
    con.close()
    return [(n, o) for n, o in found if o.startswith("GB-CHC-") and not PUBLIC_BODY.search(n)
            and sum(spend_name_key(m) == spend_name_key(n) for m, _ in found) == 1]


def grant(number: int, name: str, org_id: str, amount: float) -> dict:
    return {"id": f"360G-test-{number}", "title": "Community grant", "currency": "GBP", "awardDate": "2025-05-01",
            "amountAwarded": amount, "recipientOrganization": [{"id": org_id, "name": name}],
            "fundingOrganization": [{"id": "GB-CHC-1000000", "name": "A funder"}]}


def company_id(supplier: dict) -> str:
    return next(i for i in supplier["identifiers"].split("|") if i.startswith("GB-COH-"))


@pytest.mark.slow
def test_a_number_is_trusted_only_for_its_registered_name(demo_register, tmp_path):
    """360Giving grants whose recipient ids are company numbers of other organisations (a mistyped or mismatched
    number: Power to Change's sample names a community trust with a retailer's number) are decided by the name,
    or sent to review with the reason; a number with its own name still decides."""
    suppliers = demo_suppliers(demo_register)
    wirral_business = next(s for s in suppliers if s["truth_kind"] == "business" and s["lad_code"] == WIRRAL
                           and "GB-COH-" in s["identifiers"])
    business_elsewhere = next(s for s in suppliers if s["truth_kind"] == "business"
                              and s["lad_code"] not in ("", WIRRAL) and "GB-COH-" in s["identifiers"])
    (charity, charity_id), (named, named_id) = wirral_register_organisations(demo_register)[:2]
    grants = [grant(1, "Kiveton Park and Wales Community Development Trust", company_id(wirral_business), 10000),
              grant(2, charity.upper(), charity_id, 6000),
              grant(3, named, company_id(business_elsewhere), 4000)]
    con = run_file(demo_register, tmp_path, json.dumps({"grants": grants}), "grants.json")
    got = {r[0]: r[1:] for r in con.execute(
        "SELECT supplier_name, org_id, method, status, evidence FROM supplier_resolution").fetchall()}
    org_id, method, status, evidence = got["Kiveton Park and Wales Community Development Trust"]
    assert (org_id, method, status) == (company_id(wirral_business), "company number", "review")
    assert "is not the name written" in json.loads(evidence)["reason"]
    assert got[charity.upper()][:3] == (charity_id, "charity number", "resolved")
    org_id, method, status, evidence = got[named]
    assert (org_id, method, status) == (named_id, "register name", "resolved")
    assert json.loads(evidence)["number_not_this_name"]["number"] == company_id(business_elsewhere)[7:]
    assert district_share(con) == pytest.approx(10000 / 20000, abs=1e-4)
    con.close()
