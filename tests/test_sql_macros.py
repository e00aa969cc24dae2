"""The build macros of vcse_pipeline/sql/macros, loaded into an in-memory DuckDB the way a build loads them, on the
identifiers the registers really publish: company numbers with prefixes, spaces and dropped zeros, FCA and Companies
House society numbers, websites with schemes, www and paths, emails, postcodes, and the VCSE rule's legal forms."""

import random

import duckdb
import pytest

from vcse_pipeline.db import register_macros
from vcse_pipeline.register import vcse_rule


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    register_macros(con)
    yield con
    con.close()


def value(con, expression: str, *params):
    return con.execute(f"SELECT {expression}", list(params)).fetchone()[0]


@pytest.mark.parametrize(("raw", "expected"), [
    ("01234567", "01234567"),
    ("1234567", "01234567"),        # the leading zero a spreadsheet dropped
    (" 123 4567 ", "01234567"),     # spaces inside and around
    ("sc 123456", "SC123456"),      # a Scottish company, lower case, spaced
    ("SC1234", "SC001234"),         # prefix kept, digits zero-padded to 6
    ("oc-301234", "OC301234"),      # LLP with punctuation
    ("CE012345", "CE012345"),       # a CIO's Companies House number
    ("IP28116R", "IP28116R"),       # an IP society number with its trailing letter
    ("XX002802", None),             # not a Companies House prefix
    ("123456789", None),            # nine digits
    ("00000000", None),             # all zeros
    ("0", None),                    # pads to all zeros
    ("SC000000", None),             # prefix and zeros
    ("99999999", None),             # a configured placeholder
    ("", None),
    (None, None),
])
def test_clean_company_number(con, raw, expected):
    assert value(con, "clean_company_number(?, ['99999999', '12345678'])", raw) == expected


def test_clean_company_number_takes_numbers_and_no_placeholders(con):
    # The charity extract types the column as a number when every value is digits.
    assert value(con, "clean_company_number(1234567, [])") == "01234567"
    assert value(con, "clean_company_number('99999999', [])") == "99999999"


@pytest.mark.parametrize(("fca", "companies_house", "key"), [
    ("28116R", "IP28116R", "28116/R"),   # England & Wales before 2014
    ("149C", "IP00149C", "149/C"),       # a credit union, zero-padded at Companies House
    ("32356R", "IP032356", "32356/R"),   # Companies House dropped the R
    ("8053", "RS008053", "8053/"),       # a post-2014 society: digits alone
    ("2054RS", "SP002054", "2054/RS"),   # Scotland
    (" 28116 r", "ip 28116r", "28116/R"),  # spaces and case
])
def test_society_key_matches_an_fca_society_to_its_companies_house_record(con, fca, companies_house, key):
    assert value(con, "society_key('fca_mutuals', ?)", fca) == key
    assert value(con, "society_key('companies_house', ?)", companies_house) == key


def test_society_key_keeps_northern_ireland_apart_and_ignores_others(con):
    assert value(con, "society_key('fca_mutuals', 'IP00123')") == "NI:IP00123"
    assert value(con, "society_key('fca_mutuals', 'CU00045')") == "NI:CU00045"
    assert value(con, "society_key('companies_house', 'NP000123')") is None
    assert value(con, "society_key('companies_house', '01234567')") is None  # an ordinary company
    assert value(con, "society_key('charity_commission', '28116R')") is None
    assert value(con, "society_key('fca_mutuals', NULL)") is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://www.WirralFoodbank.org.uk/", "wirralfoodbank.org.uk"),
    ("http://wirralfoodbank.org.uk", "wirralfoodbank.org.uk"),
    ("WWW.WIRRALFOODBANK.ORG.UK", "wirralfoodbank.org.uk"),
    (" www.example.org/heswall/?utm_source=x#top ", "example.org/heswall"),
    ("https://www.facebook.com/groups/ourgroup/", "facebook.com/groups/ourgroup"),
    ("https://", None),
    ("   ", None),
    (None, None),
])
def test_website_key(con, raw, expected):
    assert value(con, "website_key(?)", raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (" Info@WirralToyLibrary.org.uk ", "info@wirraltoylibrary.org.uk"),
    ("office@example.co.uk", "office@example.co.uk"),
    ("not an email", None),
    ("info@localhost", None),
    ("two@@example.org", None),
    ("info @example.org", None),
    (None, None),
])
def test_email_key(con, raw, expected):
    assert value(con, "email_key(?)", raw) == expected


