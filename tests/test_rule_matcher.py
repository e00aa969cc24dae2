"""The UKCAT rule matcher (rules.RuleMatcher) finds exactly what a plain `regex.search` of every rule finds: the same
codes, the same first match, the same exclusions, on the real rules and texts, on texts made to trip the literal
reading (word boundaries, case, Unicode), and on expressions made of every construct the reading meets."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import regex
from bench_scripts import load_bench

from vcse_pipeline.tagging.model import read_labelled
from vcse_pipeline.tagging.rules import MARK, RuleMatcher, load_rules, marked, rules_from_records

RULES = load_rules()
LABELLED = Path(__file__).parent / "fixtures" / "tagging" / "labelled-sample.csv"

# Real texts' pitfalls, each named by the rule it probes.
TRICKY = [
    "Playgroup for under fives and a toddler group", "The Heart Art Club; foodbanks",  # BE114: no \b at its start
    "WIRRAL MEN'S SHED", "mEnTaL hEaLtH drop-in",  # case
    "İstanbul Turkish community centre: mental health",  # lower() lengthens İ
    "anti-racism work with the B.A.M.E. community", "BAME and B.M.E. groups",  # BE111: dots inside the words
    "Women's Institute and a men's shed", "Lingdale W.I.", "women’s institutes", "WI",  # AS107, BE106 excluded
    "The Salvation Army band", "Church Army", "army cadets",  # AF101 and its exclusion
    "grants to individuals in need", "makes grants to local charities",  # CA202 excluded / not
    "U3A: the university of the third age", "a university",  # ED103 excluded by U3A
    "education dedicated to the arts", "arts_club", "cats", "catering", "cat's home", "dog2dog",  # \w vs \b
    "-16 year olds and under 5s", "4 years and 0-5 year olds", "ages 2 to 4 years",  # digits and hyphens
    "ſheep farming", "\u212aennel club", "KENNEL ſanctuary", "Ｃａｔｓ", "ﬁsh pond",  # ſ, Kelvin K, full width, fi
    "café", "CAFÉ culture", "cafés", "caféteria", "naïve cats", "cats\u0301 home",  # é, a combining accent
    "dogs\x01cats", "\x00cats\x00", MARK, "...", "   ", "", "Straße für Kinder",  # the mark itself, no words
]


def plain_spans(rules, text: str) -> dict[str, tuple[int, int]]:
    """What the matcher must give: every rule searched in full, its exclusion searched in full."""
    out = {}
    for rule in rules:
        found = rule.regex.search(text) if rule.regex is not None and text else None
        if found and not (rule.exclude and rule.exclude.search(text)):
            out[rule.code] = (found.start(), found.end())
    return out


def assert_same(rules, texts) -> None:
    matcher = RuleMatcher(rules)
    for text in texts:
        plain = plain_spans(rules, text)
        assert matcher.spans(text) == plain, text
        assert matcher.codes(text) == list(plain), text


def test_real_rules_find_what_plain_search_finds_on_labelled_and_tricky_texts():
    frame = read_labelled(LABELLED)
    texts = [" ".join(parts) for parts in zip(frame["name"], frame["activities"], frame["objects"], strict=True)]
    texts += list(frame["objects"]) + TRICKY
    matcher = RuleMatcher(RULES)
    assert len(matcher.decided) > 150, "most UKCAT expressions are word lists the automaton decides alone"
    assert_same(RULES, texts)
    # what the tricky texts are there for
    assert "BE114" in matcher.codes(TRICKY[0]) and "BE106" not in matcher.codes("Women's Institute and a men's shed")
    assert "AN" in matcher.codes("ſheep farming") and "AN102" in matcher.codes("\u212aennel club")
    assert "AF101" not in matcher.codes("The Salvation Army band") and "AF101" in matcher.codes("army cadets")
    assert matcher.codes("Ｃａｔｓ") == [] and "AN101" not in matcher.codes("cats\u0301 home")


def test_random_texts_of_rule_words_find_what_plain_search_finds():
    """Texts strung from the rules' own words and the characters that trip a literal reading, at random (seeded)."""
    pieces = ["cat", "s", "men", "wom", "an", "'", "’", " ", "-", ".", "W", "I", "army", "church", "salvation",
              "art", "_", "é", "ſ", "\u212a", "İ", "1", "6", "5", "under", "year", "play", "group", "mental",
              "health", MARK, "HEALTH", "grant", "to", "individual"]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(400)]
    assert_same(RULES, texts)


