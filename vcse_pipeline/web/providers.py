"""Find providers: the search form, a page of results, and the whole list as CSV or Excel."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..procurement.find import MONEY_COLUMNS
from .exports import table_download
from .register import RegisterView, current_register
from .render import render
from .search import BASED, INCOME_BANDS, READINESS_LEVELS, SORTS, Search, form_choices, run_search

router = APIRouter(include_in_schema=False)

# The order of the form's fields: the error summary lists errors in this order and links to each field (the second
# service box's error is "service-2": it comes with the service's, after the first's).
FIELD_ORDER = ("keywords", "service", "ward", "district", "near", "within_km", "legal_form", "income", "min_income",
               "max_income", "readiness", "based", "area", "sort")


@router.get("/providers", response_class=HTMLResponse)
def find(request: Request, register: RegisterView = Depends(current_register)):
    search = Search.from_params(request.query_params)
    outcome = run_search(register.cursor, search) if search.given else None
    page_size = request.app.state.settings["page_size"]
    errors = [] if outcome is None else sorted(outcome.errors.items(),
                                                   key=lambda kv: FIELD_ORDER.index(kv[0].split("-")[0]))
    title = "Find providers"
    if outcome is not None and not errors and outcome.pages(page_size) > 1:   # GOV.UK: which page, in the title
        title += f" (page {outcome.page(page_size)} of {outcome.pages(page_size)})"
    context = {
        "title": title if not errors else "Error: " + title,
        "search": search, "outcome": outcome, "errors": dict(errors), "error_list": errors,
        "choices": register.remember("form_choices", lambda: form_choices(register.cursor)),
        "income_bands": INCOME_BANDS, "based_choices": BASED,
        "readiness_levels": READINESS_LEVELS, "sorts": SORTS, "page_size": page_size,
        "total_providers": outcome.total_providers if outcome else register.remember(
            "providers", lambda: register.cursor.execute("SELECT count(*) FROM provider_directory").fetchone()[0]),
    }
    return render(request, "providers.html", context, register=register.info, status=400 if errors else 200)


@router.get("/providers/export.{fmt}")
def export(fmt: str, request: Request, register: RegisterView = Depends(current_register)):
    """Every provider the search finds (not only one page), with every column `vcse find` exports."""
    if fmt not in ("csv", "xlsx"):
        return render(request, "error.html", {"title": "Page not found",
                                               "message": "Lists download as .csv or .xlsx."}, status=404)
    search = Search.from_params(request.query_params)
    outcome = run_search(register.cursor, search)
    if outcome.errors:   # a link edited by hand: show the form with what is wrong
        return find(request, register)
    columns = list(outcome.result.columns)
    rows = [[row[c] for c in columns] for row in outcome.rows]
    return table_download(fmt, columns, rows, search=outcome.description, register=register.info,
                          stem="providers", sheet_title="Providers", money_columns=MONEY_COLUMNS)
