"""Measure tagging texts the tag cache does not know (the cold path of a build): the model's scores, codes, evidence
and service-area scores worked out set-wise (tagging.tagger, model.explain on the feature matrix's CSR arrays)
against the row-by-row method it replaced (a sparse row sliced and explained per tag, codes decided per row), on
the organisation texts of a staged data folder. Both run in this process on the same records and must give the
same tags (code, field, evidence, method) and the same area scores up to the last bits (LAST_BITS: the set-wise
scores sum in another order), or the bench stops.

    .venv/bin/python bench/tagging_new_texts.py DATA_DIR [--charities 9600] [--companies 4800]

DATA_DIR is a data folder with staged Charity Commission and Companies House tables (a `vcse demo` folder, or the
national-size inputs of bench/national_inputs.py): every charity's name, other names, activities and objects and
every company's name, in number order, up to the counts asked for (about what 10 English areas of the 0.25x
national inputs tag). Printed: CPU seconds of each method, the share of both spent matching the expressions
(model.texts_and_hits, the same code in both), and where loading the model goes in a fresh process (importing
scikit-learn, reading the gzip, unpickling).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcse_pipeline.tagging import area_stack  # noqa: E402
from vcse_pipeline.tagging.model import (  # noqa: E402
    EVIDENCE_TERMS,
    build_features,
    cached_model,
    join_text,
    packaged_model_path,
    shipped_rules,
    single_blas_thread,
    texts_and_hits,
)
from vcse_pipeline.tagging.rules import close_codes  # noqa: E402
from vcse_pipeline.tagging.tagger import MODEL_FIELD, Tag, TextRecord, UkcatTagger, has_body_text  # noqa: E402

CHARITIES_SQL = """
SELECT c.charity_name, c.charity_activities,
       (SELECT string_agg(DISTINCT g.charitable_objects, ' ' ORDER BY g.charitable_objects)
        FROM cc.charity_governing_document g WHERE g.organisation_number = c.organisation_number),
       (SELECT string_agg(DISTINCT n.charity_name, '; ' ORDER BY n.charity_name)
        FROM cc.charity_other_names n WHERE n.organisation_number = c.organisation_number)