# Expressions made of every construct the literal reading meets: decided by their words, searched when a word
# they need occurs, or searched always (anchors, lookarounds, possessive repeats, inline flags, back references,
# `regex`-only syntax that `re` reads differently).
CONSTRUCTS = [
    r"\bcats?\b", r"cat", r"^cat", r"cat$", r"(?<!wild)cats?\b", r"\bcat(?=s\b)", r"\bdog(?!s)", r"\bdogs?+s\b",
    r"(?-i:Cat)", r"(?i)\bcat\b", r"(?a)\bcat\b", r"\bc[aeiou]t\b", r"[A-Z]at", r"\b\w+ house\b", r"\bcat\B",
    r"a\bb", r"(cat)?", r"(\w)\1", r"\bW.?I.?\b", r"caf[eé]\b", r"wom(a|e)n(\'|\’)?s", r"\b(re)?cycl(e|ing)\b",
    r"x{2,3}", r"(ab){2}", r"[[:alpha:]]at", r"cat{e<=1}", r"\b-16\b", r"\bna[iï]ve\b", r"\bcat\b|\bdog",
    r"\b(men'?s?)\b|male(s)?\b", r"(?s)cat.dog", r"\d+ years?", r"\b(k|K)ennel", r"(?:\bcat\b)+", r"_cat_",
    r"\b(a|b|c|d|e|f|g|h)(a|b|c|d|e|f|g|h)(a|b|c|d|e|f|g|h)\b",  # more strings than are listed: needs only
    r"\b(hous(ing|es)|home(s)?)+\b", r"\bpon(y|ies)+\b", r"(cat|dog)+s\b", r"\b(economic|local)+ (growth)+\b",
    r"\b(go+d)+s\b", r"\bx(ab|c)*y\b",  # repeats: their first and last letters join their neighbours'
    r"\b[j-l]ennel\b", r"\b[Ss]heep\b", r"(?x) \b cat \b",  # classes meeting ſ and the Kelvin sign; verbose
]
PROBES = [
    "cat", "Cat", "CATS", "cats", "wildcats", "educat", "The cat sat", "cat's", "catſ", "ſcat", "dogs", "dog",
    "dogss", "a b", "ab", "abab", "xx", "xxx", "W.I.", "w i", "café", "cafe", "CAFÉ", "women's", "woman’s",
    "recycling", "cycle", "under-16", "-16", "naïve", "naive", "male", "females", "men", "cat\ndog", "catxdog",
    "12 years", "\u212aennel", "kennel", "_cat_", "x_cat_", "bad", "abc", "hhh", "abcd", "öat", "Bat", "dog house",
    "cat dog", "catcat", "cat cat", "", " ", MARK + "cat" + MARK, "homehome", "home homes", "housing", "ponyies",
    "catdogs", "local growth", "economiclocal growthgrowth", "goods", "godgoods", "gods", "xy", "xabcy", "xaby",
    "ſheep", "SHEEP", "\u212aennel", "Jennel",
]


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # [[:alpha:]], which `re` reads as a set
def test_constructed_expressions_find_what_plain_search_finds():
    rules = rules_from_records([{"code": f"ZZ{i:03d}", "tag": "t", "category": "c", "level": 3, "regex": pattern,
                                 "exclude_regex": r"\bwild ?cats?\b" if i % 3 == 0 else None}
                                for i, pattern in enumerate(CONSTRUCTS)])
    matcher = RuleMatcher(rules)
    decided = {CONSTRUCTS[check // 2] for check in matcher.decided if not check % 2}
    assert {r"\bcats?\b", r"cat", r"\bc[aeiou]t\b", r"(?i)\bcat\b"} <= decided
    assert not decided & {r"^cat", r"(?<!wild)cats?\b", r"\bdogs?+s\b", r"(?-i:Cat)", r"(?a)\bcat\b",
                          r"[[:alpha:]]at", r"cat{e<=1}", r"(cat)?"}
    texts = PROBES + [f"{a} {b}" for a in PROBES[:20] for b in PROBES[20:]]
    assert_same(rules, texts)


def test_a_rule_compiled_elsewhere_is_searched_plainly():
    """A rule compiled with `re` (not the tagger's `regex` patterns) is searched, never read for literals."""
    from vcse_pipeline.tagging.rules import UkcatRule

    rule = UkcatRule("ZZ001", "t", "c", 3, re.compile(r"\bi\b", re.I), None)  # `re` equates ı and i; `regex` not
    matcher = RuleMatcher([rule])
    assert not matcher.decided and matcher.spans("ı") == plain_spans([rule], "ı") == {"ZZ001": (0, 1)}


def test_marked_text_folds_as_regex_matches_and_marks_regex_word_boundaries():
    """Every character up to U+2FFF and a few notable ones: a folded character is the ASCII letter `regex` matches
    it to (else itself), and MARKs stand exactly at `regex`'s word boundaries (\\b)."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    for code in [*range(0x20, 0x3000), 0x212A, 0xFF43, 0x1E9E, 0xFB01]:
        ch = chr(code)
        text = f"a{ch}b {ch}"
        folded = marked(text)
        boundaries = [m.start() for m in regex.finditer(r"\b", text, regex.VERSION0)]
        positions, at = [], 0
        for c in folded:
            if c == MARK:
                positions.append(at)
            else:
                at += 1
        assert positions == boundaries, repr(ch)
        plain = folded.replace(MARK, "")
        assert len(plain) == len(text), repr(ch)
        same = [x for x in letters if regex.fullmatch(x, ch, regex.IGNORECASE | regex.VERSION0)]
        expected = same[0] if same else ("\x00" if ch == MARK else ch.lower() if ch.isascii() else ch)
        assert plain[1] == expected, repr(ch)


def test_bench_checks_the_matcher_against_the_one_it_replaced_and_stops_when_they_differ(tmp_path, capsys,
                                                                                          monkeypatch):
    import duckdb

    bench = load_bench("rule_matching")
    db = tmp_path / "charity_commission.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE charity (organisation_number BIGINT, linked_charity_number BIGINT, "
                    "charity_name VARCHAR, charity_activities VARCHAR)")
        con.execute("CREATE TABLE charity_other_names (organisation_number BIGINT, charity_name VARCHAR)")
        con.execute("CREATE TABLE charity_governing_document (organisation_number BIGINT, "
                    "linked_charity_number BIGINT, charitable_objects VARCHAR)")
        con.execute("INSERT INTO charity VALUES (1, 0, 'Wirral Men''s Shed', 'Woodwork and company for older men'), "
                    "(2, 0, 'Ferry Cats', 'Rehoming cats and kittens'), (2, 1, 'Ferry Cats Shop', 'A charity shop')")
        con.execute("INSERT INTO charity_other_names VALUES (2, 'Ferry Cat Rescue')")
        con.execute("INSERT INTO charity_governing_document VALUES (1, 0, 'The relief of the elderly')")
    assert bench.main(["--charity-db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "1,362 records" in out and "same hits and first matches" in out and "ratio" in out

    right = bench.texts_and_hits

    def one_hit_lost(rules, names, activities, objects):
        texts, hits = right(rules, names, activities, objects)
        hits.short[0] = set()
        return texts, hits

    monkeypatch.setattr(bench, "texts_and_hits", one_hit_lost)
    monkeypatch.setattr(bench, "PACKAGED_LABELLED", LABELLED)
    assert bench.main([]) == 1 and "DIFFERENT hits, first at record 0" in capsys.readouterr().err
