"""Each name-normalisation rule of vcse_pipeline.names, one at a time."""

import pytest

from vcse_pipeline.names import (
    name_tokens,
    name_variants,
    normalise_name,
    own_words,
    qualifier_variants,
    same_word,
    squash,
    strip_legal_form,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Café Créme", "cafe creme"),                                    # accents folded
    ("WIRRAL MIND", "wirral mind"),                                  # lower case
    ("Finsbury & Clerkenwell Volunteers", "finsbury and clerkenwell volunteers"),  # & -> and
    ("Arts+Health", "arts and health"),                              # + -> and
    ("WARRINGTON WOMEN'S AID", "warrington womens aid"),              # apostrophe vanishes
    ("Older People\u2019s Action", "older peoples action"),          # curly apostrophe too
    ("Wirral Mind C.I.C.", "wirral mind"),                           # dotted abbreviation, then legal form
    ("Age U.K.", "age uk"),                                          # dotted abbreviation kept as a word
    ("Home-Start Cardiff (East)", "home start cardiff east"),         # punctuation becomes space
    ("St. Vincents Family Project", "saint vincents family project"),  # st -> saint
    ("Deaf Assoc", "deaf association"),                              # assoc -> association
    ("Youth Ctr", "youth centre"),                                   # ctr -> centre
    ("Community Center", "community centre"),                        # American spelling
    ("Voluntary Organization", "voluntary organisation"),            # z spelling
    ("Hyndburn CAB", "hyndburn citizens advice bureau"),             # sector acronym
    ("Cardiff YMCA", "cardiff young mens christian association"),
    ("Bromley Mencap Ltd", "bromley mencap"),                        # legal suffixes
    ("Stonewall Equality Limited", "stonewall equality"),
    ("Wirral Play CIC", "wirral play"),
    ("Wirral Play Community Interest Company", "wirral play"),
    ("Trelya Charitable Incorporated Organisation", "trelya"),
    ("The Ark Trust CIO", "ark trust"),
    ("Acme Holdings PLC", "acme holdings"),
    ("Smith Partners LLP", "smith partners"),
    ("Friends Of The Park Incorporated", "friends of the park"),
    ("Wirral Chess Club Inc", "wirral chess club"),
    ("Wirral Play Ltd CIC", "wirral play"),                          # repeated suffixes
    ("The Sutton Trust", "sutton trust"),                            # leading the
    ("Leasowe Wellbeing Hub, The", "leasowe wellbeing hub"),         # trailing the: the article filed last
    ("SUTTON TRUST, THE", "sutton trust"),
    ("Wellbeing Hub, The, Ltd", "wellbeing hub"),                    # before a legal form
    ("Harrogate and  Area   CVS ", "harrogate and area council for voluntary service"),  # whitespace folded
])
def test_normalise_name_rules(raw, expected):
    assert normalise_name(raw) == expected


def test_legal_words_inside_a_name_and_lone_words_are_kept():
    assert normalise_name("Limited Edition Theatre Company") == "limited edition theatre company"
    assert normalise_name("The Centre") == "centre"
    assert normalise_name("The") == "the"
    assert normalise_name("The The") == "the"   # never an empty name
    assert normalise_name("Friends of the Earth") == "friends of the earth"
    assert normalise_name("Ltd") == "limited"


def test_empty_and_missing_names():
    assert normalise_name(None) == ""
    assert normalise_name("  ") == ""
    assert name_variants(None) == []


def test_registers_spellings_meet():
    # The same organisation as the charity, company and society registers write it.
    forms = {normalise_name(n) for n in ("THE BIRKENHEAD TENANTS & RESIDENTS ASSOCIATION",
                                         "Birkenhead Tenants and Residents Association Limited",
                                         "BIRKENHEAD TENANTS AND RESIDENTS ASSOCIATION LTD")}
    assert forms == {"birkenhead tenants and residents association"}


def test_name_tokens_and_squash():
    assert name_tokens("The Home-Start Crawley Ltd") == ["home", "start", "crawley"]
    assert squash(normalise_name("Home-Start")) == squash(normalise_name("HomeStart")) == "homestart"


def test_strip_legal_form_keeps_the_written_name():
    assert strip_legal_form("Bromley Mencap Ltd") == "Bromley Mencap"
    assert strip_legal_form("Wirral Mind C.I.C.") == "Wirral Mind"
    assert strip_legal_form("Wirral Play Community Interest Company") == "Wirral Play"
    assert strip_legal_form("Limited Edition Theatre") == "Limited Edition Theatre"


