"""Data-quality gates run on a newly built register before it is published.

Each gate measures one thing and compares it with a threshold from `[quality]`. A gate never raises
on a missing table or column: it fails with a message naming what is missing, so the run reports every
problem at once. `check_gates` raises QualityGateError listing every failed gate.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import duckdb

from .config import Config, default_value, value_problem
from .db import table_columns
from .errors import PipelineError, QualityGateError

REQUIRED_COLUMNS = ("area_code", "org_id", "name", "legal_form", "is_active", "area_basis", "source_count")

# org-id.guide identifier forms: a linked (subsidiary) charity carries its link number after a dash.
IDENTIFIER_PATTERNS = {
    "GB-CHC": r"^GB-CHC-\d+(-\d+)?$",
    "GB-COH": r"^GB-COH-[A-Z0-9]{8}$",
    "GB-MPR": r"^GB-MPR-[A-Z0-9]+$",
    "GB-SC": r"^GB-SC-SC\d{6}$",
    "GB-NIC": r"^GB-NIC-\d+$",
}
ORG_ID_PATTERN = "|".join(f"({p})" for p in IDENTIFIER_PATTERNS.values())


@dataclass
class GateResult:
    name: str
    passed: bool
    value: float | None
    threshold: float | None
    message: str
    area_code: str | None = None
    source: str | None = None     # the source a per-source gate measured
    accepted: bool = False        # failed, but an operator accepted the change for this run (--accept)

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        where = " ".join(w for w in (self.area_code, self.source) if w)
        return f"{self.name}{f' [{where}]' if where else ''}: {self.message}"


def _missing(name: str, what: str, area: str | None = None) -> GateResult:
    return GateResult(name, False, None, None, f"cannot check: {what}", area)


def _by_area(con, sql: str, areas: list[str], database: str | None = None) -> dict[str, tuple]:
    """{area: the rest of the row} from `sql`, a query whose first column is area_code, with {db} for the database
    prefix and $areas for the areas. One grouped query for every area: a gate per area ran a query per area, each
    reading the whole table (a national register's 295 areas x several gates x 250,000 rows took 20 s)."""
    if not areas:
        return {}
    prefix = f"{database}." if database else ""
    return {row[0]: row[1:] for row in con.execute(sql.format(db=prefix), {"areas": areas}).fetchall()}


ORGANISATIONS_SQL = ("SELECT area_code, count(*) FROM {db}organisation WHERE area_code IN (SELECT unnest($areas)) "
                     "GROUP BY 1")


def _organisations(con, areas: list[str], database: str | None = None) -> dict[str, int]:
    return {area: n for area, (n,) in _by_area(con, ORGANISATIONS_SQL, areas, database).items()}


def row_count_gates(con, areas: list[str], band: float, previous: str | None,
                    counts: dict[str, int]) -> list[GateResult]:
    """Organisations per area (`counts`, _organisations) within +/-band of the previous publish; skipped on an
    area's first publish."""
    results = []
    before = _organisations(con, areas, previous) if previous and table_columns(con, "organisation", previous) \
        else {}
    for area in areas:
        new, old = counts.get(area, 0), before.get(area)
        if not old:
            results.append(GateResult("row_count_band", True, float(new), band,
                                      f"{new:,} organisations; no previous publish of this area to compare", area))
            continue
        change = (new - old) / old
        passed = abs(change) <= band
        results.append(GateResult(
            "row_count_band", passed, round(change, 4), band,
            f"{new:,} organisations against {old:,} before ({change:+.1%}, allowed +/-{band:.0%})", area))
    return results


def minimum_rows_gates(areas: list[str], minimum: int, counts: dict[str, int]) -> list[GateResult]:
    results = []
    for area in areas:
        n = counts.get(area, 0)
        results.append(GateResult("min_organisations", n >= minimum, float(n), float(minimum),
                                  f"{n:,} organisations (at least {minimum:,} required)", area))
    return results


def required_columns_gate(con, columns: set[str]) -> GateResult:
    absent = [c for c in REQUIRED_COLUMNS if c not in columns]
    if absent:
        return _missing("required_not_null", f"organisation has no column {', '.join(absent)}")
    counts = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in REQUIRED_COLUMNS) + " FROM organisation"
    ).fetchone()
    nulls = {c: n for c, n in zip(REQUIRED_COLUMNS, counts, strict=True) if n}
    total = sum(nulls.values())
    detail = ", ".join(f"{c}: {n:,} null" for c, n in nulls.items()) or "no nulls in " + ", ".join(REQUIRED_COLUMNS)
    return GateResult("required_not_null", total == 0, float(total), 0.0, detail)


