"""In-memory organisation name matching: blocking on rare name words and postcodes, rapidfuzz scoring.

`MatchIndex.from_records(...)` indexes every name and other name of a set of organisations (as arrays: name_table), up
to a register of every English area.
`index.match(name, postcode)` returns the best organisation with a score (0-100), a status and the
evidence (an identical-name tie goes to the one active organisation when status is known, a tie on one name of
several the query gives to the organisation that fits more of them); `match_frame`
does the same for each row of a DataFrame. Both score in full only the organisations that can change the answer
(`index.leading`, with bounds from `match_bounds`). `register.fuzzy_links` reuses the same blocking and scoring to
link records of different registers. The method and its measured accuracy are in docs/matching.md.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

import duckdb
import numpy as np
import pandas as pd
from rapidfuzz import fuzz

from .config import Config, default_section
from .db import release_freed_memory
from .errors import PipelineError
from .name_table import NameTable
from .names import name_variants, normalise_name, own_words, qualifier_variants, same_word, squash
from .postcode import district_of, normalise_postcode, postcode_sector, sector_of

MATCHED, REVIEW, NO_MATCH = "matched", "review", "no match"

# Postcode agreement is evidence about the organisation, added to the name score (points out of 100).
# Funders often write a project address rather than the registered one, so disagreement costs less than
# agreement earns.
POSTCODE_ADJUSTMENT = {
    "same postcode": 8.0,
    "same sector": 5.0,
    "same district": 2.0,
    "different district": -4.0,
    "unknown": 0.0,
}
# Words in more than this share of organisations (and more than MIN_BLOCK_DF of them) are too common to
# block on: "trust", "community", "association".
MAX_BLOCK_SHARE = 0.01
MIN_BLOCK_DF = 50
# Block on at most this many of a name's rarest words.
MAX_BLOCK_TOKENS = 4
# A word matches a different spelling of itself ("services"/"service") at this rapidfuzz ratio or more.
TOKEN_FUZZY_RATIO = 85
# Credit for a word written with a slip (plural, one letter dropped, added, changed or two swapped).
SLIP_CREDIT = 0.9
# Credit for a town and its county written "<town>shire" ("Northampton"/"Northamptonshire"): often the same
# organisation's area, but not always, so less than a slip.
SHIRE_CREDIT = 0.8
# 'matched' needs the best organisation to beat the best other organisation by this many points.
DEFAULT_MARGIN = 4.0
# An organisation this close to the best whose name contains the query, when the best's name is contained in
# the query (or the other way round), is as credible as the best: the lead becomes 0 (see MatchIndex.best).
CONFLICT_WINDOW = 20.0
# Federations whose members share a name and differ only by place or branch words (normalised name words;
# Age UK and Age Concern are one family). Two names of one family match only when those words agree.
FEDERATIONS = {
    ("age", "uk"): "age", ("age", "concern"): "age", ("mind",): "mind",
    ("citizens", "advice", "bureau"): "citizens advice", ("citizens", "advice"): "citizens advice",
    ("home", "start"): "home-start", ("homestart",): "home-start",
}
# Words that name no place or branch: left out when comparing the words that tell members apart.
FEDERATION_FILLER = {"and", "of", "the", "in", "for", "on", "at", "district", "districts", "area", "branch",
                     "local", "limited", "association", "trust", "group", "services", "service", "bureau",
                     "bureaux", "charity", "ltd", "cio", "uk", "concern"}
JOINING_WORDS = {"and", "of", "the", "in", "for", "on", "at", "a"}
# Points taken from a member of a federation whose place or branch words disagree with the query's, or from a
# name met through a shorter form whose left-out part disagrees with the query's (dropped_parts_differ): it may
# still be shown for review, never matched.
FEDERATION_PENALTY = 15.0
# A name the query gives fits an organisation when one of its forms scores within this many points of the
# organisation's best (Candidate.names_fitted).
NAME_FIT_WINDOW = DEFAULT_MARGIN
# Organisations MatchIndex.leading scores in full before it first asks whether it has enough (twice as many each
# time after).
LEADING_FIRST = 8
# Spellings of organisation status in an external list's `active` column (blank = unknown).
ACTIVE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def postcode_agreement(left: str | None, right: str | None) -> str:
    """How two postcodes agree: same postcode / same sector / same district / different district / unknown."""
    return _agreement(_cached_postcode(left), _cached_postcode(right))


@lru_cache(maxsize=200_000)
def _cached_postcode(value: str | None) -> str | None:
    # pairs of records repeat each record's postcode many times
    return normalise_postcode(value) if isinstance(value, str) else None


def _agreement(a: str | None, b: str | None) -> str:
    """postcode_agreement for postcodes already normalised ("CH41 1AA")."""
    if not a or not b:
        return "unknown"
    if a == b:
        return "same postcode"
    if sector_of(a) == sector_of(b):
        return "same sector"
    if district_of(a) == district_of(b):
        return "same district"
    return "different district"


def split_other_names(value) -> list[str]:
    """other_names as a list: accepts a list/tuple/array, a `|`-separated string, or nothing."""
    if _missing(value):
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split("|") if part.strip()]
    # Item by item: pd.isna of a whole list says nothing of a list of several, and cost 9 us a call (4.5 s of a
    # national register's index, where most organisations have one other name).
    return [text for part in value if not _missing(part) and (text := str(part).strip())]


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def parse_active(value) -> bool | None:
    """Organisation status as True (active), False (removed/dissolved) or None (unknown).

    Accepts booleans, 0/1, None/NaN and the words true/false/1/0/yes/no in any case (blank = unknown);
    anything else is a ValueError, so a typo never silently reads as "unknown"."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            return None
        if word in ACTIVE_WORDS:
            return ACTIVE_WORDS[word]
        raise ValueError(f"{value!r} is not one of true/false/1/0/yes/no")
    if isinstance(value, float) and math.isnan(value):
        return None
    if value in (True, False):  # bool, numpy.bool_, 0 and 1
        return bool(value)
    raise ValueError(f"{value!r} is not one of true/false/1/0/yes/no")


