"""The demo dataset: real formats, reproducible bytes, a truth file that agrees with the data, and variety."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from vcse_pipeline.config import Config
from vcse_pipeline.demo import demo_source_overrides, generate_demo
from vcse_pipeline.demo.generate import CCEW_TABLES
from vcse_pipeline.postcode import normalise_postcode

FIXTURES = Path(__file__).parent / "fixtures"


def real_header(path: Path) -> str:
    """The header line of a real register sample under tests/fixtures (a zip's only member, or a text file)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(zf.namelist()[0])
    else:
        raw = path.read_bytes()
    return raw.decode("utf-8-sig").splitlines()[0]
CCEW_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} 00:00:00\.0000000$")
CH_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
WIRRAL_WARDS = ["Bebington", "Bidston and St James", "Birkenhead and Tranmere", "Bromborough", "Clatterbridge",
                "Claughton", "Eastham", "Greasby Frankby and Irby", "Heswall", "Hoylake and Meols",
                "Leasowe and Moreton East", "Liscard", "Moreton West and Saughall Massie", "New Brighton", "Oxton",
                "Pensby and Thingwall", "Prenton", "Rock Ferry", "Seacombe", "Upton", "Wallasey",
                "West Kirby and Thurstaston"]


def _member_text(zip_path: Path, member: str | None = None) -> str:
    with zipfile.ZipFile(zip_path) as zf:
        name = member or zf.namelist()[0]
        return zf.read(name).decode("utf-8")


def _ccew_records(out: Path, table: str) -> list[dict]:
    text = _member_text(out / "charity_commission" / f"publicextract.{table}.zip")
    lines = text.split("\r\n")
    header = lines[0].split("\t")
    records, pending = [], ""
    for line in lines[1:]:
        if not line and not pending:
            continue
        pending = f"{pending}\r\n{line}" if pending else line
        if pending.count("\t") >= len(header) - 1:
            records.append(dict(zip(header, pending.split("\t"), strict=True)))
            pending = ""
    return records


def _companies(out: Path) -> list[dict]:
    text = _member_text(out / "companies_house" / "BasicCompanyDataAsOneFile-2026-11-01.zip")
    return list(csv.DictReader(io.StringIO(text)))


def _postcodes(out: Path) -> list[dict]:
    text = _member_text(out / "postcodes" / "ONSPD_NOV_2025_UK.zip", "Data/ONSPD_NOV_2025_UK.csv")
    return list(csv.DictReader(io.StringIO(text)))


