"""Organisation name normalisation, so that names written by different registers and people compare alike.

`normalise_name` applies these rules, in this order (each is general: none exists for one organisation):

1. Accents are folded to plain letters (NFKD, combining marks dropped): "Café" -> "cafe".
2. Lower case.
3. "&" and "+" between words become "and".
4. Apostrophes vanish without a space, so possessives meet their plain spelling: "Women's" -> "womens".
5. Dotted single-letter abbreviations close up: "C.I.C." -> "cic", "U.K." -> "uk".
6. Every other non-alphanumeric character becomes a space: "Home-Start" -> "home start".
7. Word abbreviations and spellings are expanded / unified token by token (`ABBREVIATIONS`):
   st -> saint, assoc -> association, ctr -> centre, center -> centre, organization -> organisation, ...
   and a few acronyms that the voluntary sector writes either way (CAB, CVS, YMCA, YWCA).
8. Legal-form words at the end of the name are dropped, repeatedly (`LEGAL_SUFFIXES`): limited, ltd, cic,
   cio, plc, llp, community interest company, charitable incorporated organisation, incorporated, inc.
9. A leading "the" is dropped, and a trailing one: a name filed under its first real word writes the article last
   ("Leasowe Wellbeing Hub, The", as "Leasowe Wellbeing Hub (The)", whose aside `name_variants` drops).
10. Whitespace is folded to single spaces.

`name_variants` also yields the name without parenthesised asides ("Community Action Southwark (CAS)")
and any former / trading name given in it ("SafeLives (formerly Caada)" -> "caada").

`qualifier_variants` (used when reconciling an external list, not by the cross-register linker) reads a
separator that sets a second part apart from the name: " - ", " – ", "- ", " -" or ": " ("Greater Manchester
Rape Crisis- Rape and Sexual Abuse Support Centre"). It yields the head alone when the head has 2+ words and the
tail is at least as long: a long tail describes the work, while a short tail such as "Age UK - Wirral" names a
branch, which the head alone would confuse with the parent. (Word order needs no variant: scoring sorts words.)

`own_words` compares two normalised names word by word: the words each has that the other lacks, where a
plural, a one-letter slip in a word of 4+ letters, or two words written as one do not count as different.
"Hoylake Tenants Association" / "Meols Tenants Association" each have an own word (a substitution: two
organisations); "Lower Bebington Stroke Club" / "Bebington Stroke Club" differ by an added word only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein

# Token-level expansions: the key is one normalised token, the value its replacement (one or more words).
ABBREVIATIONS: dict[str, str] = {
    "st": "saint",
    "sts": "saints",
    "assoc": "association",
    "assn": "association",
    "ctr": "centre",
    "cntr": "centre",
    "center": "centre",
    "centers": "centres",
    "organization": "organisation",
    "organizations": "organisations",
    "org": "organisation",
    "soc": "society",
    "cttee": "committee",
    "comm": "community",
    "grp": "group",
    "intl": "international",
    "natl": "national",
    "ltd": "limited",
    # Sector acronyms written either way in funders' lists and registers.
    "cab": "citizens advice bureau",
    "cvs": "council for voluntary service",
    "ymca": "young mens christian association",
    "ywca": "young womens christian association",
}

# Legal forms, longest first so multi-word forms are removed whole. Matched on normalised tokens.
LEGAL_SUFFIXES: tuple[tuple[str, ...], ...] = tuple(sorted(
    (
        ("limited",),
        ("cic",),
        ("cio",),
        ("plc",),
        ("llp",),
        ("community", "interest", "company"),
        ("charitable", "incorporated", "organisation"),
        ("incorporated",),
        ("inc",),
    ),
    key=len,
    reverse=True,
))

# A name ending in none of these words has no legal form to drop.
_LEGAL_LAST_WORDS = frozenset(suffix[-1] for suffix in LEGAL_SUFFIXES)
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_AND = re.compile(r"\s*[&+]\s*")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_PARENS = re.compile(r"\(([^()]*)\)?")
# Words that introduce another name for the same organisation.
_ALIAS_LEAD = re.compile(r"^\s*(?:formerly|previously|prev|was|also known as|aka|known as|trading as|t/a)\b[\s:]*",
                         re.IGNORECASE)
# A dash with a space on at least one side ("Home-Start" is one name, "Mind - Wirral" two parts), or ": ".
_QUALIFIER_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]+\s*|[-\u2013\u2014]+\s+|\s*:\s+")
_ALIAS_SPLIT = re.compile(r"\s+(?:formerly|previously|also known as|aka|trading as|t/a)\s+", re.IGNORECASE)


def fold_accents(text: str) -> str:
    """Rule 1: "Café" -> "Cafe"."""
    if text.isascii():  # nothing to fold (most names): skip the character-by-character pass
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def _clean_tokens(name: str | None) -> list[str]:
    """Rules 1-7: folded, lower-cased, punctuation-free, abbreviation-expanded tokens."""
    if name is None:
        return []
    text = fold_accents(str(name)).lower()
    # each rule only where it can apply (most names have no '&', '+', '.' or abbreviation): the same text, sooner
    if "&" in text or "+" in text:
        text = _AND.sub(" and ", text)
    text = _APOSTROPHES.sub("", text)
    if "." in text:
        text = _DOTTED.sub(lambda m: m.group(0).replace(".", "") + " ", text)
    words = _NON_ALNUM.sub(" ", text).split()
    if ABBREVIATIONS.keys().isdisjoint(words):
        return words
    tokens: list[str] = []
    for token in words:
        tokens.extend(ABBREVIATIONS.get(token, token).split())
    return tokens


def _strip_legal_tokens(tokens: list[str]) -> list[str]:
    """Rule 8 on tokens: drop legal-form words from the end, repeatedly ("... ltd cic")."""
    tokens = list(tokens)
    changed = True
    while changed and tokens and tokens[-1] in _LEGAL_LAST_WORDS:
        changed = False
        for suffix in LEGAL_SUFFIXES:
            n = len(suffix)
            if len(tokens) > n and tuple(tokens[-n:]) == suffix:
                del tokens[-n:]
                changed = True
                break
    return tokens


# Every step of a build normalises the same names again (fuzzy and successor links, organisation_name), so the
# comparable form of a name is made once per process.
@lru_cache(maxsize=200_000)
def normalise_name(name: str | None) -> str:
    """The comparable form of an organisation name (rules 1-10 above); "" for None or an empty name."""
    tokens = _strip_legal_tokens(_clean_tokens(name))
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    if len(tokens) > 1 and tokens[-1] == "the":
        tokens = tokens[:-1]
    return " ".join(tokens)


def name_tokens(name: str | None) -> list[str]:
    """The words of the normalised name, in order."""
    return normalise_name(name).split()


def strip_legal_form(name: str | None) -> str:
    """The name without its trailing legal form, keeping the original spelling and case where possible.

    "Bromley Mencap Ltd" -> "Bromley Mencap"; "Wirral Mind C.I.C." -> "Wirral Mind".
    """
    if name is None:
        return ""
    words = str(name).split()
    while len(words) > 1:
        for size in (3, 2, 1):
            tail = " ".join(words[-size:]) if len(words) > size else None
            if tail and tuple(_clean_tokens(tail)) in LEGAL_SUFFIXES:
                del words[-size:]
                break
        else:
            break
    return " ".join(words).rstrip(" ,.-")


def squash(normalised: str) -> str:
    """The normalised name with its spaces removed, so "home start" and "homestart" compare equal."""
    return normalised.replace(" ", "")


def name_variants(name: str | None) -> list[str]:
    """Distinct normalised forms worth comparing: the whole name, the name without parenthesised asides,
    and any former or trading name it declares ("X (formerly Y)", "X trading as Y"). Empty forms dropped."""
    return list(_name_variants(name))  # a new list each call: callers may extend it


@lru_cache(maxsize=200_000)
def _name_variants(name: str | None) -> tuple[str, ...]:
    if name is None:
        return ()
    raw = str(name)
    forms = [raw]
    if "(" in raw:   # else there is no aside: the name is its own outside
        forms.append(_PARENS.sub(" ", raw))
        for inner in _PARENS.findall(raw):
            if _ALIAS_LEAD.match(inner):
                forms.append(_ALIAS_LEAD.sub("", inner))
    for form in list(dict.fromkeys(forms)):
        parts = _ALIAS_SPLIT.split(form)
        if len(parts) > 1:
            forms.extend(parts)
    seen: list[str] = []
    for form in dict.fromkeys(forms):  # a name without asides is its own outside: normalise it once
        norm = normalise_name(form)
        if norm and norm not in seen:
            seen.append(norm)
    return tuple(seen)


def qualifier_variants(name: str | None) -> list[str]:
    """The head of a name written as two parts around a separator, when the head has 2+ words and the tail is
    at least as long (see the module docstring); [] otherwise, or when the name has more than two parts."""
    if name is None:
        return []
    parts = [normalise_name(part) for part in _QUALIFIER_SEPARATOR.split(_PARENS.sub(" ", str(name)))]
    parts = [part for part in parts if part]
    if len(parts) != 2:
        return []
    head, tail = parts
    return [head] if 2 <= len(head.split()) <= len(tail.split()) else []


def same_word(a: str, b: str) -> bool:
    """The same word allowing for a plural ("toy"/"toys") or, in words of 4+ letters, one letter dropped, added,
    changed or two letters swapped ("foodbank"/"fodobank"). Short words must match exactly ("cat" is not "car")."""
    if a == b or a + "s" == b or b + "s" == a:
        return True
    return min(len(a), len(b)) >= 4 and DamerauLevenshtein.distance(a, b, score_cutoff=1) <= 1


def own_words(left: str, right: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(words only the left name has, words only the right name has) for two normalised names.

    A word counts as shared when the other name has the same word (see `same_word`) or has it split in two
    adjacent words ("foodbank" / "food bank")."""
    a, b = left.split(), right.split()

    def joined(words: list[str]) -> dict[str, tuple[int, int]]:
        return {x + y: (i, i + 1) for i, (x, y) in enumerate(zip(words, words[1:], strict=False))}

    def only(mine: list[str], theirs: list[str]) -> list[int]:
        pairs = joined(theirs)
        return [i for i, w in enumerate(mine) if not any(same_word(w, t) for t in theirs) and w not in pairs]

    left_only, right_only = set(only(a, b)), set(only(b, a))
    # the two halves of a word the other name writes as one are shared too
    for words, other, own in ((a, b, left_only), (b, a, right_only)):
        for i, j in joined(words).values():
            if words[i] + words[j] in other:
                own.discard(i)
                own.discard(j)
    return tuple(a[i] for i in sorted(left_only)), tuple(b[i] for i in sorted(right_only))