def unique_org_id_gate(con) -> GateResult:
    dupes = con.execute(
        "SELECT area_code, org_id, count(*) FROM organisation GROUP BY ALL HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 5"
    ).fetchall()
    n = con.execute(
        "SELECT count(*) FROM (SELECT 1 FROM organisation GROUP BY area_code, org_id HAVING count(*) > 1)"
    ).fetchone()[0]
    detail = "org_id unique within each area" if not n else (
        f"{n:,} duplicated org_id, e.g. " + ", ".join(f"{a}/{o} x{c}" for a, o, c in dupes))
    return GateResult("org_id_unique", n == 0, float(n), 0.0, detail)


def org_id_format_gate(con) -> GateResult:
    bad = con.execute(
        "SELECT org_id FROM organisation WHERE NOT regexp_full_match(org_id, ?) ORDER BY 1", [ORG_ID_PATTERN]
    ).fetchall()
    detail = "every org_id is a known org-id form" if not bad else (
        f"{len(bad):,} malformed org_id, e.g. " + ", ".join(repr(r[0]) for r in bad[:5]))
    return GateResult("org_id_format", not bad, float(len(bad)), 0.0, detail)


def identifier_gates(con) -> list[GateResult]:
    columns = table_columns(con, "organisation_identifier")
    if not columns:
        return [_missing("identifier_format", "table organisation_identifier is missing")]
    if not {"identifier", "scheme", "area_code"} <= columns:
        return [_missing("identifier_format", "organisation_identifier lacks identifier/scheme/area_code")]
    cases = " ".join(f"WHEN '{scheme}' THEN regexp_full_match(identifier, '{p}')"
                     for scheme, p in IDENTIFIER_PATTERNS.items())
    bad = con.execute(
        f"SELECT scheme, identifier FROM organisation_identifier WHERE NOT coalesce(CASE scheme {cases} END, FALSE) "
        "ORDER BY 1, 2"
    ).fetchall()
    fmt = GateResult(
        "identifier_format", not bad, float(len(bad)), 0.0,
        "every identifier matches its scheme" if not bad else
        f"{len(bad):,} identifiers not matching their scheme, e.g. " + ", ".join(f"{s} {i!r}" for s, i in bad[:5]))
    n = con.execute("SELECT count(*) FROM (SELECT 1 FROM organisation_identifier GROUP BY area_code, identifier "
                    "HAVING count(DISTINCT org_id) > 1)").fetchone()[0]
    unique = GateResult("identifier_unique", n == 0, float(n), 0.0,
                        "each identifier belongs to one organisation per area" if not n else
                        f"{n:,} identifiers claimed by more than one organisation in an area")
    return [fmt, unique]


def share_gates(con, name: str, areas: list[str], condition: str, minimum: float, what: str) -> list[GateResult]:
    # Shares are over ACTIVE organisations: removed charities keep no contact details in the extract, so
    # counting them would measure the registers' publishing policy, not the health of this build.
    counts = _by_area(con, f"SELECT o.area_code, count(*), count(*) FILTER (WHERE {condition}) FROM organisation o "
                           "WHERE o.area_code IN (SELECT unnest($areas)) AND o.is_active GROUP BY 1", areas)
    results = []
    for area in areas:
        total, hits = counts.get(area, (0, 0))
        share = hits / total if total else 0.0
        results.append(GateResult(name, share >= minimum, round(share, 4), minimum,
                                  f"{hits:,} of {total:,} active organisations {what} "
                                  f"({share:.1%}, at least {minimum:.0%} required)", area))
    return results