@dataclass(frozen=True, slots=True)
class NameForm:
    """One normalised name with what scoring needs precomputed."""

    text: str
    tokens: tuple[str, ...]
    squashed: str

    @classmethod
    def of(cls, normalised: str) -> NameForm:
        return cls(normalised, tuple(map(sys.intern, normalised.split())), squash(normalised))


@dataclass(frozen=True, slots=True)
class Entry:
    """One indexed name of one organisation."""

    org_id: str
    name: str          # as written in the source
    form: NameForm
    variant: str       # 'name' or 'other name'


class Entries(Sequence[Entry]):
    """A MatchIndex's entries (NameTable), each made an Entry when it is read."""

    def __init__(self, table: NameTable) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> Entry:
        table = self.table
        if not -len(table) <= i < len(table):
            raise IndexError(i)
        return Entry(table.org_ids[table.entry_org[i]], table.entry_name[i],
                     NameForm.of(table.forms[table.entry_form[i]]), "other name" if table.entry_other[i] else "name")

    def __iter__(self) -> Iterator[Entry]:
        return map(self.__getitem__, range(len(self)))


class OrgEntries(Mapping[str, list[int]]):
    """A MatchIndex's entries of each organisation (NameTable), by its org_id."""

    def __init__(self, table: NameTable) -> None:
        self.table = table

    def __getitem__(self, org_id: str) -> list[int]:
        return self.table.entries_of([self.table.org_number[org_id]]).tolist()

    def __iter__(self) -> Iterator[str]:
        return iter(self.table.org_ids)

    def __len__(self) -> int:
        return len(self.table.org_ids)


@dataclass(frozen=True)
class Candidate:
    """The best-scoring name of one organisation for one query, with its evidence."""

    org_id: str
    matched_name: str
    score: float       # 0-100, shown to users
    evidence: dict
    rank_score: float  # the same before the cap at 100: postcode evidence still separates identical names
    # How many of the names the query gives (query_names: its own, a former or trading name) reach this organisation
    # within NAME_FIT_WINDOW points of its rank score: ties of rank_score go to the organisation that fits more.
    names_fitted: int = 1


@dataclass(frozen=True)
class MatchResult:
    org_id: str | None
    matched_name: str | None
    score: float
    status: str
    evidence: dict = field(default_factory=dict)
    runner_up_score: float = 0.0


def default_thresholds(cfg: Config | None = None) -> tuple[float, float]:
    """(link_threshold, review_threshold) from `cfg`'s [linking] settings; without one, the packaged defaults
    (matching never reads the environment or a settings file itself: the caller's Config has done that)."""
    linking = cfg.section("linking") if cfg else default_section("linking")
    return float(linking["link_threshold"]), float(linking["review_threshold"])