FROM cc.charity c WHERE c.linked_charity_number = 0 OR c.linked_charity_number IS NULL
ORDER BY c.organisation_number LIMIT ?"""
COMPANIES_SQL = "SELECT company_name FROM ch.company ORDER BY company_number LIMIT ?"


def staged_records(data_dir: Path, charities: int, companies: int) -> list[TextRecord]:
    """Charities' and companies' texts from the staged tables of a data folder."""
    con = duckdb.connect()
    staging = data_dir / "staging"
    con.execute("ATTACH ? AS cc (READ_ONLY)", [str(staging / "charity_commission.duckdb")])
    con.execute("ATTACH ? AS ch (READ_ONLY)", [str(staging / "companies_house.duckdb")])
    out = [TextRecord(name=n, activities=a, objects=o, other_names=other)
           for n, a, o, other in con.execute(CHARITIES_SQL, [charities]).fetchall()]
    out += [TextRecord(name=n) for (n,) in con.execute(COMPANIES_SQL, [companies]).fetchall()]
    con.close()
    return out


class RowByRowTagger(UkcatTagger):
    """The method before issue 15's set-wise evidence, kept as the baseline: the codes' and the areas' scores each
    from their own kernel, expression indicators closed code by code, and per record, per code, a sparse row sliced
    out of the feature matrix and turned to COO to explain it, the codes decided row by row."""

    def _indicators(self, hits):
        index = {c: j for j, c in enumerate(self.model.codes)}
        out = np.zeros((len(hits), len(self.model.codes)))
        for i, codes in enumerate(hits):
            for code in close_codes(codes, self.model.known):
                if code in index:
                    out[i, index[code]] = 1.0
        return out

    def _row_scores(self, records):
        m = self.model
        names = [join_text(r.name, r.other_names) for r in records]
        texts, hits = texts_and_hits(self.matcher, names, [r.activities for r in records], [r.objects for r in records])
        x, short = build_features(m.vectorizer, texts, self._indicators(hits.short), self._indicators(hits.objects))
        with single_blas_thread():
            raw = np.asarray((x @ m.train_x.T) @ m.dual) + m.offsets
        return texts, hits, raw + m.prior_weight * short * m.regex_precision, x

    def _area_scores(self, x, code_scores, hits):
        m = self.model
        with single_blas_thread():
            raw = np.asarray((x @ m.train_x.T) @ m.area_dual) + m.area_offsets
        if m.area_stage is None:
            return raw, raw
        stage = m.area_stage  # the pair matrix times the weights, as area_stack.probabilities first did
        features = area_stack.pair_features(raw, code_scores, self._indicators(hits.short), stage.code_area)
        logits = features @ stage.weights + stage.intercept
        return (1.0 / (1.0 + np.exp(-logits))).reshape(raw.shape), raw

    def tag_with_area_scores(self, records):
        texts, hits, scores, matrix = self._row_scores(records)
        area_scores = [None] * len(records)
        if self.model is not None and self.model.areas and records:
            decision, strength = self._area_scores(matrix, scores, hits)
            area_scores = [{a: [float(d), float(s)] for a, d, s in zip(self.model.areas, decision[i], strength[i],
                                                                       strict=True)} if has_body_text(r) else None
                           for i, r in enumerate(records)]
        out = []
        for i, record in enumerate(records):
            chosen = self._decide(scores[i], bool(texts[i])) if scores is not None else set(hits.short[i])
            tags = [self._evidence(code, record, matrix[i] if matrix is not None else None,
                                   scores[i] if scores is not None else None) for code in sorted(chosen)]
            out.append(self._close(tags))
        return out, area_scores

    def _decide(self, scores_row, has_text: bool) -> set[str]:
        chosen = {self.model.codes[j] for j in np.flatnonzero(scores_row >= self.model.threshold)}
        if not chosen and has_text:
            chosen = {self.model.codes[int(scores_row.argmax())]}
        return chosen

    def _evidence(self, code, record, x_row, score_row) -> Tag:
        found = self._rule_evidence(code, record)  # the expressions' evidence: the same code before and after
        if isinstance(found, Tag):
            return found
        score = float(score_row[self.model.codes.index(code)]) if score_row is not None else 0.0
        words = self._explain(x_row, code) if self.model is not None and x_row is not None else ""
        return Tag(code, MODEL_FIELD, f"model score {score:.2f}" + (f"; words: {words}" if words else ""), "model")

    def _explain(self, x_row, code: str, n: int = EVIDENCE_TERMS) -> str:
        j = self.model.codes.index(code)
        if not hasattr(self, "_names"):
            self._names, self._primal = self.model.vectorizer.get_feature_names_out(), {}
        names = self._names
        if j not in self._primal:
            self._primal[j] = np.asarray(self.model.train_x.T @ self.model.dual[:, j]).ravel()[:len(names)]
        weights = self._primal[j]
        row = x_row.tocoo()
        contrib = [(float(v * weights[c]), names[c]) for c, v in zip(row.col, row.data, strict=True)
                   if c < len(names) and weights[c] > 0]
        contrib.sort(reverse=True)
        return ", ".join(term for _, term in contrib[:n])


def cpu(fn, *args):
    started = time.process_time()
    result = fn(*args)
    return result, time.process_time() - started


LOAD_PHASES = """
import gzip, pickle, sys, time
c = time.process_time(); import numpy, scipy.sparse, scipy.linalg
t = [("numpy and scipy.sparse", time.process_time() - c)]
c = time.process_time(); import sklearn.feature_extraction.text
t.append(("scikit-learn's text module (scipy.stats with it)", time.process_time() - c))
c = time.process_time(); raw = gzip.open(sys.argv[1], "rb").read()
t.append(("gunzip %.1f MB" % (len(raw) / 1e6), time.process_time() - c))
c = time.process_time(); pickle.loads(raw)
t.append(("unpickle", time.process_time() - c))
for name, s in t: print(f"  {name:<50} {s:6.2f} s")
"""


LAST_BITS = 1e-12  # scores lie within about -1..2; the same sums in another order move them by about 1e-14


def same_area_scores(old: dict | None, new: dict | None) -> bool:
    """The same areas with the same [decision, strength] up to LAST_BITS (or None in both)."""
    if old is None or new is None:
        return old is new
    return list(old) == list(new) and bool(np.allclose(list(old.values()), list(new.values()), rtol=0,
                                                         atol=LAST_BITS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--charities", type=int, default=9600)
    parser.add_argument("--companies", type=int, default=4800)
    args = parser.parse_args()
    records = staged_records(args.data_dir, args.charities, args.companies)
    rules = shipped_rules()
    model = cached_model(rules, None)
    old, new = RowByRowTagger(rules, model), UkcatTagger(rules, model)
    for tagger in (old, new):  # per-code weights and feature names are worked out once per process by both
        tagger.tag_with_area_scores(records[:300])
    (old_tags, old_scores), old_cpu = cpu(old.tag_with_area_scores, records)
    (new_tags, new_scores), new_cpu = cpu(new.tag_with_area_scores, records)
    if old_tags != new_tags or not all(map(same_area_scores, old_scores, new_scores)):
        bad = next(i for i in range(len(records))
                   if old_tags[i] != new_tags[i] or not same_area_scores(old_scores[i], new_scores[i]))
        print(f"DIFFERENT at record {bad}: {records[bad]}\n  row by row: {old_tags[bad]}, {old_scores[bad]}\n"
              f"  set-wise:   {new_tags[bad]}, {new_scores[bad]}")
        return 1
    _, matching = cpu(texts_and_hits, new.matcher, [r.name for r in records], [r.activities for r in records],
                      [r.objects for r in records])
    tags = sum(len(t) for t in new_tags)
    model_tags = sum(t.method == "model" and not t.evidence.startswith("implied") for found in new_tags for t in found)
    print(f"{len(records)} records ({args.charities} charities asked), {tags} tags ({model_tags} explained by the "
          "model): the same tags, evidence and area scores from both")
    print(f"  row by row  {old_cpu:7.2f} s CPU ({old_cpu - matching:6.2f} s apart from matching the expressions)")
    print(f"  set-wise    {new_cpu:7.2f} s CPU ({new_cpu - matching:6.2f} s apart from matching the expressions)")
    print(f"  expressions {matching:7.2f} s CPU (model.texts_and_hits, in both)")
    print(f"  ratio {new_cpu / old_cpu:.2f} overall, {(new_cpu - matching) / (old_cpu - matching):.2f} apart from "
          "the expressions")
    print("loading the shipped model in a fresh process (CPU):")
    subprocess.run([sys.executable, "-c", LOAD_PHASES, str(packaged_model_path(rules))], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
