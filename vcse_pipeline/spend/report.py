"""The local spend report: one self-contained HTML file (charts as inline SVG, drawn as the register report draws
them: procurement/report.py) and an Excel workbook of the same tables (formula-safe: procurement/export.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

from ..errors import PipelineError  # noqa: E402
from ..procurement.export import MONEY_FORMAT, safe_text  # noqa: E402
from ..procurement.report import BAR_COLOUR, _svg, bar_chart  # noqa: E402

TEMPLATES = Path(__file__).with_name("templates")
# Each table of the report and the workbook: sheet/section title, the SQL, the money columns.
TABLES = {
    "Local share": ("SELECT label, scope_amount, local_amount, local_share, target_share, suppliers, local_suppliers "
                    "FROM spend_local_share", ("scope_amount", "local_amount")),
    "Tier-2 spend": ("SELECT supplier, financial_year, local_amount, counted_amount, status, reason, org_id, "
                     "supplier_scope_amount, file, row_number FROM spend_tier2_check",
                     ("local_amount", "counted_amount", "supplier_scope_amount")),
    "By financial year": ("SELECT period AS financial_year, definition, scope_amount, local_amount, local_share, "
                          "target_share FROM spend_share_by_period WHERE period_type = 'financial_year'",
                          ("scope_amount", "local_amount")),
    "By quarter": ("SELECT period AS quarter, definition, scope_amount, local_amount, local_share, target_share "
                   "FROM spend_share_by_period WHERE period_type = 'quarter'", ("scope_amount", "local_amount")),
    "By month": ("SELECT period AS month, definition, scope_amount, local_amount, local_share "
                 "FROM spend_share_by_period WHERE period_type = 'month'", ("scope_amount", "local_amount")),
    "By supplier type": ("SELECT * FROM spend_by_size_class", ("amount",)),
    "By expense area": ("SELECT * FROM spend_by_expense_area", ("amount", "local_amount", "vcse_amount")),
    "By ward": ("SELECT * FROM spend_by_ward", ("amount",)),
    "By deprivation": ("SELECT * FROM spend_by_deprivation", ("amount",)),
    "Top suppliers": ("SELECT rank, supplier_name, based, kind, size_class, postcode, ward_name, amount, "
                      "share_of_total, org_id, method, names_written FROM spend_top_suppliers", ("amount",)),
    "Coverage": ("SELECT * FROM spend_coverage", ("amount",)),
    "Needs review": ("SELECT supplier_name, supplier_id, status, candidate_org_id, candidate_name, score, amount, "
                     "line_count FROM spend_review", ("amount",)),
    "Opportunities": ("SELECT expense_area, service_label, amount, outside_amount, outside_share, local_providers, "
                      "array_to_string(providers, '; ') AS providers, array_to_string(cpv_codes, ' ') AS cpv_codes "
                      "FROM spend_opportunity", ("amount", "outside_amount")),
}


def table(con: duckdb.DuckDBPyConnection, name: str) -> tuple[list[str], list[tuple]]:
    sql, _money = TABLES[name]
    cursor = con.execute(sql)
    return [d[0] for d in cursor.description], cursor.fetchall()


def share_chart(con: duckdb.DuckDBPyConnection) -> str:
    """Local share by month for each definition, against the target line."""
    rows = con.execute("SELECT period, definition, local_share, target_share FROM spend_share_by_period "
                       "WHERE period_type = 'month' ORDER BY period").fetchall()
    labels = dict(con.execute("SELECT DISTINCT definition, label FROM spend_definition").fetchall())
    months = sorted({r[0] for r in rows})
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    for definition, colour in (("district", BAR_COLOUR), ("wider_area", "#5b9bd5"), ("region", "#a5a5a5")):
        values = {r[0]: r[2] for r in rows if r[1] == definition}
        ax.plot(months, [100 * (values.get(m) or 0) for m in months], marker="o", color=colour,
                label=labels.get(definition, definition))
    if rows:
        ax.axhline(100 * rows[0][3], color="#c62828", linestyle="--", label="target")
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of in-scope spend")
    ax.set_title("Local share by month", loc="left", fontsize=11)
    ax.tick_params(labelsize=7)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    ax.legend(fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def report_context(con: duckdb.DuckDBPyConnection) -> dict:
    if not con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'spend_local_share'").fetchone()[0]:
        raise PipelineError("the spend database has no measures yet: run `vcse spend FILES...` first")
    tables = {name: table(con, name) for name in TABLES}
    size = tables["By supplier type"][1]
    areas = tables["By expense area"][1][:15]
    charts = {
        "share": share_chart(con),
        "size": bar_chart([r[0] for r in size], [int(r[1] or 0) for r in size], "Spend by supplier type (£)"),
        "areas": bar_chart([str(r[0]) for r in areas], [int(r[2] or 0) for r in areas],
                           "Spend with district suppliers by expense area (£)"),
    }
    return {"generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "tables": tables, "charts": charts,
            "money": {name: money for name, (_sql, money) in TABLES.items()},
            "lines": con.execute("SELECT count(*), min(payment_date), max(payment_date) FROM spend_line").fetchone()}


def _format(value, column: str, money: tuple[str, ...]) -> str:
    if value is None:
        return ""
    if column in money:
        return f"£{float(value):,.0f}"
    if column.endswith("share") and isinstance(value, float):
        return f"{100 * value:.1f}%"
    return str(value)


def render_html(con: duckdb.DuckDBPyConnection, out_path: Path) -> Path:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.filters["cell"] = _format
    html = env.get_template("spend.html.j2").render(**report_context(con))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(html, encoding="utf-8")
    return out_path


def write_workbook(con: duckdb.DuckDBPyConnection, out_path: Path) -> Path:
    """One sheet per table; text that would start a formula is neutralised (export.safe_text)."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import TYPE_STRING
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    for name in TABLES:
        columns, rows = table(con, name)
        money = TABLES[name][1]
        ws = wb.create_sheet(name[:31])
        ws.append(columns)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=c)
                if isinstance(value, str):
                    cell._value, cell.data_type = safe_text(value), TYPE_STRING
                else:
                    cell.value = float(value) if value is not None and columns[c - 1] in money else value
                    if columns[c - 1] in money:
                        cell.number_format = MONEY_FORMAT
        ws.freeze_panes = "A2"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out_path)
    return out_path