class MatchIndex:
    """Every name of a set of organisations, indexed for blocking, with word rarity (IDF) weights."""

    def __init__(self, *, reconcile: bool = False) -> None:
        # reconcile: rules for external lists written by people (qualifier variants, containment scoring);
        # the cross-register linker (register.fuzzy_links) leaves them off.
        self.reconcile = reconcile
        self.org_name: dict[str, str] = {}
        self.org_postcode: dict[str, str | None] = {}
        # True active, False removed/dissolved; organisations of unknown status are absent.
        self.org_active: dict[str, bool] = {}
        # add()'s names, in the order it met them: each one's organisation, text, normalised form and whether it is
        # an other name (finish() indexes them as a NameTable: `table`, `entries`, `org_entries`)
        self._name_orgs: list[str] = []
        self._names: list[str] = []
        self._name_forms: list[str] = []
        self._name_other = bytearray()
        # Pairs scored so far: the measure of how well blocking avoids comparing everything.
        self.comparisons = 0
        self.finish()   # an index of no names, until add() and finish() give it some

    # -- building -----------------------------------------------------------------------------------

    @classmethod
    def from_records(cls, records, *, reconcile: bool = True) -> MatchIndex:
        """Index records with org_id, name, optional postcode, optional other_names (list or `|` string) and
        optional is_active (see parse_active; absent or blank = unknown).

        `records` may be a DataFrame or an iterable of dicts. Rows with the same org_id add names to
        one organisation (the first name is its display name). `reconcile` (default on here) adds the rules
        for matching names written by people (see docs/matching.md)."""
        index = cls(reconcile=reconcile)
        index.add_records(records)
        index.finish()
        return index

    def add_records(self, records) -> None:
        """add() each of `records` (as from_records takes them), without finish()."""
        rows = records.to_dict("records") if isinstance(records, pd.DataFrame) else records
        for number, row in enumerate(rows):
            org_id, name = row.get("org_id"), row.get("name")
            if _missing(org_id) or _missing(name):
                continue
            try:
                active = parse_active(row.get("is_active"))
            except ValueError as exc:
                raise PipelineError(f"record {number} ({org_id}) column 'is_active': {exc}") from exc
            self.add(str(org_id), str(name), row.get("postcode"), split_other_names(row.get("other_names")),
                     active=active)

    def add(self, org_id: str, name: str, postcode: str | None = None, other_names: Iterable[str] = (), *,
            active: bool | None = None) -> None:
        """Add one organisation's names (call finish() after the last add). `active`: its status, if known
        (used only to settle identical-name ties in best(); an organisation active in any row is active)."""
        self.org_name.setdefault(org_id, name)
        if active is not None:
            self.org_active[org_id] = self.org_active.get(org_id, False) or active
        pc = normalise_postcode(postcode) if isinstance(postcode, str) else None
        if org_id not in self.org_postcode or (pc and not self.org_postcode[org_id]):
            self.org_postcode[org_id] = pc
        # A register lists an organisation's name among its other names too: a text given again is normalised once.
        for position, text in enumerate(dict.fromkeys([name, *other_names])):
            for normalised in self.variants(text):
                # an organisation's form found again is indexed once, from the first name (finish())
                self._name_orgs.append(org_id)
                self._names.append(text)
                self._name_forms.append(normalised)
                self._name_other.append(position > 0)

    def finish(self) -> None:
        """Index the names added so far (`table`): their words and weights, compound keys and postings, as arrays."""
        org_ids = list(self.org_name)
        self.table = NameTable(org_ids, [self.org_postcode.get(org_id) for org_id in org_ids], self._name_orgs,
                               self._names, self._name_forms, np.frombuffer(bytes(self._name_other), dtype=bool),
                               lambda text: compound_keys(NameForm(text, tuple(text.split()), squash(text))))
        self.entries = Entries(self.table)
        self.org_entries = OrgEntries(self.table)
        self.unseen_idf = self.table.unseen_idf
        self.max_block_df = max(MIN_BLOCK_DF, int(MAX_BLOCK_SHARE * max(len(org_ids), 1)))

    def variants(self, name: str) -> list[str]:
        """The normalised forms of a name that are indexed and queried."""
        forms = name_variants(name)
        if self.reconcile:
            forms += [form for form in qualifier_variants(name) if form not in forms]
        return forms

    def __len__(self) -> int:
        return len(self.org_name)

    # -- blocking -----------------------------------------------------------------------------------

    def weight(self, token: str) -> float:
        return self.table.weight(token)

    def block_keys(self, form: NameForm) -> tuple[list[str], list[str]]:
        """(words whose entries, compound keys whose entries) block() takes for a name: its rarest rare-ish words, its
        compound keys with few enough entries, and adjacent word pairs indexed as one word."""
        df = self.table.df_of
        usable = sorted((t for t in set(form.tokens) if 0 < df(t) <= self.max_block_df),
                        key=lambda t: (df(t), t))  # ties by the word: the same in every process
        tokens = usable[:MAX_BLOCK_TOKENS]
        keys = [key for key in compound_keys(form) + ["+" + t for t in form.tokens]
                if 0 < len(self.table.key_entries(key)) <= self.max_block_df]
        # A pair of query words written as one word in the index ("safe lives" finds "safelives").
        tokens += [a + b for a, b in zip(form.tokens, form.tokens[1:], strict=False)
                   if 0 < df(a + b) <= self.max_block_df]
        return tokens, keys

    def block(self, form: NameForm, postcode: str | None = None) -> set[int]:
        """Entries sharing a rare-ish word, a compound key, or the postcode sector with the query."""
        found: set[int] = set()
        tokens, keys = self.block_keys(form)
        for token in tokens:
            found.update(self.table.word_entries(token).tolist())
        for key in keys:
            found.update(self.table.key_entries(key).tolist())
        sector = postcode_sector(postcode) if postcode else None
        if sector:
            found.update(self.table.entries_of(self.table.sector_orgs(sector)).tolist())
        return found

    # -- scoring ------------------------------------------------------------------------------------

    def candidates(self, name: str, postcode: str | None = None, *, limit: int | None = 5,
                   accept: Callable[[str], bool] | None = None) -> list[Candidate]:
        """The best `limit` organisations for a name (all when None), best first, one Candidate per
        organisation. `accept(org_id)` may rule organisations out before they are scored."""
        if limit is not None:
            return self.leading(name, postcode, accept=accept, count=limit)[:limit]
        pc = normalise_postcode(postcode) if isinstance(postcode, str) else None
        found = self._score(name, pc, self._blocks(name, pc), accept)
        return sorted(found.values(), key=_rank_order)

    def leading(self, name: str, postcode: str | None = None, *, accept: Callable[[str], bool] | None = None,
                shown: Callable[[str], bool] | None = None, count: int = 0, margin: float = DEFAULT_MARGIN
                ) -> list[Candidate]:
        """The first candidates of candidates(name, postcode, limit=None, accept=accept), the same ones in the same
        order, as many as best() reads to decide (the best, its namesakes within `margin` points, the next
        organisation, and the others it searches for a rival by containment) and at least `count` that
        `shown(org_id)` takes (all there are when fewer).

        Every organisation the name blocks with gets an upper bound on its rank score first (match_bounds: its name
        score without the rules that only take points away, plus its postcode points), as arrays; organisations are
        then scored in full, highest bound first, until no bound left could change that prefix. In a register of
        every English area a name blocks with thousands of organisations (a word may be in 1% of 600,000), and
        scoring each in full took 0.5-1 s a name."""
        from .match_bounds import score_bounds  # it reads this module's rules

        pc = normalise_postcode(postcode) if isinstance(postcode, str) else None
        blocks = self._blocks(name, pc)
        orgs, bounds, name_in_query, query_in_name = score_bounds(self, name, blocks, pc, accept)
        order = np.lexsort((orgs, -bounds))   # highest bound first
        # the highest bound from each place in that order on: of all organisations, and of those that may be a rival
        # by containment each way (the only ones best() looks for further down)
        rest = np.r_[bounds[order], -math.inf]

        def highest_from(may: np.ndarray) -> np.ndarray:
            return np.r_[np.maximum.accumulate(np.where(may, bounds, -math.inf)[order][::-1])[::-1], -math.inf]

        rivals = {QUERY_IN_NAME: highest_from(name_in_query), NAME_IN_QUERY: highest_from(query_in_name)}
        entry_org = self.table.entry_org
        found: dict[str, Candidate] = {}
        done, step = 0, LEADING_FIRST
        while True:
            chosen = orgs[order[done:done + step]]
            done, step = min(done + step, len(order)), step * 2
            # the chosen organisations' entries, in the order _score would meet them among all
            found.update(self._score(name, pc, [(text, form, rows[np.isin(entry_org[rows], chosen)])
                                                for text, form, rows in blocks], None))
            ranked = sorted(found.values(), key=_rank_order)
            if done >= len(order):
                return ranked
            complete = [c for c in ranked if c.rank_score > rest[done]]
            if self._decided(complete, float(rest[done]), {k: float(v[done]) for k, v in rivals.items()}, margin,
                             shown, count):
                return complete

    def _blocks(self, name: str, pc: str | None) -> list[tuple[str, NameForm, np.ndarray]]:
        """(variant, its form, the entries it blocks with) for each variant of a name (normalised postcode `pc`)."""
        blocks = []
        for text in self.variants(name):
            form = NameForm.of(text)
            found = self.block(form, pc)
            blocks.append((text, form, np.fromiter(found, dtype=np.int64, count=len(found))))
        return blocks

    def _score(self, name: str, pc: str | None, blocks: list[tuple[str, NameForm, np.ndarray]],
               accept: Callable[[str], bool] | None) -> dict[str, Candidate]:
        """Each organisation `accept` takes (all when None) among the blocked entries, with its best-scoring name."""
        best: dict[str, Candidate] = {}
        # each organisation's best rank score through each name the query gives (query_names)
        names = query_names([text for text, _, _ in blocks])
        several = len(set(names.values())) > 1   # one name given: every candidate fits it alone (names_fitted 1)
        fits: dict[str, dict[int, float]] = {}
        for variant_text, form, rows in blocks:
            given = names[variant_text]
            for i in rows.tolist():
                entry = self.entries[i]
                if accept is not None and not accept(entry.org_id):
                    continue
                self.comparisons += 1
                name_score, components = score_forms(form, entry.form, self.weight, containment=self.reconcile)
                agreement = _agreement(pc, self.org_postcode.get(entry.org_id))
                rank_score = name_score + POSTCODE_ADJUSTMENT[agreement]
                # on the whole names: a qualifier variant ("age concern" of "Age Concern - Barrow") drops the
                # very words that tell a federation's members apart
                disagreement = federation_disagreement(whole_name(name), whole_name(entry.name)) \
                    if self.reconcile else None
                if disagreement:
                    rank_score -= FEDERATION_PENALTY
                    components = {**components, "federation_mismatch": disagreement}
                parts = dropped_parts_differ(name, variant_text, entry.name, entry.form.text) \
                    if self.reconcile else None
                if parts:   # "Open Door - St Albans" / "The Open Door (Taunton)": two branches of one name
                    rank_score -= FEDERATION_PENALTY
                    components = {**components, "dropped_parts_differ": parts}
                if several:
                    fit = fits.setdefault(entry.org_id, {})
                    fit[given] = max(fit.get(given, -math.inf), rank_score)
                current = best.get(entry.org_id)
                if current is None or rank_score > current.rank_score:
                    score = round(max(0.0, min(100.0, rank_score)), 1)
                    best[entry.org_id] = Candidate(entry.org_id, entry.name, score, {
                        "query_name": name,
                        "query_form": variant_text,
                        "matched_name": entry.name,
                        "matched_form": entry.form.text,
                        "name_variant": entry.variant,
                        "postcode_agreement": agreement,
                        "name_score": round(name_score, 1),
                        **components,
                    }, rank_score)
        for org_id, candidate in best.items() if several else ():
            fitted = sum(1 for score in fits[org_id].values() if candidate.rank_score - score < NAME_FIT_WINDOW)
            if fitted > 1:
                best[org_id] = replace(candidate, names_fitted=fitted)
        return best

    def best(self, name: str, postcode: str | None = None, *, accept: Callable[[str], bool] | None = None,
             margin: float = DEFAULT_MARGIN, found: list[Candidate] | None = None
             ) -> tuple[Candidate | None, float, float]:
        """(best candidate or None, its lead over the best other organisation, that organisation's score).

        Namesakes (organisations whose best-scoring name is the same normalised name) within `margin` points
        of the best are a tie. When exactly one of them is known active and the others known inactive, and
        the active one leads every other organisation by `margin` or more, it is the best, the removed
        namesakes are set aside (not counted in the lead and runner-up score) and the evidence says so.
        Unknown status never settles a tie.

        In reconcile mode the lead is 0 when another organisation within CONFLICT_WINDOW points relates to the
        query by containment the other way: one name is the query with words added ("New Horizons Mental
        Health and Emotional Wellbeing Centre"), the other the query with words left out ("New Horizons Mental
        Health"). Either could be meant, so neither may be 'matched'; the evidence names the other one. Both
        names need 2+ words: one word found in the query is too little to make a rival.

        `other_candidate` in the evidence names a second organisation the evidence cannot separate from the best:
        the next one when it is within `margin` points (an identical name held by another organisation as its
        name or other name, with no postcode or status to tell them apart), else the rival by containment. A
        best sent to review for a doubt about it alone (another federation member, a name adding a place) names
        none.

        `found`: this query's candidates(name, postcode, limit=None, accept=accept), or the leading() ones, when the
        caller has them already (the web reconciliation service shows them), so they are not scored twice."""
        if found is None:
            found = self.leading(name, postcode, accept=accept, margin=margin) \
                if isinstance(name, str) and name.strip() else []
        if not found:
            return None, 0.0, 0.0
        settled = self._prefer_active(found, margin) if self.org_active else None
        if settled is not None:
            top, others = settled
        else:
            top, others = found[0], found[1:]
        top, others = self._fits_more(top, others, margin)
        runner_up = others[0].score if others else 0.0
        lead = top.rank_score - (others[0].rank_score if others else 0.0)
        # on the evidence alone, before the rules below send the best to review for doubts about it alone
        inseparable = others[0] if others and lead < margin else None
        # Doubts no margin can outweigh: the lead becomes 0 and `review_only` says why, for match() to honour
        # whatever the margin (a margin of 0 would pass a lead of 0).
        review_only = []
        if "federation_mismatch" in top.evidence:
            review_only.append(f"another member of a federation ({top.evidence['federation_mismatch']})")
        if "dropped_parts_differ" in top.evidence:
            review_only.append(f"another branch of the name ({top.evidence['dropped_parts_differ']})")
        if self.reconcile and top.evidence.get("contained") == QUERY_IN_NAME and added_words(top.evidence):
            # the register's name adds words to the query: a branch or region of it, to review
            review_only.append(f"the register's name adds {' '.join(sorted(added_words(top.evidence)))}: it may be "
                               "a branch or region")
        if review_only:
            lead = 0.0
        if inseparable is not None:   # the evidence cannot separate them: both go to review, named
            top = Candidate(top.org_id, top.matched_name, top.score,
                            {**top.evidence, "other_candidate": inseparable.org_id,
                             "other_candidate_name": self.org_name[inseparable.org_id]}, top.rank_score)
        rival, _ = self._rival(top, others)
        if rival is not None:   # the rival is the other candidate, unless a closer one is named already
            top = Candidate(top.org_id, top.matched_name, top.score,
                            {"other_candidate": rival.org_id, "other_candidate_name": self.org_name[rival.org_id],
                             **top.evidence, "conflicting_match": rival.matched_name}, top.rank_score)
            review_only.append(f"conflicting match: {rival.org_id} {self.org_name[rival.org_id]} fits as well (one "
                               "name adds words to the list's name, the other leaves words out)")
            lead = 0.0
        if review_only:
            top = replace(top, evidence={**top.evidence, "review_only": "; ".join(review_only)})
        return top, lead, runner_up

    def _rival(self, top: Candidate, others: list[Candidate]) -> tuple[Candidate | None, bool]:
        """(the rival by containment best() names for `top`, or None; whether its search ended before the end of
        `others`): in reconcile mode, the first of `others` within CONFLICT_WINDOW points that relates to the query by
        containment the other way, both names of 2+ words."""
        direction = top.evidence.get("contained")
        if not (self.reconcile and direction in (QUERY_IN_NAME, NAME_IN_QUERY)):
            return None, True
        for other in others:
            if top.rank_score - other.rank_score > CONFLICT_WINDOW:
                return None, True
            if other.evidence.get("contained") in (QUERY_IN_NAME, NAME_IN_QUERY) and \
                    other.evidence["contained"] != direction and _words(other) >= 2 and _words(top) >= 2:
                return other, True
        return None, False

    def _decided(self, complete: list[Candidate], rest: float, rival_rest: dict[str, float], margin: float,
                 shown: Callable[[str], bool] | None, count: int) -> bool:
        """Whether `complete`, the candidates known to rank above every organisation not scored yet (none of which
        can reach `rest`; none that may be a rival by containment to a best of each direction `rival_rest[direction]`),
        holds all that best() reads and `count` candidates that `shown` takes."""
        if not complete or sum(1 for c in complete if shown is None or shown(c.org_id)) < count:
            return False
        first = complete[0]
        form = first.evidence["matched_form"]
        # The runner-up: the best organisation that is not a namesake tied with the best. Once one is known, a namesake
        # not scored yet would rank below it, within `margin` of the best: _prefer_active settles no tie then anyway.
        if all(c.evidence["matched_form"] == form and first.rank_score - c.rank_score < margin for c in complete[1:]):
            return False
        settled = self._prefer_active(complete, margin) if self.org_active else None
        top, others = settled if settled is not None else (first, complete[1:])
        top, kept = self._fits_more(top, others, margin)
        if others and not kept:
            return False   # every other candidate scored so far is set aside: the runner-up is not scored yet
        others = kept
        _, ended = self._rival(top, others)
        return ended or rival_rest[top.evidence["contained"]] < top.rank_score - CONFLICT_WINDOW

    def _fits_more(self, top: Candidate, others: list[Candidate], margin: float
                   ) -> tuple[Candidate, list[Candidate]]:
        """(`top`, `others` less the organisations within `margin` points of it that fit fewer of the names the query
        gives): "Wirral Mind (formerly Wirral Social Ventures)" is the organisation that has both names, not another
        that was once called Wirral Social Ventures and scores as high on that name alone. The evidence names those set
        aside."""
        if top.names_fitted < 2:
            return top, others
        fewer = [c.org_id for c in others
                 if top.rank_score - c.rank_score < margin and c.names_fitted < top.names_fitted]
        if not fewer:
            return top, others
        evidence = {**top.evidence, "fits_fewer_names": fewer,
                    "names_tie": f"fits {top.names_fitted} of the names the query gives, more than "
                                 f"{', '.join(fewer)}"}
        set_aside = set(fewer)
        return replace(top, evidence=evidence), [c for c in others if c.org_id not in set_aside]

    def _prefer_active(self, found: list[Candidate], margin: float) -> tuple[Candidate, list[Candidate]] | None:
        """(the one active namesake, the organisations it is compared with) when status settles a tie of
        identical names at the top of `found`, else None."""
        form = found[0].evidence["matched_form"]
        tied = [c for c in found if c.evidence["matched_form"] == form and found[0].rank_score - c.rank_score < margin]
        if len(tied) < 2:
            return None
        status = [self.org_active.get(c.org_id) for c in tied]
        if status.count(True) != 1 or status.count(False) != len(tied) - 1:
            return None  # both active, or some status unknown: still a coin flip
        chosen = tied[status.index(True)]
        tied_ids = {c.org_id for c in tied}
        others = [c for c in found if c.org_id not in tied_ids]
        # Only the namesakes may stand in the way: another organisation close behind still blocks 'matched'.
        if others and chosen.rank_score - others[0].rank_score < margin:
            return None
        removed = [c.org_id for c in tied if c is not chosen]
        word = "namesake" if len(removed) == 1 else "namesakes"
        evidence = {**chosen.evidence, "removed_namesakes": removed,
                    "namesake_tie": f"preferred the active organisation over removed {word} {', '.join(removed)}"}
        return Candidate(chosen.org_id, chosen.matched_name, chosen.score, evidence, chosen.rank_score), others

    def match(self, name: str, postcode: str | None = None, *, link_threshold: float | None = None,
              review_threshold: float | None = None, margin: float = DEFAULT_MARGIN,
              found: list[Candidate] | None = None) -> MatchResult:
        """The best organisation for a name and its status: 'matched' (score >= link threshold and at
        least `margin` points above the best other organisation), 'review' or 'no match'. Thresholds left out are
        the packaged [linking] defaults: pass default_thresholds(cfg) to use a site's settings. `found`: as for
        best."""
        if link_threshold is None or review_threshold is None:
            default_link, default_review = default_thresholds()
            link_threshold = default_link if link_threshold is None else link_threshold
            review_threshold = default_review if review_threshold is None else review_threshold
        top, lead, runner_up = self.best(name, postcode, margin=margin, found=found)
        if top is None:
            return MatchResult(None, None, 0.0, NO_MATCH, {}, 0.0)
        if top.score < review_threshold:
            return MatchResult(None, None, top.score, NO_MATCH, top.evidence, runner_up)
        # review_only (best): never 'matched', whatever the margin
        status = MATCHED if top.score >= link_threshold and lead >= margin and "review_only" not in top.evidence \
            else REVIEW
        evidence = {**top.evidence, "runner_up_score": runner_up, "register_name": self.org_name[top.org_id]}
        if status == REVIEW:
            evidence["review_reason"] = review_reason(evidence, top.score, link_threshold, margin)
        return MatchResult(top.org_id, top.matched_name, top.score, status, evidence, runner_up)


