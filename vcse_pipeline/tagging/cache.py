"""Tags remembered by content: an organisation's UKCAT tags (and the model's service-area scores) depend on its
text (name, other names, activities, objects), the rules, the model and the tagging code, never on the area. So each
text is tagged once: later areas of the same build, and later builds, read its tags from Parquet files under
data/cache/tagging/tags-<signature>/. Its service areas depend on that text and the tags registers state for it, so
they are remembered the same way (PlacementCache, under places-<signature>/).

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

import fcntl
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ..db import sql_literal
from ..fingerprint import PACKAGE_DIR, digest, tree_digest
from .tagger import AreaScores, Tag

log = logging.getLogger(__name__)

TEXT_ROW = -1  # the position of a text's own row (its scores); its tags are at 0, 1, ...
CACHE_SCHEMA = ("text_key::VARCHAR AS text_key, position::INTEGER AS position, code::VARCHAR AS code, "
                "source_field::VARCHAR AS source_field, evidence::VARCHAR AS evidence, method::VARCHAR AS method, "
                "score_areas::VARCHAR[] AS score_areas, decision::DOUBLE[] AS decision, "
                "strength::DOUBLE[] AS strength")
CACHE_COLUMNS = ["text_key", "position", "code", "source_field", "evidence", "method", "score_areas", "decision",
                 "strength"]
MERGE_AFTER_FILES = 16
MERGE_LOCK = ".merge.lock"
# A cache folder of another signature (rules, model, tagging code or taxonomy since changed) nothing has written to for
# this long is removed when a build writes its own: at national size a signature's tags and placements take about
# 250 MB, and each upgrade of the tagging code would otherwise leave one behind for good.
STALE_AFTER_DAYS = 14


def keyed_field_sql(column: str) -> str:
    """SQL writing a value as '<bytes>:<text>', or '-' for NULL: such fields joined end to end read back one way only
    (NULL stays apart from the empty string, and no two lists of values give one string)."""
    return f"CASE WHEN {column} IS NULL THEN '-' ELSE CAST(strlen({column}) AS VARCHAR) || ':' || {column} END"


def text_key_sql(name: str, other_names: str, activities: str, objects: str) -> str:
    """SQL for a text's key: sha256 of its four fields (keyed_field_sql), so no two texts share a key. Computed by
    DuckDB, set-wise, for a whole build's organisations."""
    return "sha256(" + " || ".join(keyed_field_sql(c) for c in (name, other_names, activities, objects)) + ")"


def tagging_signature(rules_signature: str, model_identity: str | None) -> str:
    """What the tags are made of besides the text: rules, model (file name, sha256 and thresholds, or None) and
    tagging code."""
    code = tree_digest(PACKAGE_DIR / "tagging", "*.py")
    return digest({"rules": rules_signature, "model": model_identity, "code": code,
                   "reference": tree_digest(PACKAGE_DIR / "reference", "*")})[:20]


