"""Payment-file layouts: the canonical fields, the built-in column maps of real councils' headers, a config file
for a new publisher's layout, and finding the header row (title rows above it are skipped)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError

# The canonical payment line every layout maps onto (all text until spend/read.py types amount and date).
FIELDS = ("payment_date", "amount", "supplier_name", "supplier_id", "company_number", "charity_number",
          "supplier_postcode", "expense_area", "expense_type", "description", "transaction_ref", "vat")
REQUIRED = ("payment_date", "amount", "supplier_name")
# A header row is looked for among this many first rows (title rows, blank lines, a publisher's notes).
HEADER_SEARCH_ROWS = 30


def header_key(text) -> str:
    """A header cell compared loosely: case, punctuation and spacing ignored ("Supplier(Beneficiary) Name" and
    "Supplier (Beneficiary) Name" are one key)."""
    return re.sub(r"[^a-z0-9£]+", " ", str(text or "").lower()).strip()


@dataclass(frozen=True)
class Layout:
    """One publisher layout: canonical field -> header as published; `basis` net or gross."""
    name: str
    columns: dict[str, str]
    basis: str = "net"

    def keys(self) -> dict[str, str]:
        return {field: header_key(header) for field, header in self.columns.items()}


# The real headers listed in docs/spend.md (from councils' published files).
BUILT_IN = (
    Layout("lga", {
        "payment_date": "Date", "amount": "Net Amount", "vat": "Irrecoverable VAT",
        "supplier_name": "Supplier(Beneficiary) Name", "company_number": "Supplier Registered Company Number",
        "charity_number": "Supplier Registered Charity Number", "supplier_id": "Supplier ID",
        "expense_area": "Expense Area",
        "expense_type": "Procurement Classification: Council's Procurement Category Name",
        "description": "Purpose of Spend (Summary)", "transaction_ref": "Internal Ref Number"}),
    Layout("lga_early", {
        "expense_area": "Service area categorisation", "expense_type": "Expenses type", "payment_date": "Date",
        "transaction_ref": "Transaction number", "amount": "Amount", "supplier_name": "Supplier name"},
        basis="gross"),
    Layout("lga_full", {
        "expense_area": "Service_Area_Categorisation", "expense_type": "Expenses_Type", "description": "Narrative",
        "payment_date": "Date", "transaction_ref": "Transaction_Number", "amount": "Amount",
        "supplier_name": "Supplier_Name", "supplier_id": "Supplier_ID"}),
    Layout("manchester", {
        "expense_area": "Service Area", "expense_type": "Expenses Type", "payment_date": "Invoice Payment Date",
        "transaction_ref": "Transaction Number", "amount": "Net Amount", "supplier_name": "Supplier Name"}),
    Layout("bradford", {
        "expense_area": "Service Label", "expense_type": "Expenditure category", "payment_date": "Payment date",
        "transaction_ref": "Transaction Number", "amount": "Net Amount", "supplier_id": "Supplier Number",
        "supplier_name": "Supplier Name"}),
    Layout("harrogate", {
        "expense_type": "Expenditure Category", "expense_area": "Service Label", "payment_date": "Payment Date",
        "supplier_name": "Supplier Name", "transaction_ref": "Transaction No.", "amount": "Net Amount",
        "description": "Narrative"}),
    Layout("newcastle", {
        "expense_area": "Service Area", "expense_type": "Group Description", "payment_date": "Paid Date",
        "supplier_name": "Supplier Name", "transaction_ref": "Internal Ref", "amount": "Total (excludes VAT)"}),
    Layout("north_tyneside", {
        "payment_date": "Payment Date", "transaction_ref": "Transaction Number", "amount": "Net Amount",
        "supplier_name": "Supplier (Beneficiary) Name", "supplier_id": "Local Supplier Internal Reference",
        "expense_area": "Directorate / Service Where Expenditure Incurred",
        "expense_type": "SeRCOP Expenditure Category", "description": "Purpose of Spend"}),
    Layout("gla", {
        "supplier_id": "Vendor ID", "supplier_name": "Vendor Name",
        "expense_type": "Expenditure Account Code Description", "transaction_ref": "Document No",
        "amount": "Amount", "payment_date": "Clearing Date", "expense_area": "Directorate"}),
    # 360Giving's flat CSV/XLSX form of grants (the JSON form is read by spend/grants.py).
    Layout("360giving_flat", {
        "transaction_ref": "Identifier", "description": "Title", "amount": "Amount Awarded",
        "payment_date": "Award Date", "supplier_id": "Recipient Org:Identifier",
        "supplier_name": "Recipient Org:Name", "charity_number": "Recipient Org:Charity Number",
        "company_number": "Recipient Org:Company Number", "supplier_postcode": "Recipient Org:Postal Code",
        "expense_area": "Funding Org:Name"}, basis="gross"),
)


def load_layouts(path: str | Path | None) -> list[Layout]:
    """The built-in layouts, after the ones in a TOML file (a new publisher's header, tried first):

        [layouts.wirral]
        basis = "net"
        payment_date = "Posting Date"
        amount = "Value"
        supplier_name = "Payee"
    """
    if not path:
        return list(BUILT_IN)
    path = Path(path)
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PipelineError(f"spend layouts file {path}: {exc}") from exc
    custom = []
    for name, table in (tree.get("layouts") or {}).items():
        if not isinstance(table, dict):
            raise PipelineError(f"spend layouts file {path}: [layouts.{name}] must be a table")
        basis = table.pop("basis", "net")
        unknown = sorted(set(table) - set(FIELDS))
        missing = [f for f in REQUIRED if f not in table]
        if basis not in ("net", "gross") or unknown or missing:
            raise PipelineError(
                f"spend layouts file {path}: [layouts.{name}] "
                + (f"basis {basis!r} must be net or gross" if basis not in ("net", "gross") else
                   f"unknown field(s) {', '.join(unknown)}; the fields are {', '.join(FIELDS)}" if unknown else
                   f"needs {', '.join(missing)}"))
        custom.append(Layout(name, {k: str(v) for k, v in table.items()}, basis))
    return custom + list(BUILT_IN)


def match_layout(row: list, layouts: list[Layout]) -> tuple[Layout, dict[str, int]] | None:
    """The layout whose every header is in `row` (the one naming most columns when several are), with each
    canonical field's column position; None when none is."""
    keys = [header_key(cell) for cell in row]
    best = None
    for layout in layouts:
        wanted = layout.keys()
        if all(key in keys for key in wanted.values()):
            if best is None or len(wanted) > len(best[0].columns):
                best = (layout, {field: keys.index(key) for field, key in wanted.items()})
    return best


def find_header(rows, layouts: list[Layout], file: str) -> tuple[int, Layout, dict[str, int]]:
    """(0-based row index of the header, its layout, field positions) among the first rows, or a PipelineError
    naming the file and the header it saw."""
    first = None
    for index, row in enumerate(rows):
        if index >= HEADER_SEARCH_ROWS:
            break
        if first is None and any(str(c or "").strip() for c in row):
            first = row
        found = match_layout(row, layouts)
        if found:
            return index, found[0], found[1]
    seen = ", ".join(str(c) for c in (first or []) if str(c or "").strip()) or "(no text)"
    raise PipelineError(f"spend file {file}: no known payment layout in the first {HEADER_SEARCH_ROWS} rows "
                        f"(first row: {seen[:300]}); add the publisher's header to a layouts file "
                        "([spend] layouts_file, see docs/spend.md)")
