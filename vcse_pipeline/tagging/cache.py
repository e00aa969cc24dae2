"""Tags remembered by content: an organisation's UKCAT tags (and the model's service-area scores) depend on its
text (name, other names, activities, objects), the rules, the model and the tagging code, never on the area. So each
text is tagged once: later areas of the same build, and later builds, read its tags from Parquet files under
data/cache/tagging/tags-<signature>/.

The signature digests everything the tags are made from besides the text (the rules as staged, the model file's
name, sha256 and thresholds, the tagging code and reference data), so a change to any of them starts an empty
cache. Each build writes what it tagged as one new file (written to a temporary name, then renamed), so parallel
Airflow area tasks never share a writer; when the files pile up a build merges them. A cache that cannot be read is
ignored: the text is tagged again, which is only slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

import duckdb
import pandas as pd

from ..db import sql_literal
from ..fingerprint import PACKAGE_DIR, digest, tree_digest
from .tagger import Tag, TextRecord

log = logging.getLogger(__name__)

CACHE_COLUMNS = ["text_key", "position", "code", "source_field", "evidence", "method", "area_scores"]
# A tagged text with no tags is remembered as one row with position -1 and no code. `area_scores` (the model's
# service-area scores as JSON, or NULL when none were made) is the same on every row of a text.
NO_TAGS = -1
CACHE_SCHEMA = ("text_key::VARCHAR AS text_key, position::INTEGER AS position, code::VARCHAR AS code, "
                "source_field::VARCHAR AS source_field, evidence::VARCHAR AS evidence, method::VARCHAR AS method, "
                "area_scores::VARCHAR AS area_scores")
MERGE_AFTER_FILES = 16


def text_key(record: TextRecord) -> str:
    """sha256 of the four text fields (None kept apart from the empty string)."""
    fields = [record.name, record.other_names, record.activities, record.objects]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()


def tagging_signature(rules_signature: str, model_identity: str | None) -> str:
    """What the tags are made of besides the text: rules, model (file name, sha256 and thresholds, or None) and
    tagging code."""
    code = tree_digest(PACKAGE_DIR / "tagging", "*.py")
    return digest({"rules": rules_signature, "model": model_identity, "code": code,
                   "reference": tree_digest(PACKAGE_DIR / "reference", "*")})[:20]


Tagged = tuple[list[Tag], dict | None]  # a text's tags and the model's service-area scores (None: no scores)


class TagCache:
    """Tags and area scores by text key for one signature; `folder` None keeps nothing across builds (tests,
    `use_model` off)."""

    def __init__(self, folder: Path | None, signature: str):
        self.folder = folder / f"tags-{signature}" if folder else None
        self.memory: dict[str, Tagged] = {}   # tagged by this build, not yet written
        self.written = 0

    def _files(self) -> list[str]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(str(p) for p in self.folder.glob("*.parquet"))

    def lookup(self, keys: list[str]) -> dict[str, Tagged]:
        """The remembered tags and area scores of those keys that have any (in memory or on disk)."""
        found = {k: self.memory[k] for k in keys if k in self.memory}
        wanted = [k for k in keys if k not in found]
        files = self._files()
        if not wanted or not files:
            return found
        con = duckdb.connect()
        try:
            con.register("_wanted", pd.DataFrame({"text_key": wanted}, dtype=object))
            rows = con.execute(
                "SELECT DISTINCT c.text_key, c.position, c.code, c.source_field, c.evidence, c.method, c.area_scores "
                "FROM read_parquet(?) c JOIN _wanted USING (text_key) ORDER BY c.text_key, c.position",
                [files]).fetchall()
        except (duckdb.Error, OSError) as exc:  # a file merged away under us, or damaged: tag again
            log.warning("tag cache %s unreadable, tagging again: %s", self.folder, exc)
            return found
        finally:
            con.close()
        for key, position, code, field, evidence, method, scores in rows:
            if key not in found:  # every row of a text carries the same scores: decode them once
                found[key] = ([], json.loads(scores) if scores is not None else None)
            tags = found[key][0]
            if position != NO_TAGS:
                tags.append(Tag(code, field, evidence, method))
        return found

    def add(self, key: str, tags: list[Tag], area_scores: dict | None) -> None:
        self.memory[key] = (tags, area_scores)

    def flush(self) -> None:
        """Write what this build tagged as one new file; merge the files when there are many."""
        if self.folder is None or not self.memory:
            self.memory.clear()
            return
        def scores_json(scores: dict | None) -> str | None:
            return json.dumps(scores, sort_keys=True) if scores is not None else None  # floats survive JSON exactly

        rows = [(key, i, t.code, t.source_field, t.evidence, t.method, scores_json(scores))
                for key, (tags, scores) in self.memory.items() for i, t in enumerate(tags)]
        rows += [(key, NO_TAGS, None, None, None, None, scores_json(scores))
                 for key, (tags, scores) in self.memory.items() if not tags]
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(pd.DataFrame(rows, columns=CACHE_COLUMNS, dtype=object), None)
        self.written += len(self.memory)
        self.memory.clear()
        files = self._files()
        if len(files) >= MERGE_AFTER_FILES:
            self._merge(files)

    def _write(self, frame: pd.DataFrame | None, files: list[str] | None) -> Path:
        final = self.folder / f"{uuid.uuid4().hex}.parquet"
        tmp = final.with_suffix(".tmp")
        try:
            con = duckdb.connect()
            try:
                if frame is not None:
                    con.register("_tags", frame)
                    # Typed, not inferred: a flush of untagged texts alone would write its all-NULL columns as
                    # type NULL, and no file could then be read or merged together with it.
                    con.execute(f"COPY (SELECT {CACHE_SCHEMA} FROM _tags) TO {sql_literal(tmp)} (FORMAT parquet)")
                else:
                    con.execute(f"COPY (SELECT DISTINCT * FROM read_parquet({sql_literal(files)})) TO "
                                f"{sql_literal(tmp)} (FORMAT parquet)")
            finally:
                con.close()
            os.replace(tmp, final)
        except BaseException:  # a stopped build worker (SIGTERM), a full disk: leave no half-written file behind
            tmp.unlink(missing_ok=True)
            raise
        return final

    def _merge(self, files: list[str]) -> None:
        try:
            self._write(None, files)
        except (duckdb.Error, OSError) as exc:
            log.warning("tag cache %s not merged: %s", self.folder, exc)
            return
        for name in files:
            Path(name).unlink(missing_ok=True)