def postcode_gates(con, columns: set[str], areas: list[str], minimum: float) -> list[GateResult]:
    """Share of active organisations whose postcode is in the postcode directory. A terminated postcode counts
    as mapped: the directory keeps its local authority (records.py keeps that lad_code), so the area is known."""
    if not {"postcode", "lad_code"} <= columns:
        return [_missing("postcode_mapped_share", "organisation has no postcode/lad_code columns", a) for a in areas]
    return share_gates(con, "postcode_mapped_share", areas, "o.postcode IS NOT NULL AND o.lad_code IS NOT NULL",
                       minimum, "have a postcode found in the postcode directory")


def service_area_gates(con, areas: list[str], minimum: float) -> list[GateResult]:
    columns = table_columns(con, "organisation_service_area")
    if not columns:
        return [_missing("service_area_share", "table organisation_service_area is missing (did tagging run?)", a)
                for a in areas]
    if not {"area_code", "org_id"} <= columns:
        return [_missing("service_area_share", "organisation_service_area lacks area_code/org_id", a) for a in areas]
    condition = ("EXISTS (SELECT 1 FROM organisation_service_area s "
                 "WHERE s.area_code = o.area_code AND s.org_id = o.org_id)")
    return share_gates(con, "service_area_share", areas, condition, minimum, "have a service area")


def _band_result(name: str, old: int | None, new: int, band: float, min_rows: int, what: str, *,
                 area: str | None = None, source: str | None = None) -> GateResult | None:
    """`new` against `old`: source_empty when something went to nothing, else `name` within +/-band.

    None when there is nothing to compare (no previous count); a previous count under `min_rows` is checked
    only for going empty, since a handful of rows moving is not a signal.
    """
    if old is None:
        return None
    if old > 0 and new == 0:
        return GateResult("source_empty", False, 0.0, float(old),
                          f"{what}: 0 now against {old:,} before (went empty)", area, source)
    if old < min_rows:
        return GateResult(name, True, float(new), band,
                          f"{what}: {new:,} against {old:,} before (under {min_rows:,} before: not banded)",
                          area, source)
    change = (new - old) / old
    return GateResult(name, abs(change) <= band, round(change, 4), band,
                      f"{what}: {new:,} against {old:,} before ({change:+.1%}, allowed +/-{band:.0%})", area, source)


def staging_gates(cfg: Config, source: str, before: dict[str, int] | None, after: dict[str, int]) -> list[GateResult]:
    """Rows per table of a new staging of `source` against its previous staging (nothing on a first staging)."""
    q = quality_thresholds(cfg)
    results = []
    for table in sorted(set(before or {}) | set(after)):
        result = _band_result("staged_rows", (before or {}).get(table), after.get(table, 0), q["staged_rows_band"],
                              q["band_min_rows"], f"{source}.{table} rows staged", source=source)
        if result:
            results.append(result)
    return results


SOURCE_COUNT_SQL = ("SELECT area_code, list(source ORDER BY source), list(n ORDER BY source) FROM ("
                    "SELECT area_code, source, count(DISTINCT org_id) AS n FROM {db}organisation_identifier "
                    "WHERE area_code IN (SELECT unnest($areas)) GROUP BY 1, 2) GROUP BY 1")
ACTIVE_SQL = ("SELECT o.area_code, count(*) FILTER (WHERE o.is_active), count(*) FILTER (WHERE c.org_id IS NOT NULL), "
              "count(*) FILTER (WHERE o.is_active AND c.org_id IS NOT NULL) FROM {db}organisation o "
              "LEFT JOIN (SELECT DISTINCT area_code, org_id FROM {db}organisation_identifier "
              "WHERE source = 'charity_commission') c ON c.area_code = o.area_code AND c.org_id = o.org_id "
              "WHERE o.area_code IN (SELECT unnest($areas)) GROUP BY 1")


def _source_counts(con, areas: list[str], database: str | None) -> dict[str, dict] | None:
    """{area: {source: organisations with a record from it}}, None without the table."""
    if database is not None and not table_columns(con, "organisation_identifier", database):
        return None
    return {area: dict(zip(sources, counts, strict=True))
            for area, (sources, counts) in _by_area(con, SOURCE_COUNT_SQL, areas, database).items()}