def _societies(out: Path) -> list[dict]:
    with (out / "fca_mutuals" / "SocietyList.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _truth(out: Path) -> list[dict]:
    with (out / "truth" / "organisations.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out)


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    first = _digests(Path(generate_demo(tmp_path / "a", seed=7, scale=0.1)["out_dir"]))
    second = _digests(Path(generate_demo(tmp_path / "b", seed=7, scale=0.1)["out_dir"]))
    other = _digests(Path(generate_demo(tmp_path / "c", seed=8, scale=0.1)["out_dir"]))
    assert first == second
    assert len(first) == 13 + 12 + 1   # the registers, truth; 12 monthly spend files and their truth
    charity_zip = "charity_commission/publicextract.charity.zip"
    assert other[charity_zip] != first[charity_zip]
    # the UKCAT rules are copied, not generated
    assert other["ukcat/ukcat.csv"] == first["ukcat/ukcat.csv"]


def test_headers_are_the_real_headers(demo):
    out, _ = demo
    for table in CCEW_TABLES:
        real = real_header(FIXTURES / "ccew" / f"publicextract.{table}.zip")
        with zipfile.ZipFile(out / "charity_commission" / f"publicextract.{table}.zip") as zf:
            assert zf.namelist() == [f"publicextract.{table}.txt"]
            first_line = zf.read(f"publicextract.{table}.txt").split(b"\r\n", 1)[0].decode()
        assert first_line == real, table
    real_ch = real_header(FIXTURES / "companies_house" / "companies-house-BasicCompanyData-sample.csv")
    assert _member_text(out / "companies_house" / "BasicCompanyDataAsOneFile-2026-11-01.zip").split("\n")[0] == real_ch
    assert " CompanyNumber" in real_ch.split(",") and len(real_ch.split(",")) == 55
    with zipfile.ZipFile(out / "postcodes" / "ONSPD_NOV_2025_UK.zip") as zf:
        assert sorted(zf.namelist()) == ["Data/ONSPD_NOV_2025_UK.csv",
                                         "Documents/LA_UA names and codes UK as at 04_25.csv",
                                         "Documents/Ward names and codes UK as at 05_25.csv"]
    real_onspd = real_header(FIXTURES / "postcodes" / "onspd-2025-columns-sample.csv")
    assert _member_text(out / "postcodes" / "ONSPD_NOV_2025_UK.zip",
                        "Data/ONSPD_NOV_2025_UK.csv").split("\n")[0] == real_onspd
    real_fca = real_header(FIXTURES / "fca_mutuals" / "SocietyList.csv")
    assert (out / "fca_mutuals" / "SocietyList.csv").read_bytes().decode("utf-8").split("\r\n")[0] == real_fca


def test_charity_commission_value_forms(demo):
    out, _ = demo
    charities = _ccew_records(out, "charity")
    for row in charities:
        assert row["date_of_extract"] == "2026-11-20 00:00:00.0000000"
        for column, value in row.items():
            if "date" in column and value:
                assert CCEW_DATE.match(value), (column, value)
        assert row["charity_insolvent"] in ("True", "False")
        assert row["charity_is_cio"] in ("True", "False", "")
    raw = _member_text(out / "charity_commission" / "publicextract.charity.zip")
    assert raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", "")
    # the real extract never quotes: a quote inside free text is written as it is
    assert any('"' in r["charity_activities"] for r in charities)
    assert not any(r["charity_name"].startswith('"') for r in charities)
    objects = _ccew_records(out, "charity_governing_document")
    assert len(objects) == len(charities)
    assert any("\r\n" in r["charitable_objects"] for r in objects)


def test_companies_house_value_forms(demo):
    out, _ = demo
    text = _member_text(out / "companies_house" / "BasicCompanyDataAsOneFile-2026-11-01.zip")
    data_lines = text.split("\n")[1:-1]
    assert all(line.startswith('"') and line.endswith('"') for line in data_lines)
    companies = _companies(out)
    for row in companies:
        number = row[" CompanyNumber"]
        assert len(number) == 8 and number == number.upper()
        for column in ("IncorporationDate", "DissolutionDate", "Accounts.NextDueDate", "ConfStmtNextDueDate"):
            assert not row[column] or CH_DATE.match(row[column]), (column, row[column])
        assert row["URI"] == f"http://business.data.gov.uk/id/company/{number}"
    sic = Counter(r["SICCode.SicText_1"] for r in companies)
    assert sic["88990 - Other social work activities without accommodation n.e.c."] > 0
    assert sic["None Supplied"] > 0
    assert any(r[" PreviousName_1.CompanyName"] for r in companies)


def test_postcode_directory_has_real_wirral_wards_and_the_ch64_trap(demo):
    out, _ = demo
    with zipfile.ZipFile(out / "postcodes" / "ONSPD_NOV_2025_UK.zip") as zf:
        wards = list(csv.DictReader(io.StringIO(zf.read("Documents/Ward names and codes UK as at 05_25.csv")
                                                .decode())))
        las = list(csv.DictReader(io.StringIO(zf.read("Documents/LA_UA names and codes UK as at 04_25.csv")
                                              .decode())))
    wirral = [(w["WD25CD"], w["WD25NM"]) for w in wards if "E05000950" <= w["WD25CD"] <= "E05000971"]
    assert wirral == [(f"E05000{950 + i}", name) for i, name in enumerate(WIRRAL_WARDS)]
    assert {"E08000015": "Wirral", "E06000050": "Cheshire West and Chester"}.items() <= \
        {r["LAD25CD"]: r["LAD25NM"] for r in las}.items()
    rows = _postcodes(out)
    by_district = defaultdict(set)
    for r in rows:
        by_district[r["pcds"].split(" ")[0]].add(r["lad25cd"])
        assert r["pcds"] == normalise_postcode(r["pcd7"]) == normalise_postcode(r["pcd8"])
    for district in ("CH41", "CH42", "CH43", "CH44", "CH45", "CH46", "CH47", "CH48", "CH49", "CH60", "CH61",
                     "CH62", "CH63"):
        assert by_district[district] == {"E08000015"}, district
    assert by_district["CH64"] == {"E06000050"}
    assert by_district["L1"] == {"E08000012"}
    wirral_rows = [r for r in rows if r["lad25cd"] == "E08000015"]
    assert all(r["lsoa21cd"].startswith("E010071") or r["lsoa21cd"].startswith("E010072")
               or r["lsoa21cd"].startswith("E010073") for r in wirral_rows)
    assert sum(1 for r in rows if r["doterm"]) > 50
    imd = defaultdict(list)
    for r in wirral_rows:
        imd[r["wd25cd"]].append(int(r["imd20ind"]))
    # Birkenhead and Tranmere is among England's most deprived places; Heswall among the least.
    assert max(imd["E05000952"]) < min(imd["E05000958"])


def test_row_counts_at_scale_one(demo):
    _, manifest = demo
    rows = manifest["rows"]
    assert 1300 <= manifest["vcse_operating_in_wirral"] <= 1500
    assert 1400 <= rows["charity_commission.charity"] <= 2100
    assert 3000 <= rows["companies_house.company"] <= 4500
    assert 120 <= rows["fca_mutuals.society"] <= 300
    assert 5000 <= rows["postcodes.postcode"] <= 10000
    assert rows["ukcat.ukcat_tag"] == 254
    assert rows["charity_commission.charity_annual_return_history"] > 3 * rows["charity_commission.charity"] // 2


def test_every_truth_record_exists_and_every_record_has_truth(demo):
    out, _ = demo
    keys = {
        "charity_commission": {r["organisation_number"] for r in _ccew_records(out, "charity")},
        "companies_house": {r[" CompanyNumber"] for r in _companies(out)},
        "fca_mutuals": {r["Full Registation Number"] for r in _societies(out)},
    }
    truth = _truth(out)
    seen = defaultdict(set)
    for row in truth:
        assert row["record_key"] in keys[row["source"]], row
        seen[row["source"]].add(row["record_key"])
    assert seen == keys
    assert len(truth) == len({(r["source"], r["record_key"]) for r in truth})


def test_truth_flags_agree_with_the_files(demo):
    out, _ = demo
    lad = {r["pcds"]: r["lad25cd"] for r in _postcodes(out)}
    truth = _truth(out)
    by_org = defaultdict(list)
    for row in truth:
        by_org[row["truth_org_id"]].append(row)
    for rows in by_org.values():
        in_wirral = any(lad.get(normalise_postcode(r["record_postcode"]) or "") == "E08000015" for r in rows)
        if in_wirral:
            assert all(r["in_wirral_by_postcode"] == "true" for r in rows)
    charities = {r["organisation_number"]: r for r in _ccew_records(out, "charity")}
    areas = defaultdict(set)
    for r in _ccew_records(out, "charity_area_of_operation"):
        areas[r["organisation_number"]].add(r["geographic_area_description"])
    # organisations based elsewhere that list Wirral in their areas of operation count as operating in Wirral
    away_listing_wirral = [r for r in truth if r["source"] == "charity_commission"
                           and "Wirral" in areas[r["record_key"]] and r["in_wirral_by_postcode"] == "false"]
    assert len(away_listing_wirral) > 50
    assert all(r["operates_in_wirral"] == "true" for r in away_listing_wirral)
    for r in truth:
        if r["source"] == "charity_commission":
            assert (r["record_is_active"] == "true") == (charities[r["record_key"]]["charity_registration_status"]
                                                         == "Registered")


def test_variety_of_forms_statuses_and_traps(demo):
    out, _ = demo
    charities = _ccew_records(out, "charity")
    companies = _companies(out)
    societies = _societies(out)
    truth = _truth(out)
    types = Counter(r["charity_type"] for r in charities if r["linked_charity_number"] == "0")
    assert {"Trust", "Other", "CIO", "Charitable company", "Previously excepted"} <= set(types)
    assert any(r["linked_charity_number"] != "0" for r in charities)
    removed = [r for r in charities if r["charity_registration_status"] == "Removed"]
    assert len(removed) > 50 and all(r["date_of_removal"] for r in removed)
    categories = Counter(r["CompanyCategory"] for r in companies)
    for category in ("Private Limited Company", "Community Interest Company", "Charitable Incorporated Organisation",
                     "Registered Society", "PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)"):
        assert categories[category] > 0, category
    assert categories["Private Limited Company"] > 2000
    numbers = [r[" CompanyNumber"] for r in companies]
    assert any(n.startswith("CE") for n in numbers) and any(n.startswith("RS") for n in numbers)
    assert any(n.startswith("IP") for n in numbers)
    dissolved = [r for r in companies if r["CompanyStatus"] == "Dissolved"]
    assert len(dissolved) > 50 and all(r["DissolutionDate"] for r in dissolved)
    assert {"Community Benefit Society", "Co-operative Society", "Credit Union"} <= {r["Registered As"]
                                                                                   for r in societies}
    assert all(re.search(r", [A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}$", r["Society Address"]) for r in societies)
    # overdue filings at both registers
    history = _ccew_records(out, "charity_annual_return_history")
    assert any(r["reporting_due_date"] < "2026-11-20" and not r["date_annual_return_received"] for r in history)
    assert any(r["charity_reporting_status"] == "Submission Overdue" for r in charities)
    assert any(r["Accounts.NextDueDate"] and r["CompanyStatus"] == "Active"
               and tuple(reversed(r["Accounts.NextDueDate"].split("/"))) < ("2026", "11", "01") for r in companies)
    # name variants between registers, and organisations in two or three registers
    assert set(Counter(r["name_variant_kind"] for r in truth)) == {
        "exact", "ltd/limited", "the", "&/and", "punctuation", "working name", "typo", "previous name"}
    sources_per_org = defaultdict(set)
    for r in truth:
        sources_per_org[r["truth_org_id"]].add(r["source"])
    multi = Counter(len(s) for s in sources_per_org.values())
    assert multi[2] > 150
    assert any({"charity_commission", "companies_house"} == s for s in sources_per_org.values())
    assert any({"fca_mutuals", "companies_house"} == s for s in sources_per_org.values())


def test_placeholders_and_false_friends_are_different_organisations(demo):
    out, _ = demo
    charities = _ccew_records(out, "charity")
    truth = _truth(out)
    org_of = {(r["source"], r["record_key"]): r["truth_org_id"] for r in truth}
    listed = {r["charity_company_registration_number"]: r["organisation_number"] for r in charities
              if r["charity_company_registration_number"] in ("00000000", "01234567", "12345678")}
    assert set(listed) == {"00000000", "01234567", "12345678"}
    company_numbers = {r[" CompanyNumber"] for r in _companies(out)}
    for number in ("01234567", "12345678"):
        assert number in company_numbers
        assert org_of[("companies_house", number)] != org_of[("charity_commission", listed[number])]
    by_name = defaultdict(set)
    for r in truth:
        if r["source"] == "charity_commission":
            by_name[r["record_name"]].add(r["truth_org_id"])
    assert len(by_name["St Mary's Church Hall Trust"]) == 2
    assert len(by_name["Upton Community Association"]) == 2
    hoylake, hoyland = by_name["Hoylake Community Centre"], by_name["Hoyland Community Centre"]
    assert len(hoylake) == len(hoyland) == 1 and hoylake != hoyland
    wirral = [r for r in truth if r["record_name"] == "Wirral Foodbank"][0]
    wigan = [r for r in truth if r["record_name"] == "Wigan Foodbank"][0]
    assert wirral["operates_in_wirral"] == "true" and wigan["operates_in_wirral"] == "false"
    neston = [r for r in truth if r["record_name"] == "Neston and South Wirral Carers"][0]
    assert neston["in_wirral_by_postcode"] == "false"


def test_every_sic_code_used_has_its_companies_house_text():
    from vcse_pipeline.demo.vocabulary import PURPOSES, SIC_TEXT, TRADES

    used = {p.sic for p in PURPOSES} | {sic for _, sic in TRADES} | {"88990", "94990", "85590", "82990", "98000",
                                                                     "87300", "64209"}
    assert used <= set(SIC_TEXT)


def test_scale_multiplies_organisations(tmp_path):
    small = generate_demo(tmp_path / "small", scale=0.1)
    larger = generate_demo(tmp_path / "larger", scale=0.3)
    assert 2.2 < larger["organisations"] / small["organisations"] < 3.6
    with pytest.raises(ValueError, match="scale"):
        generate_demo(tmp_path / "bad", scale=0)


def test_source_overrides_point_at_the_files(demo):
    out, manifest = demo
    cfg = Config.load(environ={}).with_overrides(demo_source_overrides(out))
    template = cfg.source("charity_commission")["url"]
    for table in cfg.source("charity_commission")["tables"]:
        assert Path(template.format(table=table)).is_file()
    for source in ("companies_house", "postcodes", "fca_mutuals", "ukcat"):
        assert Path(cfg.source(source)["url"]).is_file()
        assert cfg.source(source)["url"] in manifest["paths"][source]


def test_truth_says_what_each_organisation_sets_out_to_provide(demo):
    """Shortlists are measured against these columns (bench/shortlists.py): they must follow name and purpose."""
    out, _ = demo
    truth = _truth(out)
    carers = [t for t in truth if "Carers" in t["record_name"] and t["legal_form"] != "linked charity"]
    assert carers and all("carers" in t["services"].split(";") for t in carers)
    young = [t for t in carers if "Young Carers" in t["record_name"]]
    assert young and all({"children", "carers"} <= set(t["beneficiaries"].split(";")) for t in young)
    linked = [t for t in truth if t["legal_form"] == "linked charity"]
    assert linked and all(t["services"] == "" for t in linked)   # provided by the main charity
    refuges = [t for t in truth if "Women's Refuge" in t["record_name"] and t["legal_form"] != "linked charity"]
    assert refuges and all(t["services"] == "domestic_abuse" for t in refuges)
