"""Successor links: a removed registration and the new registration of the same organisation in the same register.

The common case is a charity that converts to a CIO: the CIO is registered, the old charity's assets pass to it
and the old registration is removed a few months later. The two records share no identifier, and the extract
publishes no address, website or email for a removed charity, so neither identifiers nor contact details can
join them; fuzzy name links only compare different registers. The rule (method 'successor registration'):

- same register, both main records (linked charities stay apart) that count as VCSEs;
- the same normalised name (registered, working or previous name; legal forms such as CIO are ignored);
- the earlier record was removed between `[linking].successor_before_days` (365) before and
  `[linking].successor_after_days` (1095) after the later record's registration, and registered before it;
- the postcodes, when both are known, are in the same district;
- one candidate each way: when a removed record has two possible successors (or a successor two possible
  predecessors) the pairs go to link_review instead.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import pandas as pd

from ..matching import postcode_agreement
from ..names import name_variants

METHOD = "successor registration"
LINK_COLUMNS = ["left_record", "right_record", "method", "score", "evidence"]
REVIEW_COLUMNS = ["left_record", "right_record", "left_name", "right_name", "score", "evidence"]
BEFORE_DAYS, AFTER_DAYS = 365, 1095
# Score given to an ambiguous successor pair in link_review (between the default review and link thresholds).
AMBIGUOUS_SCORE = 85.0


def _names(record: dict, others: dict[str, list[str]]) -> set[str]:
    forms: set[str] = set()
    for name in [record["name"], *others.get(record["record_id"], [])]:
        forms.update(name_variants(name))
    return forms


def _follows(old: dict, new: dict, before: int, after: int) -> bool:
    """`new` could be the re-registration of `old`: old removed around new's registration, registered before it."""
    removed, registered, old_registered = old.get("date_removed"), new.get("date_registered"), \
        old.get("date_registered")
    if not isinstance(removed, date) or not isinstance(registered, date):
        return False
    if isinstance(old_registered, date) and old_registered >= registered:
        return False
    return -before <= (removed - registered).days <= after


def successor_links(records: list[dict], others: dict[str, list[str]], *, before_days: int = BEFORE_DAYS,
                    after_days: int = AFTER_DAYS, already_linked: set[frozenset[str]] | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(links, review) between removed records and their same-named re-registrations (module docstring).

    records: dicts with record_id, source, name, is_vcse, parent_identifier, postcode, date_registered,
    date_removed. others: record_id -> working/previous names."""
    already_linked = already_linked or set()
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in records:
        if rec.get("is_vcse") and not rec.get("parent_identifier"):
            for form in _names(rec, others):
                by_key[(rec["source"], form)].append(rec)

    found: dict[tuple[str, str], str] = {}   # (old, new) -> the shared name form
    for (_, form), group in by_key.items():
        for old in group:
            for new in group:
                if old is not new and _follows(old, new, before_days, after_days) \
                        and postcode_agreement(old.get("postcode"), new.get("postcode")) != "different district":
                    found.setdefault((old["record_id"], new["record_id"]), form)

    successors, predecessors = defaultdict(set), defaultdict(set)
    for old, new in found:
        successors[old].add(new)
        predecessors[new].add(old)
    by_id = {r["record_id"]: r for r in records}
    links, review = [], []
    for (old, new), form in sorted(found.items()):
        if frozenset((old, new)) in already_linked:
            continue
        a, b = by_id[old], by_id[new]
        evidence = json.dumps({
            "name_form": form, "removed_name": a["name"], "successor_name": b["name"],
            "removed_on": str(a["date_removed"]), "successor_registered_on": str(b["date_registered"]),
            "days_removed_after_successor": (a["date_removed"] - b["date_registered"]).days,
            "postcode_agreement": postcode_agreement(a.get("postcode"), b.get("postcode")),
            "candidates": len(successors[old]) + len(predecessors[new]) - 1}, sort_keys=True)
        left, right = sorted((old, new))
        if len(successors[old]) == 1 and len(predecessors[new]) == 1:
            links.append({"left_record": left, "right_record": right, "method": METHOD, "score": 100.0,
                          "evidence": evidence})
        else:
            review.append({"left_record": left, "right_record": right, "left_name": by_id[left]["name"],
                           "right_name": by_id[right]["name"], "score": AMBIGUOUS_SCORE, "evidence": evidence})
    return pd.DataFrame(links, columns=LINK_COLUMNS), pd.DataFrame(review, columns=REVIEW_COLUMNS)