def review_reason(evidence: dict, score: float, link_threshold: float, margin: float) -> str:
    """Why match() sent a best to review, in plain words, from its evidence: the doubts best() recorded
    (review_only), another organisation the evidence cannot separate from it, a score below the link threshold."""
    reasons = [evidence["review_only"]] if evidence.get("review_only") else []
    if evidence.get("other_candidate") and "conflicting_match" not in evidence:
        reasons.append(f"{evidence['other_candidate']} {evidence['other_candidate_name']} scores within {margin:g} "
                       "points: name, postcode and status cannot tell them apart")
    if score < link_threshold:
        reasons.append(f"score {score:g} is below the link threshold {link_threshold:g}")
    return "; ".join(reasons) or f"leads the next organisation by less than {margin:g} points"


def _rank_order(candidate: Candidate) -> tuple[float, int, str]:
    # the same score reached through different names the query gives: the organisation that fits more of them first
    return -candidate.rank_score, -candidate.names_fitted, candidate.org_id


def query_names(variants: Sequence[str]) -> dict[str, int]:
    """Which name the query gives each of its forms (`variants`, the whole name first) belongs to: 0 for the name
    itself (the whole form and each form that starts it: without an aside or a qualifier, "open door" of "Open Door
    (Taunton)"), 1, 2, ... for each other name it declares ("wirral social ventures" of "Wirral Mind (formerly Wirral
    Social Ventures)")."""
    names: dict[str, int] = {}
    whole = variants[0] if variants else ""
    for text in variants:
        names[text] = 0 if text == whole or whole.startswith(text + " ") else len(set(names.values()) | {0})
    return names