class _ParquetCache:
    """Rows by content key for one signature, as Parquet files under <folder>/<PREFIX>-<signature>/; `folder` None
    keeps nothing across builds (tests, `use_model` off). What a build adds waits in a temp table of its connection
    (`_pending`, in the cache's row format: DuckDB holds it, not Python objects) until `flush` writes it. A subclass
    names its key column, its columns and their SQL types (SCHEMA), and how it adds rows."""

    PREFIX = ""
    KEY = ""
    COLUMNS: list[str] = []
    SCHEMA = ""

    def __init__(self, folder: Path | None, signature: str):
        self.folder = folder / f"{self.PREFIX}-{signature}" if folder else None
        self._con: duckdb.DuckDBPyConnection | None = None  # the build's, holding _pending
        self.pending = 0  # keys added by this build, not yet written
        self.written = 0
        self._pending = f"_{self.PREFIX}_cache_pending"

    def _files(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(str(p) for p in self.folder.glob("*.parquet"))

    def create(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        """An empty TEMP TABLE of the cache's rows."""
        nulls = ", ".join(f"NULL AS {column}" for column in self.COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {self.SCHEMA} FROM (SELECT {nulls}) WHERE false")

    def load(self, con: duckdb.DuckDBPyConnection, table: str, keys_sql: str) -> None:
        """Create TEMP TABLE `table` (COLUMNS) in `con`: the remembered rows, on disk or added by this build, of the
        keys `keys_sql` (a SELECT of the key column) gives. One pass over the cache files."""
        self.create(con, table)
        files = self._files()
        if files:
            wanted = f"SELECT {', '.join(self.COLUMNS)} FROM read_parquet(?) WHERE {self.KEY} IN ({keys_sql})"
            try:
                con.execute(f"INSERT INTO {table} SELECT DISTINCT * FROM ({wanted})", [files])
            except (duckdb.Error, OSError) as exc:  # a damaged file, or one merged away under us: read the others
                log.warning("%s cache %s: reading file by file: %s", self.PREFIX, self.folder, exc)
                for name in files:
                    try:
                        con.execute(f"INSERT INTO {table} SELECT DISTINCT * FROM ({wanted}) "
                                    f"EXCEPT SELECT * FROM {table}", [[name]])
                    except (duckdb.Error, OSError) as file_exc:
                        log.warning("%s cache file %s unreadable, its keys are made again: %s", self.PREFIX, name,
                                    file_exc)
        if self.pending and self._con is con:
            con.execute(f"INSERT INTO {table} SELECT * FROM {self._pending} WHERE {self.KEY} IN ({keys_sql})")

    def _add_rows(self, con: duckdb.DuckDBPyConnection, table: str, select: str, keys: int) -> None:
        """Remember the rows `select` gives (to write at `flush`; kept even with no folder to write to, as a later
        `load` of this build reads them) and add them to this build's `table` (`load`): `keys` new keys."""
        if self._con is not con:
            self.flush()
            self._con = con
            self.create(con, self._pending)
        new = f"_{self.PREFIX}_cache_new"  # made once for both tables it goes to
        con.execute(f"CREATE OR REPLACE TEMP TABLE {new} AS SELECT {self.SCHEMA} FROM ({select})")
        try:
            for into in (self._pending, table):
                con.execute(f"INSERT INTO {into} SELECT * FROM {new}")
        finally:
            con.execute(f"DROP TABLE {new}")
        self.pending += keys

    def flush(self) -> None:
        """Write what this build added as one new file; merge the files when there are many."""
        con, pending = self._con, self.pending
        self._con, self.pending = None, 0
        if con is None:
            return
        try:
            if self.folder is not None and pending:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._write(con, f"SELECT * FROM {self._pending}")
                self.written += pending
        finally:
            con.execute(f"DROP TABLE IF EXISTS {self._pending}")
        if len(self._files()) >= MERGE_AFTER_FILES:
            self._merge()
        if self.folder is not None and pending:
            self.remove_stale()

    def remove_stale(self) -> list[Path]:
        """Remove the folders of this cache's other signatures that nothing has written to for STALE_AFTER_DAYS (the
        newest file in them, or the folder itself when empty); returns them. A build still reading one finds its
        files gone and tags or places those texts again, which is only slower."""
        cutoff = time.time() - STALE_AFTER_DAYS * 86_400
        removed = []
        for folder in self.folder.parent.glob(f"{self.PREFIX}-*"):
            if folder == self.folder or not folder.is_dir():
                continue
            written = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
            if written < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        if removed:
            log.info("%s cache: removed %d folder(s) of other signatures unused for %d days: %s", self.PREFIX,
                     len(removed), STALE_AFTER_DAYS, ", ".join(p.name for p in removed))
        return removed

    def _write(self, con: duckdb.DuckDBPyConnection, select: str, params: list | None = None) -> Path:
        final = self.folder / f"{uuid.uuid4().hex}.parquet"
        tmp = final.with_suffix(".tmp")
        try:
            con.execute(f"COPY ({select}) TO {sql_literal(tmp)} (FORMAT parquet)", params or [])
            os.replace(tmp, final)
        except BaseException:  # a stopped build, a full disk: leave no half-written file behind
            tmp.unlink(missing_ok=True)
            raise
        return final

    def _merge(self) -> None:
        """Stream the cache's files into one, under an exclusive lock: a writer finding another merging leaves it be.
        Two merges of the same files at once would each keep a copy of every row; one at a time, a key is in the
        cache twice only when two builds added it at once (`load` reads it once). One thread, no DISTINCT: at
        national size (2.4 million rows) 320 MB, against 1.3 GB for the SELECT DISTINCT on every core this did,
        which lifted a build worker well past the rest of its build."""
        with open(self.folder / MERGE_LOCK, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            files = self._files()  # read under the lock: what another merge left
            if len(files) < 2:
                return
            con = duckdb.connect(config={"threads": 1})
            try:
                self._write(con, "SELECT * FROM read_parquet(?)", [files])
            except (duckdb.Error, OSError) as exc:
                log.warning("%s cache %s not merged: %s", self.PREFIX, self.folder, exc)
                return
            finally:
                con.close()
            for name in files:
                Path(name).unlink(missing_ok=True)


class TagCache(_ParquetCache):
    """Tags and area scores by text key (see the module's description)."""

    PREFIX, KEY, COLUMNS, SCHEMA = "tags", "text_key", CACHE_COLUMNS, CACHE_SCHEMA

    def add(self, con: duckdb.DuckDBPyConnection, table: str, keys: list[str], tags: list[list[Tag]],
            area_scores: AreaScores | list[dict | None] | None) -> None:
        """Remember texts tagged now and add their rows to this build's `table` (`load`). `area_scores`: the
        tagger's arrays (UkcatTagger.tag_with_area_arrays), or per text area -> [decision, strength] or None."""
        with _Registered(con, keys, tags, area_scores):
            self._add_rows(con, table, _ROWS_SQL, len(keys))


# An organisation's service areas (tagging/areas.place) depend on its text (the text key: name, other names,
# activities, objects, hence its UKCAT tags and model scores) and the tags registers state for it, given the tagging
# signature and the service-area taxonomy. So they are remembered by a key of those two (apply._write_place_keys): a
# refresh places again only the organisations whose text or register tags changed. A key has one row at position -1
# (placed, perhaps in no area) and one per service area at 0, 1, ... in place()'s order.
PLACED_ROW = -1
PLACEMENT_COLUMNS = ["place_key", "position", "service_area", "evidence", "strength"]
PLACEMENT_SCHEMA = ("place_key::VARCHAR AS place_key, position::INTEGER AS position, "
                    "service_area::VARCHAR AS service_area, evidence::VARCHAR AS evidence, "
                    "strength::DOUBLE AS strength")


class PlacementCache(_ParquetCache):
    """Service-area placements by place key, for one tagging signature and taxonomy (`placement_signature`)."""

    PREFIX, KEY, COLUMNS, SCHEMA = "places", "place_key", PLACEMENT_COLUMNS, PLACEMENT_SCHEMA

    def add(self, con: duckdb.DuckDBPyConnection, table: str, placed: pd.DataFrame) -> None:
        """Remember placements made now (`placed`: PLACEMENT_COLUMNS, each key's PLACED_ROW included) and add them
        to this build's `table` (`load`)."""
        if placed.empty:
            return
        con.register("_placed_new_df", placed[PLACEMENT_COLUMNS])
        try:
            self._add_rows(con, table, "SELECT * FROM _placed_new_df",
                           int((placed["position"] == PLACED_ROW).sum()))
        finally:
            con.unregister("_placed_new_df")


def placement_signature(tag_signature: str, areas, generic) -> str:
    """What placements are made of besides the place key: the tagging signature (rules, model and its thresholds,
    tagging code, reference data) and the service-area taxonomy in use, which a deployment may configure."""
    taxonomy = [[a.code, a.label, sorted(a.ukcat), sorted(a.ccew), list(a.sic), list(a.fca), list(a.names)]
                for a in areas]
    return digest({"tags": tag_signature, "taxonomy": taxonomy,
                   "generic": [sorted(generic.sic), sorted(generic.ccew)]})[:20]


# Cache rows from the registered _tag_new_rows and _tag_new_scores (_Registered): the scores, gathered into arrays in
# the model's area order, go on the text's own row.
_ROWS_SQL = f"""
    SELECT t.text_key, t.position, t.code, t.source_field, t.evidence, t.method, s.score_areas, s.decision, s.strength
    FROM _tag_new_rows t
    LEFT JOIN (SELECT text_key, list(area ORDER BY i) AS score_areas, list(decision ORDER BY i) AS decision,
                      list(strength ORDER BY i) AS strength
               FROM _tag_new_scores GROUP BY text_key) s ON t.position = {TEXT_ROW} AND s.text_key = t.text_key
"""


class _Registered:
    """Texts' tags and scores as the DataFrames _ROWS_SQL reads (_tag_new_rows: a text row and one row per tag;
    _tag_new_scores: one row per text and area), registered for the length of a `with` block. Built column by
    column: no Python tuple per row, and from the tagger's arrays no Python float per score."""

    def __init__(self, con: duckdb.DuckDBPyConnection, keys: list[str], tags: list[list[Tag]],
                 area_scores: AreaScores | list[dict | None] | None):
        self.con = con
        every = [(key, [None, *text_tags]) for key, text_tags in zip(keys, tags, strict=True)]
        self.tags = pd.DataFrame({
            "text_key": pd.Series([key for key, rows in every for _ in rows], dtype=object),
            "position": np.fromiter((i for _, rows in every for i in range(TEXT_ROW, len(rows) - 1)), np.int32),
            **{name: pd.Series([getattr(t, name) if t is not None else None for _, rows in every for t in rows],
                               dtype=object) for name in ("code", "source_field", "evidence", "method")}})
        self.scores = (_score_frame(keys, area_scores) if isinstance(area_scores, AreaScores) else
                       _score_frame_from_dicts(keys, area_scores or [None] * len(keys)))

    def __enter__(self):
        self.con.register("_tag_new_rows", self.tags)
        self.con.register("_tag_new_scores", self.scores)
        return self

    def __exit__(self, *exc):
        self.con.unregister("_tag_new_rows")
        self.con.unregister("_tag_new_scores")


def _score_frame(keys: list[str], scores: AreaScores) -> pd.DataFrame:
    """_tag_new_scores from the tagger's arrays: each scored text's areas in the model's order."""
    areas, texts = len(scores.areas), len(scores.rows)
    return pd.DataFrame({
        "text_key": pd.Series(np.repeat(np.array(keys, dtype=object)[scores.rows], areas), dtype=object),
        "i": np.tile(np.arange(areas, dtype=np.int32), texts),
        "area": pd.Series(np.tile(np.array(scores.areas, dtype=object), texts), dtype=object),
        "decision": np.asarray(scores.decision, dtype=np.float64).reshape(-1),
        "strength": np.asarray(scores.strength, dtype=np.float64).reshape(-1)})


def _score_frame_from_dicts(keys: list[str], area_scores: list[dict | None]) -> pd.DataFrame:
    """_tag_new_scores from per-text dicts (area -> [decision, strength]), each text's areas in its dict's order."""
    scored = [(key, scores) for key, scores in zip(keys, area_scores, strict=True) if scores is not None]
    values = np.array([value for _, scores in scored for value in scores.values()], dtype=np.float64)
    values = values.reshape(-1, 2)
    return pd.DataFrame({
        "text_key": pd.Series([key for key, scores in scored for _ in scores], dtype=object),
        "i": np.fromiter((i for _, scores in scored for i in range(len(scores))), np.int32),
        "area": pd.Series([area for _, scores in scored for area in scores], dtype=object),
        "decision": values[:, 0], "strength": values[:, 1]})
