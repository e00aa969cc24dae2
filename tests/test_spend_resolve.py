"""Supplier resolution rules that need no register: public bodies and people by name, redactions, the overrides
file, and which national record a name names (vcse_pipeline/spend/resolve.py)."""

from __future__ import annotations

import pytest

from vcse_pipeline.errors import PipelineError
from vcse_pipeline.spend.resolve import (
    INDIVIDUAL,
    PUBLIC,
    REDACTED,
    _by_pattern,
    _one_organisation,
    _override,
    _redaction,
    read_overrides,
)


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
    "Birkenhead Community Trust", "Acme Builders Ltd", "Mrs Buckets Cafe Ltd"])
def test_voluntary_services_and_businesses_are_not_public_bodies_or_people(name):
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