@lru_cache(maxsize=200_000)
def whole_name(name: str) -> NameForm:
    """The normalised form of a whole name (no variant dropping a qualifier or an aside)."""
    return NameForm.of(normalise_name(name))


def federation_words(tokens: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    """(federation family, the words that tell its members apart) when a name belongs to a federation.

    "age concern barrow and district" -> ("age", ("barrow",)); "wirral mind" -> ("mind", ("wirral",)).
    """
    for phrase, family in FEDERATIONS.items():
        n = len(phrase)
        for start in range(len(tokens) - n + 1):
            if tokens[start:start + n] == phrase:
                rest = tokens[:start] + tokens[start + n:]
                return family, tuple(t for t in rest if t not in FEDERATION_FILLER)
    return None


def federation_disagreement(query: NameForm, candidate: NameForm) -> str | None:
    """Why two names of one federation are different members, or None when they may be the same one.

    Their distinguishing words agree when both have none (the national body) or one's are all in the other's
    ("Home-Start Cardiff East" may be "Home-Start Cardiff"); otherwise ("Age Concern Barrow and District" /
    "Age Concern Hailsham, Hellingly and Herstmonceux", "Mind" / "Wirral Mind") they are two members.
    """
    left, right = federation_words(query.tokens), federation_words(candidate.tokens)
    if left is None or right is None or left[0] != right[0]:
        return None
    ours, theirs = left[1], right[1]
    if (not ours and not theirs) or (ours and theirs and (contained(ours, theirs) or contained(theirs, ours))):
        return None
    return f"{left[0]} federation: {' '.join(ours) or '(no place)'} / {' '.join(theirs) or '(no place)'}"


def dropped_parts_differ(query_name: str, query_form: str, name: str, form: str) -> str | None:
    """The words each name has beyond the other's matched form, when one of them met the other through a shorter
    form that leaves out a qualifier or an aside ("Open Door - St Albans" and "The Open Door (Taunton)" both as
    "open door"; "Open Door Birkenhead" and "open door" of "The Open Door (Wallasey)") and those words have none in
    common: two branches or places of one name. Words in common make them more likely two descriptions of one
    organisation ("BYHP (Working with Young People in Housing Need)" / "BYHP (Supporting Young People in Housing
    Need)"). None otherwise."""
    query_whole, name_whole = whole_name(query_name).text, whole_name(name).text
    if not any(whole.startswith(short + " ") for whole, short in ((query_whole, query_form), (name_whole, form))):
        return None   # neither left a part out (a declared former name does not count)
    parts = [[w for w in own_words(whole, other)[0] if w not in JOINING_WORDS | FEDERATION_FILLER]
             for whole, other in ((query_whole, form), (name_whole, query_form))]
    ours, theirs = own_words(" ".join(parts[0]), " ".join(parts[1]))
    if not parts[0] or not parts[1] or len(ours) < len(parts[0]) or len(theirs) < len(parts[1]):
        return None   # one adds nothing beyond the other, or they have a word in common
    return f"{' '.join(ours)} / {' '.join(theirs)}"


def added_words(evidence: dict) -> set[str]:
    """Words the registered name has that the query lacks, other than joining and generic words ("and", "bureau",
    "trust"): the words that could name a branch or a region."""
    return (set(evidence["matched_form"].split()) - set(evidence["query_form"].split())
            - JOINING_WORDS - FEDERATION_FILLER)


def _words(candidate: Candidate) -> int:
    # One shared word ("Crisis" in "Manchester Rape Crisis") is too little to make an organisation a rival.
    return len(candidate.evidence["matched_form"].split())


def compound_keys(form: NameForm) -> list[str]:
    """Keys that find names written with or without spaces: the squashed name and each adjacent word pair
    joined, so the query word "homestart" finds the indexed pair "home start"."""
    keys = ["=" + form.squashed]
    keys += ["+" + a + b for a, b in zip(form.tokens, form.tokens[1:], strict=False)]
    return keys


def _token_credit(token: str, others: tuple[str, ...]) -> float:
    """1 for the same word, partial credit for a close spelling of a longer word (a ratio of 85+, or a plural
    or one slipped letter: "spital"/"siptal" has a ratio of only 67), else 0."""
    if token in others:
        return 1.0
    if any(_slip(token, other) for other in others):
        return SLIP_CREDIT
    if any(_shire(token, other) for other in others):
        return SHIRE_CREDIT
    if len(token) < 4:
        return 0.0
    best = max((_close_spelling(token, other) for other in others), default=0.0)
    return best / 100.0 if best >= TOKEN_FUZZY_RATIO else 0.0


@lru_cache(maxsize=200_000)
def _slip(token: str, other: str) -> bool:
    return same_word(token, other)


def _shire(token: str, other: str) -> bool:
    return len(token) >= 4 and len(other) >= 4 and (token + "shire" == other or other + "shire" == token)


@lru_cache(maxsize=200_000)
def _close_spelling(token: str, other: str) -> float:
    # Word pairs repeat across queries, so the ratio is cached; short words never count as close.
    return fuzz.ratio(token, other) if len(other) >= 4 else 0.0


def weighted_overlap(left: tuple[str, ...], right: tuple[str, ...], weight) -> float:
    """IDF-weighted share of words the two names have in common (0-1): rare words (place names) dominate."""
    if not left or not right:
        return 0.0
    # In word order, not set order: a float sum's last bit follows the order it adds in, and a set's order changes
    # with the process's hash seed, so the same two names could score differently from run to run.
    left_set, right_set = tuple(sorted(set(left))), tuple(sorted(set(right)))
    shared = sum(weight(t) * _token_credit(t, right_set) for t in left_set)
    shared += sum(weight(t) * _token_credit(t, left_set) for t in right_set)
    total = sum(weight(t) for t in left_set) + sum(weight(t) for t in right_set)
    return shared / total if total else 0.0


def join_compounds(left: tuple[str, ...], right: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Both names with any two adjacent words that the other name writes as one word joined up:
    ("well", "being") against ("wellbeing",) becomes ("wellbeing",)."""
    def join(words: tuple[str, ...], other: tuple[str, ...]) -> tuple[str, ...]:
        joined: list[str] = []
        i = 0
        while i < len(words):
            if i + 1 < len(words) and words[i] + words[i + 1] in other and words[i] + words[i + 1] not in words:
                joined.append(words[i] + words[i + 1])
                i += 2
            else:
                joined.append(words[i])
                i += 1
        return tuple(joined)
    return join(left, right), join(right, left)


QUERY_IN_NAME, NAME_IN_QUERY, SAME_WORDS = "query in name", "name in query", "same words"


def contained(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    """Every word of `inner` is in `outer` (or a slip, close spelling or shire form of one of its words)."""
    others = tuple(set(outer))
    return bool(inner) and all(_token_credit(token, others) > 0 for token in inner)


def score_forms(query: NameForm, candidate: NameForm, weight, *, containment: bool = False) -> tuple[float, dict]:
    """Name similarity 0-100 of two normalised names and its components.

    The score averages character-level similarity (the better of token_sort_ratio and the ratio of the
    space-free names) with the IDF-weighted word overlap, so a shared rare word counts for much more than
    a shared 'trust'. Two words one name writes apart and the other as one ("well being"/"wellbeing") count
    as one word. Identical normalised names score 100.

    With `containment`, when every word of one name is in the other, the character part is 100 (as
    rapidfuzz's token_set_ratio would say): the score is then decided by the IDF weight of the words only one
    name has, so "Home-Start Cardiff East" / "Home-Start Cardiff" scores high, "Fareshare" / "FareShare
    Midlands" (a rare place word extra) does not.

    `batch_matching.score_pairs` computes the same scores (without containment) for arrays of pairs, for the
    cross-register linker, and `match_bounds` bounds them for MatchIndex.leading: a change here must be made there
    too (tests/test_batch_matching.py and tests/test_match_bounds.py compare them)."""
    if query.text == candidate.text:
        return 100.0, {"token_sort_ratio": 100.0, "squashed_ratio": 100.0, "token_set_ratio": 100.0,
                       "idf_overlap": 1.0, "contained": SAME_WORDS}
    left, right = join_compounds(query.tokens, candidate.tokens)
    left_text, right_text = " ".join(left), " ".join(right)
    sort_ratio = fuzz.token_sort_ratio(left_text, right_text)
    squashed_ratio = fuzz.ratio(query.squashed, candidate.squashed)
    set_ratio = fuzz.token_set_ratio(left_text, right_text)
    overlap = weighted_overlap(left, right, weight)
    direction = None
    if containment:
        query_in, name_in = contained(left, right), contained(right, left)
        direction = SAME_WORDS if query_in and name_in else QUERY_IN_NAME if query_in else \
            NAME_IN_QUERY if name_in else None
    # Only a query that adds words earns the bonus: a registered name that adds words to the query is a
    # narrower organisation (a region or branch: "FareShare Midlands" for "Fareshare") more often than not.
    char_score = 100.0 if direction in (NAME_IN_QUERY, SAME_WORDS) else max(sort_ratio, squashed_ratio)
    score = 0.5 * char_score + 0.5 * 100 * overlap
    if squashed_ratio == 100:
        score = max(score, 99.0)  # the same letters, spaced differently
    return score, {
        "token_sort_ratio": round(sort_ratio, 1),
        "squashed_ratio": round(squashed_ratio, 1),
        "token_set_ratio": round(set_ratio, 1),
        "idf_overlap": round(overlap, 3),
        "contained": direction,
    }


def match_frame(df: pd.DataFrame, name_column: str, postcode_column: str | None = None,
                index: MatchIndex | None = None, *, link_threshold: float | None = None,
                review_threshold: float | None = None, margin: float = DEFAULT_MARGIN) -> pd.DataFrame:
    """A copy of `df` with org_id, register_name, matched_name, score, status, other_candidate, review_reason (why a
    'review' row is one: review_reason()) and is_active (the organisation's status: true, false for removed or
    dissolved, blank when unknown) from matching each row's name."""
    if index is None:
        raise PipelineError("match_frame needs an index: build one with MatchIndex.from_records(...)")
    for column in [name_column] + ([postcode_column] if postcode_column else []):
        if column not in df.columns:
            raise PipelineError(f"column {column!r} not found; the columns are {', '.join(map(str, df.columns))}")
    results = []
    postcodes = df[postcode_column] if postcode_column else [None] * len(df)
    for name, postcode in zip(df[name_column], postcodes, strict=True):
        name = None if _missing(name) else str(name)
        postcode = postcode if isinstance(postcode, str) else None
        results.append(index.match(name, postcode, link_threshold=link_threshold,
                                   review_threshold=review_threshold, margin=margin) if name else
                       MatchResult(None, None, 0.0, NO_MATCH))
    out = df.copy()
    out["org_id"] = [r.org_id for r in results]
    # The register's own name, and the name the match went through when that was another (an other name,
    # a Companies House alias): an officer checks the organisation by the name the register gives it.
    out["register_name"] = [r.evidence.get("register_name") if r.org_id else None for r in results]
    out["matched_name"] = [r.matched_name for r in results]
    out["score"] = [r.score for r in results]
    out["status"] = [r.status for r in results]
    out["other_candidate"] = [f"{r.evidence['other_candidate']} {r.evidence['other_candidate_name']}"
                              if r.status == REVIEW and r.evidence.get("other_candidate") else None
                              for r in results]
    out["review_reason"] = [r.evidence.get("review_reason") if r.status == REVIEW else None for r in results]
    # the organisation's status, when known: a match to a removed charity or dissolved company is not a supplier
    out["is_active"] = [index.org_active.get(r.org_id) if r.org_id else None for r in results]
    return out


def most_given(column: str, rows: str = "organisation") -> str:
    """SQL of the value of `column` most of each organisation's `rows` give, then the first in order (org_id and
    `column`; a table or CTE of organisation rows, NULLs left out).

    An organisation in several areas has a row in each, and the areas' records may differ: 5,075 of 604,373
    organisations in a register of every English area have two postcodes or more. The index matches on the postcode
    this gives, and the reconciliation service describes the organisation by the row that has it."""
    return f"""
        SELECT org_id, first({column} ORDER BY rows DESC, {column}) AS {column}
        FROM (SELECT org_id, {column}, count(*) AS rows FROM {rows} WHERE {column} IS NOT NULL GROUP BY ALL)
        GROUP BY org_id"""


def register_index(con: duckdb.DuckDBPyConnection) -> MatchIndex:
    """A MatchIndex of every organisation of a register (organisation, organisation_name), with all its names
    (`vcse match` against the published register). A DuckDB error when the tables are missing."""
    columns = {row[0] for row in con.execute("DESCRIBE organisation").fetchall()}
    # A register built before organisation status existed: every status unknown, no tie is settled.
    status = "bool_or(o.is_active)" if "is_active" in columns else "NULL::BOOLEAN"
    # The postcode and name most of an organisation's rows give, so an answer's postcode points never change from
    # one index to the next; its names listed in order (by name), as add() meets them.
    cursor = con.execute(f"""
        WITH most AS ({most_given("name")}),
        postcodes AS ({most_given("postcode")}),
        names AS (
            SELECT org_id, list(name ORDER BY name) AS other_names
            FROM (SELECT DISTINCT org_id, name FROM organisation_name) GROUP BY org_id)
        SELECT o.org_id, any_value(m.name) AS name, any_value(p.postcode) AS postcode, {status} AS is_active,
               any_value(n.other_names) AS other_names
        FROM organisation o LEFT JOIN most m USING (org_id) LEFT JOIN postcodes p USING (org_id)
             LEFT JOIN names n USING (org_id)
        GROUP BY o.org_id ORDER BY o.org_id""")
    columns = [column[0] for column in cursor.description]
    index = MatchIndex(reconcile=True)
    index.add_records(dict(zip(columns, row, strict=True)) for row in fetched(cursor))
    # The query's rows are all read: the memory DuckDB freed (about 0.3 GB for a register of every English area) goes
    # back to the system before finish() builds the index's arrays, rather than adding to the build's peak.
    release_freed_memory()
    index.finish()
    return index


def fetched(cursor: duckdb.DuckDBPyConnection, size: int = 50_000) -> Iterator[tuple]:
    """A query's rows, fetched `size` at a time: a register of every English area's 604,373 organisations fetched at
    once left the process about 85 MB bigger once the index was built (the rows freed, their memory fragmented)."""
    while rows := cursor.fetchmany(size):
        yield from rows