def test_is_generic_domain(con):
    generic = "['gmail.com', 'facebook.com']"
    assert value(con, f"is_generic_domain('gmail.com', {generic})") is True
    assert value(con, f"is_generic_domain('m.facebook.com', {generic})") is True
    assert value(con, f"is_generic_domain('notgmail.com', {generic})") is False
    assert value(con, "is_generic_domain('gmail.com', [])") is False


@pytest.mark.parametrize(("raw", "key", "display"), [
    ("ch41 1ab", "CH411AB", "CH41 1AB"),
    ("CH60-0AB", "CH600AB", "CH60 0AB"),
    ("w1a1aa", "W1A1AA", "W1A 1AA"),
    ("M1 1AE", "M11AE", "M1 1AE"),
    ("EC1A 1BB", "EC1A1BB", "EC1A 1BB"),
    ("  sw1a.2aa\n", "SW1A2AA", "SW1A 2AA"),
    ("CH41", None, None),
    ("CH41 1AB X", None, None),
    ("not a postcode", None, None),
    ("", None, None),
    (None, None, None),
])
def test_postcode_macros(con, raw, key, display):
    assert value(con, "postcode_key(?)", raw) == key
    assert value(con, "normalise_postcode(?)", raw) == display


def test_normalise_postcode_is_the_key_with_a_space(con):
    # normalise_postcode splits the key in one regular expression (it runs on every company at staging): on
    # postcode-shaped strings, near misses and noise alike it agrees with postcode_key split before the last 3.
    rnd = random.Random(15)
    shapes = ["A9 9AA", "A99 9AA", "AA9 9AA", "AA99 9AA", "A9A 9AA", "AA9A 9AA", "9A9 9AA", "AAA9 9AA", "AA9 9A9",
              "AA99 9AAA", "A9"]
    raws = ["".join(rnd.choice("abcxyzABCXYZ") if c == "A" else rnd.choice("0159") if c == "9" else rnd.choice(" -.")
                    for c in rnd.choice(shapes)) for _ in range(3000)]
    raws += ["".join(rnd.choice("aZ9 -'é\n") for _ in range(rnd.randint(0, 9))) for _ in range(1000)]
    con.execute("CREATE TEMP TABLE raws AS SELECT unnest(?) AS raw", [raws])
    valid, disagree = con.execute("""
        SELECT count(postcode_key(raw)),
               count(*) FILTER (WHERE normalise_postcode(raw) IS DISTINCT FROM
                                CASE WHEN postcode_key(raw) IS NOT NULL THEN left(postcode_key(raw),
                                     length(postcode_key(raw)) - 3) || ' ' || right(postcode_key(raw), 3) END)
        FROM raws""").fetchone()
    assert disagree == 0
    assert 1000 < valid < 3000  # both branches were exercised


@pytest.mark.parametrize(("linked", "is_cio", "charity_type", "form", "vcse"), [
    (0, False, "Trust", vcse_rule.UNINCORPORATED_CHARITY, "charities"),
    (None, True, None, vcse_rule.CIO, "cios"),
    (0, False, "CIO", vcse_rule.CIO, "cios"),
    (0, False, "Charitable company", vcse_rule.CHARITABLE_COMPANY, "charities"),
    (2, False, None, vcse_rule.LINKED_CHARITY, "linked"),
])
def test_charity_rule(con, linked, is_cio, charity_type, form, vcse):
    assert value(con, "charity_legal_form(?, ?, ?)", linked, is_cio, charity_type) == form
    # The switch that decides: only it is on.
    switches = {"linked": "TRUE, FALSE, FALSE", "cios": "FALSE, TRUE, FALSE", "charities": "FALSE, FALSE, TRUE"}
    assert value(con, f"charity_is_vcse(?, ?, ?, {switches[vcse]})", linked, is_cio, charity_type) is True
    assert value(con, "charity_is_vcse(?, ?, ?, FALSE, FALSE, FALSE)", linked, is_cio, charity_type) is False


