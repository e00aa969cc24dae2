"""NameTable against the dicts of lists MatchIndex kept before it (built here the way it built them), on real charity
names (tests/fixtures/matching) with other names and postcodes."""

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vcse_pipeline.matching import MatchIndex, NameForm, compound_keys
from vcse_pipeline.name_table import key_hashes
from vcse_pipeline.postcode import normalise_postcode, postcode_sector

FIXTURES = Path(__file__).parent / "fixtures" / "matching"


@pytest.fixture(scope="module")
def register() -> pd.DataFrame:
    frame = pd.read_csv(FIXTURES / "reconcile-register.csv", dtype=str, keep_default_na=False)
    # an organisation added twice, its second row repeating one of its names: a form is indexed once, from the first
    repeat = frame.iloc[[5]].assign(name=frame.name.iloc[5].upper(), other_names="Another Name For It")
    return pd.concat([frame, repeat], ignore_index=True)


@pytest.fixture(scope="module")
def index(register) -> MatchIndex:
    return MatchIndex.from_records(register)


@pytest.fixture(scope="module")
def reference(register, index):
    """What add() and finish() kept before the table: an entry per new (organisation, form), postings as lists."""
    entries, seen = [], set()
    for row in register.to_dict("records"):
        names = [("name", row["name"])] + [("other name", n) for n in row["other_names"].split("|") if n]
        for variant, text in names:
            for form in index.variants(text):
                if (row["org_id"], form) not in seen:
                    seen.add((row["org_id"], form))
                    entries.append((row["org_id"], text, form, variant))
    words, keys, orgs = defaultdict(list), defaultdict(list), defaultdict(set)
    for i, (org_id, _, form, _) in enumerate(entries):
        for word in set(form.split()):
            words[word].append(i)
            orgs[word].add(org_id)
        for key in compound_keys(NameForm.of(form)):
            keys[key].append(i)
    return entries, words, keys, orgs


def test_entries_are_each_organisations_forms_once_from_the_first_name(index, reference):
    entries, *_ = reference
    assert len(entries) > 13_000
    assert [(e.org_id, e.name, e.form.text, e.variant) for e in index.entries] == entries
    assert index.entries[-1] == list(index.entries)[-1]
    with pytest.raises(IndexError):
        index.entries[len(entries)]
    by_org = defaultdict(list)
    for i, (org_id, *_) in enumerate(entries):
        by_org[org_id].append(i)
    assert dict(index.org_entries) == by_org


def test_an_organisation_added_twice_keeps_each_form_once(register, index):
    org_id = register.org_id.iloc[5]
    forms = [index.entries[i].form.text for i in index.org_entries[org_id]]
    assert forms == index.variants(register.name.iloc[5]) + ["another name for it"]
    assert [index.entries[i].name for i in index.org_entries[org_id]][-1] == "Another Name For It"


def test_word_and_key_postings_are_the_lists_they_were(index, reference):
    _, words, keys, orgs = reference
    table = index.table
    assert table.text.tolist() == sorted(words)
    assert all(table.word_entries(word).tolist() == entries for word, entries in words.items())
    # a key once for each time an entry has it ("+aa" twice in "a a a" would be two), ascending
    assert all(table.key_entries(key).tolist() == entries for key, entries in keys.items())
    assert table.word_entries("zzzunseen").tolist() == [] and table.key_entries("=zzzunseen").tolist() == []
    assert len(set(key_hashes(list(keys)).tolist())) == len(keys)   # no two keys share a hash here
    n = len(index)
    assert all(table.df_of(word) == len(found) for word, found in orgs.items())
    assert all(index.weight(word) == math.log((n + 1) / (len(found) + 0.5)) for word, found in orgs.items())
    assert index.weight("zzzunseen") == math.log((n + 1) / 0.5)


def test_entries_words_are_each_entrys_distinct_words(index, reference):
    entries, *_ = reference
    table = index.table
    for e, (_, _, form, _) in enumerate(entries):
        numbers = table.flat[table.starts[e]:table.starts[e] + table.lengths[e]]
        assert table.text[numbers].tolist() == sorted(set(form.split()))
    assert np.array_equal(table.org_ids, list(index.org_name))
    assert [table.org_ids[o] for o in table.entry_org.tolist()] == [org_id for org_id, *_ in entries]


def test_sector_organisations_in_the_order_they_were_added(register, index):
    sectors = defaultdict(list)
    for org_id in dict.fromkeys(register.org_id):
        postcode = index.org_postcode.get(org_id)
        if postcode:
            sectors[postcode_sector(postcode)].append(org_id)
    assert len(sectors) > 100
    table = index.table
    assert all([table.org_ids[o] for o in table.sector_orgs(sector).tolist()] == found
               for sector, found in sectors.items())
    assert table.sector_orgs("ZZ9 9").tolist() == []
    # a query with a postcode blocks with every entry of every organisation in its sector
    postcode = next(pc for pc in register.postcode if pc)
    sector = postcode_sector(normalise_postcode(postcode))
    found = index.block(NameForm.of("zzzunseen"), normalise_postcode(postcode))
    assert found == {i for org_id in sectors[sector] for i in index.org_entries[org_id]}


def test_an_index_answers_before_its_names_are_indexed():
    # as before the names were held as arrays: an index answers from the names finish() has indexed, none at first
    index = MatchIndex(reconcile=True)
    assert (index.match("Wirral Mind").status, len(index.entries), dict(index.org_entries)) == ("no match", 0, {})
    index.add("a", "Wirral Mind")
    assert index.match("Wirral Mind").status == "no match"
    index.finish()
    assert (index.match("Wirral Mind").org_id, len(index.entries)) == ("a", 1)
