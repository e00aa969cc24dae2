"""Tags remembered by content: an organisation's UKCAT tags (and the model's service-area scores) depend on its
text (name, other names, activities, objects), the rules, the model and the tagging code, never on the area. So each
text is tagged once: later areas of the same build, and later builds, read its tags from Parquet files under
data/cache/tagging/tags-<signature>/.

The signature digests everything the tags are made from besides the text (the rules as staged, the model file's
name, sha256 and thresholds, the tagging code, this file's format included, and reference data), so a change to any
of them starts an empty cache. Each build writes what it tagged as one new file (written to a temporary name, then
renamed), so parallel Airflow area tasks and `vcse publish` workers never share a writer; when the files pile up a
build merges them. A file that cannot be read is skipped: its texts are tagged again, which is only slower.

A build reads the cache once, set-wise, into a table of its connection (`load`): every remembered row of the
build's texts, however many areas it builds. Each text has one row at position -1 holding the model's service-area
scores as arrays (score_areas, decision, strength: NULL when none were made), and one row per tag at positions 0, 1,
...; scores are arrays, not JSON, so reading them back decodes nothing in Python.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..db import sql_literal
from ..fingerprint import PACKAGE_DIR, digest, tree_digest
from .tagger import Tag

log = logging.getLogger(__name__)

TEXT_ROW = -1  # the position of a text's own row (its scores); its tags are at 0, 1, ...
CACHE_SCHEMA = ("text_key::VARCHAR AS text_key, position::INTEGER AS position, code::VARCHAR AS code, "
                "source_field::VARCHAR AS source_field, evidence::VARCHAR AS evidence, method::VARCHAR AS method, "
                "score_areas::VARCHAR[] AS score_areas, decision::DOUBLE[] AS decision, "
                "strength::DOUBLE[] AS strength")
CACHE_COLUMNS = ["text_key", "position", "code", "source_field", "evidence", "method", "score_areas", "decision",
                 "strength"]
MERGE_AFTER_FILES = 16


def text_key_sql(name: str, other_names: str, activities: str, objects: str) -> str:
    """SQL for a text's key: sha256 of its four fields, each written as '<bytes>:<text>' or '-' for NULL (so NULL
    stays apart from the empty string and no two texts share a key). Computed by DuckDB, set-wise, for a whole
    build's organisations."""
    def field(column: str) -> str:
        return f"CASE WHEN {column} IS NULL THEN '-' ELSE CAST(strlen({column}) AS VARCHAR) || ':' || {column} END"

    return "sha256(" + " || ".join(field(c) for c in (name, other_names, activities, objects)) + ")"


def tagging_signature(rules_signature: str, model_identity: str | None) -> str:
    """What the tags are made of besides the text: rules, model (file name, sha256 and thresholds, or None) and
    tagging code."""
    code = tree_digest(PACKAGE_DIR / "tagging", "*.py")
    return digest({"rules": rules_signature, "model": model_identity, "code": code,
                   "reference": tree_digest(PACKAGE_DIR / "reference", "*")})[:20]