@pytest.mark.parametrize(("category", "form", "switch"), [
    ("Community Interest Company", vcse_rule.CIC, 0),
    ("PRI/LTD BY GUAR/NSC (Private, limited by guarantee, no share capital)", vcse_rule.GUARANTEE, 1),
    ("PRI/LBG/NSC (Private, Limited by guarantee, no share capital, use of 'Limited' exemption)",
     vcse_rule.GUARANTEE, 1),
    ("Charitable Incorporated Organisation", vcse_rule.CIO, 2),
    ("Scottish Charitable Incorporated Organisation", vcse_rule.SCOTTISH_CIO, 2),
    ("Registered Society", vcse_rule.REGISTERED_SOCIETY, 3),
    ("Industrial and Provident Society", vcse_rule.REGISTERED_SOCIETY, 3),
    ("Royal Charter Company", vcse_rule.ROYAL_CHARTER, 4),
])
def test_company_rule(con, category, form, switch):
    assert value(con, "company_legal_form(?)", category) == form
    only = ", ".join("TRUE" if i == switch else "FALSE" for i in range(5))
    assert value(con, f"company_is_vcse(?, {only})", category) is True
    assert value(con, "company_is_vcse(?, FALSE, FALSE, FALSE, FALSE, FALSE)", category) is False


def test_other_companies_are_never_vcse(con):
    category = "Private Limited Company"
    assert value(con, "company_legal_form(?)", category) == category
    assert value(con, "company_is_vcse(?, TRUE, TRUE, TRUE, TRUE, TRUE)", category) is False
    assert value(con, "company_is_vcse(NULL, TRUE, TRUE, TRUE, TRUE, TRUE)") is False


@pytest.mark.parametrize(("suffix", "number", "registered_as", "society_type", "form"), [
    ("R", "28116", "Registered Society", "Registered Society", vcse_rule.REGISTERED_SOCIETY),
    (" c ", "149", "Credit Union", "Credit Union", vcse_rule.CREDIT_UNION),
    ("", "4123", None, "Co-operative Society", vcse_rule.REGISTERED_SOCIETY),   # post-2014, 4xxx
    (None, "8053", None, "Community Benefit Society", vcse_rule.REGISTERED_SOCIETY),
    ("F", "123", "Friendly Society", "Friendly Society", "Friendly Society"),
    ("ZZ", "77", "Benevolent Society", "Benevolent Society", "Benevolent Society"),  # unknown suffix
])
def test_society_rule(con, suffix, number, registered_as, society_type, form):
    assert value(con, "society_type(?, ?, ?)", suffix, number, registered_as) == society_type
    assert value(con, "society_legal_form(?, ?)", society_type, registered_as) == form


def test_society_is_vcse_takes_the_switch_and_the_types(con):
    types = "['Registered Society', 'Credit Union']"
    assert value(con, f"society_is_vcse('Credit Union', NULL, TRUE, {types})") is True
    assert value(con, f"society_is_vcse('Friendly Society', 'Registered Society', TRUE, {types})") is True
    assert value(con, f"society_is_vcse('Friendly Society', 'Friendly Society', TRUE, {types})") is False
    assert value(con, f"society_is_vcse('Credit Union', NULL, FALSE, {types})") is False
    assert value(con, "society_is_vcse('Credit Union', NULL, TRUE, [])") is False


def test_macros_are_temporary(tmp_path):
    # Build macros never end up in a staging or register file.
    path = tmp_path / "register.duckdb"
    con = duckdb.connect(str(path))
    register_macros(con)
    con.close()
    con = duckdb.connect(str(path))
    names = {r[0] for r in con.execute("SELECT function_name FROM duckdb_functions() WHERE NOT internal").fetchall()}
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert not {"clean_company_number", "postcode_key", "society_type"} & names and tables == set()