def test_name_variants_drop_asides_and_keep_former_names():
    assert name_variants("Community Action Southwark (CAS)") == ["community action southwark cas",
                                                                  "community action southwark"]
    assert "caada" in name_variants("SafeLives (formerly Caada)")
    assert "safelives" in name_variants("SafeLives (formerly Caada)")
    variants = name_variants("Wirral Toy Library trading as Play Wirral")
    assert "wirral toy library" in variants and "play wirral" in variants
    # An acronym in brackets is not offered as a name of its own.
    assert "map" not in name_variants("Mental Health Advocacy Providers (MAP)")


def test_name_variants_are_remembered_but_each_caller_gets_its_own_list():
    forms = name_variants("Wirral Toy Library trading as Play Wirral")
    forms += ["play wirral cic"]  # MatchIndex.variants extends the list it is given
    assert name_variants("Wirral Toy Library trading as Play Wirral") == forms[:-1]
    assert "play wirral cic" not in name_variants("Wirral Toy Library trading as Play Wirral")


@pytest.mark.parametrize(("a", "b", "same"), [
    ("toy", "toys", True),            # plural
    ("foodbank", "fodobank", True),   # two letters swapped
    ("mind", "mnid", True),
    ("wallasey", "walasey", True),    # a letter dropped
    ("hoylake", "hoyland", False),    # two letters differ: another place
    ("cat", "car", False),            # short words must be equal
    ("cat", "dog", False),
])
def test_same_word_allows_plurals_and_one_slip_in_longer_words(a, b, same):
    assert same_word(a, b) is same


def test_own_words_tell_a_substitution_from_an_added_word():
    def own(x, y):
        return own_words(normalise_name(x), normalise_name(y))
    assert own("Hoylake Tenants Association", "MEOLS TENANTS ASSOCIATION LTD") == (("hoylake",), ("meols",))
    assert own("Prenton Cat Rescue", "PRENTON DOG RESCUE CIC") == (("cat",), ("dog",))
    assert own("Lower Bebington Stroke Club", "BEBINGTON STROKE CLUB CIC") == (("lower",), ())
    assert own("Wirral Foodbank", "WIRRAL FOOD BANK LIMITED") == ((), ())
    assert own("Wirral Food Bank", "Wirral Foodbank") == ((), ())
    assert own("Wirral Toy Library", "WIRRAL TOYS LIBRARY (CIO)") == ((), ())


@pytest.mark.parametrize(("raw", "expected"), [
    ("Greystone Carers - Support and Advice for Unpaid Carers", ["greystone carers"]),  # long tail: a description
    ("Greystone Carers- Support and Advice for Unpaid Carers", ["greystone carers"]),   # space on one side only
    ("Greystone Carers: Advice Line Service", ["greystone carers"]),                    # colon and space
    ("Greystone Carers \u2013 Advice Line", ["greystone carers"]),                       # en dash
    ("Age Concern Oakfield - Wirral", []),        # short tail: a branch, the head alone would be the parent
    ("Mind - Oakfield and District", []),        # one-word head: too little to stand alone
    ("Home-Start Oakfield", []),                 # a hyphen inside a name is not a separator
    ("RE:VISION Oakfield", []),                  # nor a colon without a space
    ("Oakfield - Carers - Advice Line Service", []),  # three parts: no telling which is the name
    (None, []),
])
def test_qualifier_variants_keep_the_name_before_a_description(raw, expected):
    assert qualifier_variants(raw) == expected


# Each rule normalise_name and name_variants skip when a name cannot need it ('&', '+', '.', an abbreviation, an
# aside, an alias word), on names that do need it, ASCII or not, the alias words in any case.
@pytest.mark.parametrize(("raw", "variants"), [
    ("Ctr for Intl Natl Assoc Ltd", ["centre for international national association"]),
    ("A.B.C. Trust + Friends", ["abc trust and friends"]),
    ("Wirral CVS T/A Community Action",
     ["wirral council for voluntary service t a community action", "wirral council for voluntary service",
      "community action"]),
    ("Café & Co (formerly Old Café Ltd)", ["cafe and co formerly old cafe", "cafe and co", "old cafe"]),
    ("St John's Ambulance AKA SJA", ["saint johns ambulance aka sja", "saint johns ambulance", "sja"]),
    ("Straße Trust ALSO KNOWN AS Strasse Trust",
     ["stra e trust also known as strasse trust", "stra e trust", "strasse trust"]),
    ("Hoylake Community Centre", ["hoylake community centre"]),
])
def test_name_variants_apply_each_rule_where_it_can(raw, variants):
    assert name_variants(raw) == variants