def _active_counts(con, areas: list[str], database: str | None) -> dict[str, dict] | None:
    """{area: {active, charities, active_charities}}, None without the table."""
    if database is not None and not table_columns(con, "organisation", database):
        return None
    return {area: dict(zip(("active", "charities", "active_charities"), counts, strict=True))
            for area, counts in _by_area(con, ACTIVE_SQL, areas, database).items()}


def source_gates(con, areas: list[str], previous: str | None, q: dict) -> list[GateResult]:
    """Per area, against the last publish: organisations from each source, active organisations, and the share
    of charities that are active (a mass status change such as every charity 'Removed' moves it)."""
    if not previous or not table_columns(con, "organisation_identifier") or \
            "source" not in (table_columns(con, "organisation_identifier") or set()):
        return []
    results = []
    sources_before, sources_now = _source_counts(con, areas, previous), _source_counts(con, areas, None)
    active_before, active_now = _active_counts(con, areas, previous), _active_counts(con, areas, None)
    for area in areas:
        old_sources = (sources_before or {}).get(area)
        if old_sources:
            new_sources = sources_now.get(area, {})
            for source in sorted(set(old_sources) | set(new_sources)):
                result = _band_result("source_organisations", old_sources.get(source), new_sources.get(source, 0),
                                      q["source_organisations_band"], q["band_min_rows"],
                                      f"organisations with a {source} record", area=area, source=source)
                if result:
                    results.append(result)
        old = (active_before or {}).get(area)
        new = active_now.get(area, {"active": 0, "charities": 0, "active_charities": 0})
        if not old or not old.get("active"):
            continue  # the area's first publish: nothing to compare
        results.append(_band_result("active_organisations", old["active"], new["active"],
                                    q["active_organisations_band"], q["band_min_rows"], "active organisations",
                                    area=area))
        if old["charities"] >= q["band_min_rows"] and new["charities"]:
            before, after = old["active_charities"] / old["charities"], new["active_charities"] / new["charities"]
            band = q["active_charity_share_band"]
            results.append(GateResult(
                "active_charity_share", abs(after - before) <= band, round(after - before, 4), band,
                f"{new['active_charities']:,} of {new['charities']:,} charities active ({after:.1%}) against "
                f"{old['active_charities']:,} of {old['charities']:,} before ({before:.1%}); allowed "
                f"+/-{band * 100:.0f} points", area, "charity_commission"))
    return results


# Gates an operator may accept for one run (`--accept GATE[:SOURCE]`): counts that a real change can move.
# The structural gates (unique and well-formed identifiers, required columns) can never be accepted.
ACCEPTABLE_GATES = ("staged_rows", "source_empty", "source_organisations", "active_organisations",
                    "active_charity_share", "row_count_band", "min_organisations")


def parse_accept(values: list[str] | tuple[str, ...] | None) -> list[tuple[str, str | None]]:
    """`--accept` values as (gate, source or area or None); a PipelineError for an unknown gate."""
    parsed = []
    for value in values or []:
        gate, _, target = str(value).strip().partition(":")
        if gate not in ACCEPTABLE_GATES:
            raise PipelineError(f"--accept {value!r}: unknown gate {gate!r}; gates that can be accepted: "
                                f"{', '.join(ACCEPTABLE_GATES)} (as GATE or GATE:SOURCE, e.g. "
                                "source_organisations:fca_mutuals)")
        parsed.append((gate, target.strip() or None))
    return parsed


def apply_accept(results: list[GateResult], accept: list[str] | tuple[str, ...] | None) -> list[GateResult]:
    """Mark the failed gates an operator accepted for this run as passed (`accepted`, and said in the message)."""
    wanted = parse_accept(accept)
    for r in results:
        if r.passed:
            continue
        for gate, target in wanted:
            if gate == r.name and (target is None or target in (r.source, r.area_code)):
                r.passed, r.accepted = True, True
                r.message += f" - accepted for this run (--accept {gate}{':' + target if target else ''})"
                break
    return results


