"""A one-file HTML report of the register for commissioners: size, services, wards, readiness, changes.

Charts are drawn by matplotlib (Agg backend, no display needed) as inline SVG, so the file is self-contained
and opens offline. The template is templates/report.html.j2.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

from ..db import sql_text, table_exists  # noqa: E402
from ..lookups import POSTCODE_NOT_FOUND, area_name  # noqa: E402
from ..status import published_runs  # noqa: E402

TEMPLATES = Path(__file__).with_name("templates")
OUTSIDE = "(based outside the area)"
# Providers the ward table cannot place, in the order of the CASE in sql/marts/report/wards.sql: based in the area
# but with no ward, no postcode at all, a postcode the postcode directory does not know (address needs checking),
# elsewhere.
UNPLACED = ("(based in the area, ward not known)", "(no postcode on record)",
            "(postcode not found: address needs checking)", OUTSIDE)
READINESS_COLOURS = {"ready": "#2e7d32", "caution": "#f9a825", "unknown": "#9e9e9e", "not ready": "#c62828"}
BAR_COLOUR = "#1f4e79"
CHECK_FIRST = 25   # the report lists this many organisations to check first; vcse find exports them all
# How serious an amber flag is (provider_readiness reasons, by their start): a regulator or Companies House filing
# overdue weighs more than a late return, and both more than falling income or being new. Red flags make an
# organisation "not ready", which always comes first.
FLAG_WEIGHTS = (("Charity Commission: insolvent", 10), ("Charity Commission: in administration", 10),
                ("Charity Commission: double default", 8), ("Companies House status", 8),
                ("Charity Commission: submission overdue", 4), ("Companies House accounts overdue", 4),
                ("Companies House confirmation statement overdue", 3), ("annual return late in", 2),
                ("latest annual return filed late", 2), ("income falling", 1), ("operating for less than", 1))


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    return re.sub(r"^.*?(<svg)", r"\1", buf.getvalue(), count=1, flags=re.S)  # drop the XML prologue


def bar_chart(labels: list[str], values: list[int], title: str, colours: list[str] | None = None) -> str:
    """A horizontal bar chart, largest at the top, as an inline SVG string."""
    height = max(1.6, 0.32 * len(labels) + 0.8)
    fig, ax = plt.subplots(figsize=(7.5, height))
    ax.barh(labels[::-1], values[::-1], color=(colours or [BAR_COLOUR] * len(values))[::-1])
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, f" {v:,}", va="center", fontsize=8)
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.set_xlim(0, max(values or [1]) * 1.15)
    return _svg(fig)


def _rows(con, sql: str, params: list | dict) -> list[tuple]:
    return con.execute(sql, params).fetchall()


def _report_rows(con, query: str, params: dict) -> list[tuple]:
    """The rows of one report query, sql/marts/report/<query>.sql."""
    return _rows(con, sql_text(f"marts/report/{query}.sql"), params)


def changes_since_previous(con: duckdb.DuckDBPyConnection, area_code: str) -> dict:
    """What the latest refresh changed; `previous` is False when there was no earlier register to compare."""
    if not (table_exists(con, "run_history") and table_exists(con, "register_change")):
        return {"previous": False, "message": "This register has no refresh history yet, so there is no previous "
                                               "refresh to compare with."}
    runs = published_runs(con, 2)
    if len(runs) < 2:
        return {"previous": False, "message": "This is the first published refresh: there is no previous refresh "
                                               "to compare with, so every organisation counts as new."}
    run_id, finished = runs[0]["run_id"], runs[0]["finished_at"]
    rows = _report_rows(con, "changes", {"run_id": run_id, "area_code": area_code})
    by_type: dict[str, list] = {}
    for change_type, org_id, name, field, old, new in rows:
        by_type.setdefault(change_type, []).append(
            {"org_id": org_id, "name": name, "field": field, "old": old, "new": new})
    counts = {t: len({r["org_id"] for r in items}) for t, items in by_type.items()}
    return {"previous": True, "run_id": run_id, "finished": finished, "previous_run": runs[1]["run_id"],
            "counts": counts, "changes": by_type,
            "message": "" if rows else "The latest refresh changed nothing in this area."}


def report_context(con: duckdb.DuckDBPyConnection, area_code: str) -> dict:
    p = [area_code]
    total = _rows(con, "SELECT count(*) FROM provider_directory WHERE area_code = ?", p)[0][0]
    area = {"area_code": area_code}
    forms = _report_rows(con, "legal_forms", area)
    services = _report_rows(con, "service_areas", area)
    untagged = _rows(con, "SELECT count(*) FROM provider_directory WHERE area_code = ? AND len(service_areas) = 0",
                     p)[0][0]
    no_ward, no_postcode, not_found, outside = UNPLACED
    wards = _report_rows(con, "wards", {**area, "no_ward": no_ward, "no_postcode": no_postcode, "not_found": not_found,
                                        "outside": outside, "postcode_not_found": list(POSTCODE_NOT_FOUND)})
    readiness = _report_rows(con, "readiness", area)
    bands = _report_rows(con, "income_bands", area)
    flagged = _report_rows(con, "flagged", area)
    concerns = check_first(flagged)
    gaps = _report_rows(con, "service_gaps", area)
    # service areas too thinly tagged to call a ward without one a gap, and the untagged organisations behind that
    cannot_tell = _report_rows(con, "service_gaps_cannot_tell", area)[0][0]
    untagged_based = _report_rows(con, "untagged_in_wards", area)[0][0]
    ward_count = len([w for w in wards if w[0] not in UNPLACED])
    return {
        "area_code": area_code,
        "area_name": area_name(area_code),
        "generated": datetime.now(UTC).strftime("%d %B %Y %H:%M UTC"),
        "total": total, "forms": forms, "services": services, "untagged": untagged, "wards": wards,
        "readiness": readiness, "bands": bands, "concerns": concerns, "gaps": gaps,
        "cannot_tell": cannot_tell, "untagged_based": untagged_based,
        "concerns_total": len(flagged), "concerns_not_ready": sum(1 for r in flagged if r[1] == "not ready"),
        "ward_count": ward_count,
        "charts": {
            "forms": bar_chart([f for f, _ in forms], [n for _, n in forms],
                               "Providers by legal form") if forms else "",
            "services": bar_chart([s for s, _ in services], [n for _, n in services],
                                  "Providers by service area") if services else "",
            "wards": bar_chart([w[0] for w in wards], [w[1] for w in wards], "Providers by ward") if wards else "",
            "readiness": bar_chart([r for r, _ in readiness], [n for _, n in readiness], "Readiness",
                                   [READINESS_COLOURS.get(r, BAR_COLOUR) for r, _ in readiness]) if readiness else "",
        },
        "changes": changes_since_previous(con, area_code),
    }


def flag_weight(reason: str) -> int:
    return next((w for start, w in FLAG_WEIGHTS if reason.startswith(start)), 1)


def check_first(flagged: list[tuple], limit: int = CHECK_FIRST) -> list[tuple]:
    """The organisations to check first, most serious first: not ready before caution, then by the weight of their
    flags (FLAG_WEIGHTS) and how many, then the larger income (more public money at stake), then name.
    `flagged` rows are (name, level, reasons, latest_income, readiness_rank); returns (name, level, why, income)."""
    def severity(row):
        name, _level, reasons, income, rank = row
        reasons = list(reasons or [])
        return (-rank, -sum(flag_weight(r) for r in reasons), -len(reasons), -(income or 0), name)

    return [(name, level, "; ".join(reasons or []), income)
            for name, level, reasons, income, _rank in sorted(flagged, key=severity)[:limit]]


REPORT_FORMATS = ("html", "htm")


def check_report_path(out_path: Path) -> Path:
    """The --output file, checked before any work: not a folder, and named .html or .htm (the report is HTML), in
    the words vcse find and match use for a file name (export.output_format)."""
    from .export import output_format

    out_path = Path(out_path)
    output_format(out_path, formats=REPORT_FORMATS)
    return out_path


def render_report(con: duckdb.DuckDBPyConnection, out_path: Path, area_code: str,
                  freshness: list | None = None) -> Path:
    """Write the report; `freshness` (freshness.source_freshness of the register's sources) adds how old each
    source is, with the stale ones flagged at the top."""
    out_path = check_report_path(out_path)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["money"] = lambda v: "" if v is None else f"£{v:,.0f}"
    context = report_context(con, area_code)
    context["freshness"] = freshness or []
    context["stale"] = [f for f in context["freshness"] if f.stale]
    html = env.get_template("report.html.j2").render(**context)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(html, encoding="utf-8")
    return out_path