class TagCache:
    """Tags and area scores by text key for one signature; `folder` None keeps nothing across builds (tests,
    `use_model` off)."""

    def __init__(self, folder: Path | None, signature: str):
        self.folder = folder / f"tags-{signature}" if folder else None
        # Tagged by this build, not yet written: tag rows (text_key, position, code, source_field, evidence, method)
        # and score rows (text_key, index, area, decision, strength), in the shape _ROWS_SQL turns into cache rows.
        self._tags: list[tuple] = []
        self._scores: list[tuple] = []
        self.pending = 0  # texts among them
        self.written = 0

    def _files(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(str(p) for p in self.folder.glob("*.parquet"))

    def load(self, con: duckdb.DuckDBPyConnection, table: str, keys_sql: str) -> None:
        """Create TEMP TABLE `table` (CACHE_COLUMNS) in `con`: the remembered rows, on disk or tagged by this build,
        of the texts whose keys `keys_sql` (a SELECT of text_key) gives. One pass over the cache files."""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {CACHE_SCHEMA} FROM (SELECT NULL AS text_key, "
                    "NULL AS position, NULL AS code, NULL AS source_field, NULL AS evidence, NULL AS method, "
                    "NULL AS score_areas, NULL AS decision, NULL AS strength) WHERE false")
        files = self._files()
        if files:
            wanted = f"SELECT {', '.join(CACHE_COLUMNS)} FROM read_parquet(?) WHERE text_key IN ({keys_sql})"
            try:
                con.execute(f"INSERT INTO {table} SELECT DISTINCT * FROM ({wanted})", [files])
            except (duckdb.Error, OSError) as exc:  # a damaged file, or one merged away under us: read the others
                log.warning("tag cache %s: reading file by file: %s", self.folder, exc)
                for name in files:
                    try:
                        con.execute(f"INSERT INTO {table} SELECT DISTINCT * FROM ({wanted}) "
                                    f"EXCEPT SELECT * FROM {table}", [[name]])
                    except (duckdb.Error, OSError) as file_exc:
                        log.warning("tag cache file %s unreadable, its texts are tagged again: %s", name, file_exc)
        if self._tags:
            with self._frames(con, self._tags, self._scores):
                con.execute(f"INSERT INTO {table} SELECT * FROM ({_ROWS_SQL}) WHERE text_key IN ({keys_sql})")

    def add(self, con: duckdb.DuckDBPyConnection, table: str, keys: list[str], tags: list[list[Tag]],
            area_scores: list[dict | None]) -> None:
        """Remember texts tagged now (to write at `flush`) and add their rows to this build's `table` (`load`)."""
        tag_rows, score_rows = _rows(keys, tags, area_scores)
        with self._frames(con, tag_rows, score_rows):
            con.execute(f"INSERT INTO {table} {_ROWS_SQL}")
        self._tags += tag_rows  # kept even with no folder: a later call of this build reads them (`load`)
        self._scores += score_rows
        self.pending += len(keys)

    def flush(self) -> None:
        """Write what this build tagged as one new file; merge the files when there are many."""
        if self.folder is None or not self._tags:
            self._tags, self._scores, self.pending = [], [], 0
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(self._tags, self._scores)
        self.written += self.pending
        self._tags, self._scores, self.pending = [], [], 0
        files = self._files()
        if len(files) >= MERGE_AFTER_FILES:
            self._merge(files)

    @staticmethod
    def _frames(con: duckdb.DuckDBPyConnection, tag_rows: list[tuple], score_rows: list[tuple]):
        return _Registered(con, tag_rows, score_rows)

    def _write(self, tag_rows: list[tuple] | None, score_rows: list[tuple] | None,
               files: list[str] | None = None) -> Path:
        final = self.folder / f"{uuid.uuid4().hex}.parquet"
        tmp = final.with_suffix(".tmp")
        try:
            con = duckdb.connect()
            try:
                if files is None:
                    with self._frames(con, tag_rows, score_rows):
                        con.execute(f"COPY ({_ROWS_SQL}) TO {sql_literal(tmp)} (FORMAT parquet)")
                else:
                    con.execute(f"COPY (SELECT DISTINCT * FROM read_parquet({sql_literal(files)})) TO "
                                f"{sql_literal(tmp)} (FORMAT parquet)")
            finally:
                con.close()
            os.replace(tmp, final)
        except BaseException:  # a stopped build, a full disk: leave no half-written file behind
            tmp.unlink(missing_ok=True)
            raise
        return final

    def _merge(self, files: list[str]) -> None:
        try:
            self._write(None, None, files)
        except (duckdb.Error, OSError) as exc:
            log.warning("tag cache %s not merged: %s", self.folder, exc)
            return
        for name in files:
            Path(name).unlink(missing_ok=True)


def _rows(keys: list[str], tags: list[list[Tag]], area_scores: list[dict | None]) -> tuple[list[tuple], list[tuple]]:
    """Texts' tags and scores as the rows _ROWS_SQL reads: a text row and one row per tag; per area one score row."""
    tag_rows: list[tuple] = []
    score_rows: list[tuple] = []
    for key, text_tags, scores in zip(keys, tags, area_scores, strict=True):
        tag_rows.append((key, TEXT_ROW, None, None, None, None))
        tag_rows += [(key, i, t.code, t.source_field, t.evidence, t.method) for i, t in enumerate(text_tags)]
        if scores is not None:
            score_rows += [(key, i, area, value[0], value[1]) for i, (area, value) in enumerate(scores.items())]
    return tag_rows, score_rows


# Cache rows from the registered _tag_new_rows and _tag_new_scores (_Registered): the scores, gathered into arrays in
# the model's area order, go on the text's own row.
_ROWS_SQL = f"""
    SELECT {CACHE_SCHEMA} FROM (
        SELECT t.text_key, t.position, t.code, t.source_field, t.evidence, t.method, s.score_areas, s.decision,
               s.strength
        FROM _tag_new_rows t
        LEFT JOIN (SELECT text_key, list(area ORDER BY i) AS score_areas, list(decision ORDER BY i) AS decision,
                          list(strength ORDER BY i) AS strength
                   FROM _tag_new_scores GROUP BY text_key) s ON t.position = {TEXT_ROW} AND s.text_key = t.text_key)
"""


class _Registered:
    """Register tag and score rows as the DataFrames _ROWS_SQL reads, for the length of a `with` block."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tag_rows: list[tuple], score_rows: list[tuple]):
        self.con = con
        columns = list(zip(*tag_rows, strict=True)) if tag_rows else [()] * 6
        self.tags = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in zip(
            ("text_key", "position", "code", "source_field", "evidence", "method"), columns, strict=True)})
        self.tags["position"] = self.tags["position"].astype(np.int32)
        scores = list(zip(*score_rows, strict=True)) if score_rows else [()] * 5
        self.scores = pd.DataFrame({"text_key": pd.Series(scores[0], dtype=object),
                                    "i": np.asarray(scores[1], dtype=np.int32),
                                    "area": pd.Series(scores[2], dtype=object),
                                    "decision": np.asarray(scores[3], dtype=np.float64),
                                    "strength": np.asarray(scores[4], dtype=np.float64)})

    def __enter__(self):
        self.con.register("_tag_new_rows", self.tags)
        self.con.register("_tag_new_scores", self.scores)
        return self

    def __exit__(self, *exc):
        self.con.unregister("_tag_new_rows")
        self.con.unregister("_tag_new_scores")