def accepted_summary(results: list) -> str:
    """'accepted: gate [where]: message; ...' for the history record ('' when nothing was accepted)."""
    items = [r if isinstance(r, GateResult) else GateResult(**r) for r in results]
    accepted = [r.describe() for r in items if r.accepted]
    return ("accepted: " + "; ".join(accepted)) if accepted else ""


THRESHOLD_KEYS = ("min_organisations", "row_count_band", "min_postcode_mapped_share", "min_service_area_share",
                  "staged_rows_band", "source_organisations_band", "active_organisations_band",
                  "active_charity_share_band", "band_min_rows")


def quality_thresholds(cfg: Config) -> dict[str, float | int]:
    """The [quality] thresholds as numbers, or a PipelineError naming the key and the bad value.

    Config.load checks the configured values; DAG params arrive later through Config.with_overrides, so they
    are checked here, with config's own check, before a half-hour build rather than deep inside a gate.
    """
    settings = cfg.section("quality")
    chosen: dict[str, float | int] = {}
    for key in THRESHOLD_KEYS:
        value = settings.get(key, default_value("quality", key))
        problem = value_problem("quality", key, value)
        if problem:
            raise PipelineError(problem)
        chosen[key] = int(value) if isinstance(default_value("quality", key), int) else float(value)
    return chosen


def run_gates(con: duckdb.DuckDBPyConnection, cfg: Config, areas: list[str],
              previous: str | None = None, accept: list[str] | None = None) -> list[GateResult]:
    """Every gate on the register in con's main database. `previous` names the attached previous publish; failed
    gates named in `accept` (GATE or GATE:SOURCE) pass, marked accepted."""
    q = quality_thresholds(cfg)
    columns = table_columns(con, "organisation")
    if not columns:
        return [_missing("organisation_table", "table organisation is missing: the build produced no register")]
    counts = _organisations(con, areas)  # read by both gates
    results = minimum_rows_gates(areas, q["min_organisations"], counts)
    results += row_count_gates(con, areas, q["row_count_band"], previous, counts)
    results.append(required_columns_gate(con, columns))
    if "org_id" in columns and "area_code" in columns:
        results += [unique_org_id_gate(con), org_id_format_gate(con)]
    results += identifier_gates(con)
    results += postcode_gates(con, columns, areas, q["min_postcode_mapped_share"])
    results += service_area_gates(con, areas, q["min_service_area_share"])
    results += source_gates(con, areas, previous, q)
    return apply_accept(results, accept)


def record_gates(con: duckdb.DuckDBPyConnection, run_id: str, results: list[GateResult]) -> None:
    con.execute("DELETE FROM quality_gate WHERE run_id = ?", [run_id])
    con.executemany(
        "INSERT INTO quality_gate VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[run_id, r.name, r.area_code, r.passed, r.value, r.threshold, r.message] for r in results],
    )


def gate_error(results: list[GateResult]) -> QualityGateError | None:
    """A QualityGateError listing every failed gate and why (None when all passed); `.results` holds them all."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    error = QualityGateError(
        f"{len(failed)} quality gate(s) failed, register not published:\n  "
        + "\n  ".join(r.describe() for r in failed) + accept_hint(failed))
    error.results = results
    return error


def accept_hint(failed: list[GateResult]) -> str:
    """How to let a real change through, naming the failed acceptable gates as --accept takes them."""
    names = list(dict.fromkeys(f"{r.name}:{r.source}" if r.source else r.name for r in failed
                               if r.name in ACCEPTABLE_GATES))
    if not names:
        return ""
    return ("\n  if the change is real, accept it for one run: " + " ".join(f"--accept {n}" for n in names)
            + " (DAG param accept)")


def staging_error(source: str, results: list[GateResult]) -> QualityGateError | None:
    """One line naming each failed staging gate (table, before and after), or None when all passed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return None
    names = list(dict.fromkeys(f"{r.name}:{source}" for r in failed))
    error = QualityGateError(
        f"source {source}: staging refused, the previous staging is kept: "
        + "; ".join(f"{r.name}: {r.message}" for r in failed)
        + "; if the change is real, accept it for one run: " + " ".join(f"--accept {n}" for n in names))
    error.results = results
    return error


def gates_json(results: list[GateResult]) -> str:
    return json.dumps([r.as_dict() for r in results])
