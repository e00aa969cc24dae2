"""Opportunities: an officer picks a notice from the opportunity feed (its latest kept notices, each with the shortlist
the feed stored when it matched it: nothing is scored again here), or uploads or pastes a contract notice (an OCDS
release, or a release package) and gets the ranked shortlist of local providers with the reasons for each, as
`vcse opportunities` gives it; the same scoring (procurement.opportunities) and the same export columns.

Uploads are size-limited ([web] max_upload_kb, checked on Content-Length before the body is read, and on each
part) and read defensively: a file that is not JSON, not OCDS, or holds no usable release gets a message on the
page, never a 500. The notice travels back, with where it came from, in the choose and export forms, so no
upload is kept on the server.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import PipelineError
from ..lookups import single_area
from . import feed
from .exports import table_download
from .register import RegisterView, current_register
from .render import for_officers, render

router = APIRouter(include_in_schema=False)

FORM_OVERHEAD = 64 * 1024   # multipart boundaries and the other fields, on top of the notice itself
SHORTLIST_SHOWN = 50        # providers on the page; the export carries every match


class NoticeProblem(Exception):
    """What is wrong with the notice given, for the page (and which field to point at: the file input unless the
    notice was pasted)."""

    def __init__(self, message: str, field: str = "notice_file") -> None:
        super().__init__(message)
        self.field = field


def _limit(request: Request) -> int:
    return request.app.state.settings["max_upload_kb"] * 1024


async def read_form(request: Request) -> dict:
    """The posted form's notice text (from the file, else the pasted text), where it came from (`field`: the form
    field to point an error at) and release id; NoticeProblem when the body is too big or unreadable."""
    limit = _limit(request)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise NoticeProblem("Your browser sent the file without its size: try again, or paste the notice instead")
    if int(length) > limit + FORM_OVERHEAD:
        raise NoticeProblem(f"The notice must be smaller than {limit // 1024:,} KB")
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=limit)
    except StarletteHTTPException as exc:   # a malformed or oversized multipart body
        raise NoticeProblem(f"The form could not be read ({exc.detail}): try again") from None
    text = ""
    upload = form.get("notice_file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise NoticeProblem(f"The notice must be smaller than {limit // 1024:,} KB", "notice_file")
        if not data.strip():
            raise NoticeProblem("The selected file is empty", "notice_file")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise NoticeProblem("The selected file must be an OCDS JSON file (it is not text)", "notice_file") from None
        source, field = f"the file {upload.filename}", "notice_file"
    else:
        # The notice's text travels back in the choose and export forms with its source (notice_source): a notice
        # chosen from an uploaded file stays "the file X", not "the pasted notice". Only a file's name is taken.
        text = str(form.get("notice_text") or "")
        given = str(form.get("notice_source") or "")
        source = given if given.startswith("the file ") else "the pasted notice"
        field = "notice_text"
    if not text.strip():
        raise NoticeProblem("Select a notice file or paste the notice's JSON", "notice_file")
    return {"text": text, "source": source[:250], "field": field,
            "release_id": str(form.get("release_id") or "")[:300]}


def _releases(text: str, source: str, release_id: str | None, field: str = "notice_file"):
    """(the chosen release, every release's summary) read by procurement.opportunities, whose checks and
    messages are the CLI's; the file name in its messages is the uploaded file's. A problem points at `field`."""
    from ..procurement.ocds import list_releases, load_release

    with tempfile.TemporaryDirectory(prefix="vcse-notice-") as folder:
        path = Path(folder) / "notice.json"
        path.write_text(text, encoding="utf-8")
        try:
            releases = list_releases(path)
            if len(releases) > 1 and not release_id:
                return None, releases
            return load_release(path, release_id or None), releases
        except PipelineError as exc:
            message = str(exc).replace(f"notice file {path}", source).split("\n")[0]
            raise NoticeProblem(for_officers(message), field) from None
        except (RecursionError, ValueError, TypeError, AttributeError) as exc:  # JSON of an unexpected shape
            raise NoticeProblem(f"{source} is not an OCDS release the register can read ({type(exc).__name__})",
                                field) from None


def shortlist(con: duckdb.DuckDBPyConnection, release: dict):
    from ..procurement.opportunities import describe_notice, match_notice

    area_code = single_area(con)
    notice = describe_notice(con, release, area_code)
    return notice, match_notice(con, release, area_code, limit=0, notice=notice)


def notice_areas(notice) -> str:
    """The service areas the notice names in its words, then those its CPV codes fit, by label."""
    by_text = [notice.label(sa) for sa, _in_title, _words in notice.text_service_areas]
    by_cpv = list(dict.fromkeys(notice.label(sa) for sa, _cpv, _how in notice.service_areas))
    parts = [", ".join(by_text)] if by_text else []
    parts += [f"by CPV code: {', '.join(by_cpv)}"] if by_cpv else []
    return "; ".join(parts) or "None the register knows"


def _form_page(request: Request, register: RegisterView, problem: NoticeProblem | None = None, status: int = 200,
               feed_view: RegisterView | None = None, page: int = 1, pasted: str = ""):
    """The form; with a problem, its error on the field it concerns and the pasted notice (if any) given back."""
    errors = {problem.field: str(problem)} if problem else {}
    return render(request, "opportunities.html",
                  {"title": ("Error: " if problem else "") + "Opportunities",
                   "errors": errors, "error_list": list(errors.items()), "feed": _feed_page(request, register,
                                                                                             feed_view, page),
                   "max_kb": _limit(request) // 1024, "pasted": pasted}, register=register.info, status=status)


def _feed_page(request: Request, register: RegisterView, feed_view: RegisterView | None, page: int) -> dict | None:
    """One page of the feed's latest notices for the register's area, or None when no feed is published."""
    if feed_view is None:
        return None
    page_size = request.app.state.settings["page_size"]
    area_code = single_area(register.cursor)
    total = feed.count_notices(feed_view.cursor, area_code)
    pages = max(1, -(-total // page_size))
    page = min(max(page, 1), pages)
    return {"info": feed_view.info, "total": total, "page": page, "pages": pages,
            "notices": feed.latest_notices(feed_view.cursor, area_code, page_size, (page - 1) * page_size),
            "href": lambda n: f"/opportunities?page={n}"}


@router.get("/opportunities", response_class=HTMLResponse)
def form(request: Request, page: int = Query(1, ge=1, le=100_000),
         register: RegisterView = Depends(current_register),
         feed_view: RegisterView | None = Depends(feed.current_feed)):
    return _form_page(request, register, feed_view=feed_view, page=page)


def _feed_notice(register: RegisterView, feed_view: RegisterView | None, ocid: str) -> tuple[str, dict]:
    """(the area, the kept notice with that ocid in the current feed); 404 when there is none."""
    if feed_view is None:
        raise HTTPException(404, "No opportunity feed has been published yet.")
    area_code = single_area(register.cursor)
    found = feed.notice(feed_view.cursor, area_code, ocid[:200])
    if found is None:
        raise HTTPException(404, "There is no notice with that identifier in the opportunity feed. The feed keeps "
                                 "only notices that concern the area.")
    return area_code, found


@router.get("/opportunities/notices/{ocid}", response_class=HTMLResponse)
def feed_notice(ocid: str, request: Request, register: RegisterView = Depends(current_register),
                feed_view: RegisterView | None = Depends(feed.current_feed)):
    area_code, found = _feed_notice(register, feed_view, ocid)
    return render(request, "feed_notice.html",
                  {"title": f"Notice: {found['title'] or found['ocid']}", "notice": found,
                   "matches": feed.stored_shortlist(feed_view.cursor, area_code, found["ocid"]),
                   "feed_info": feed_view.info}, register=register.info)


@router.get("/opportunities/notices/{ocid}/shortlist.{fmt}")
def feed_notice_export(ocid: str, fmt: str, register: RegisterView = Depends(current_register),
                       feed_view: RegisterView | None = Depends(feed.current_feed)):
    from ..procurement.export import SHORTLIST_COLUMNS, SHORTLIST_MONEY_COLUMNS, shortlist_headings

    if fmt not in ("csv", "xlsx"):
        raise HTTPException(404, "Lists download as .csv or .xlsx.")
    area_code, found = _feed_notice(register, feed_view, ocid)
    rows = feed.stored_shortlist(feed_view.cursor, area_code, found["ocid"])
    return table_download(fmt, SHORTLIST_COLUMNS, [[r[c] for c in SHORTLIST_COLUMNS] for r in rows],
                          search=f"feed shortlist for notice {found['release_id']}: {found['title']}",
                          register=feed_view.info, stem="shortlist", sheet_title="Shortlist",
                          money_columns=SHORTLIST_MONEY_COLUMNS, headings=shortlist_headings())


@router.post("/opportunities", response_class=HTMLResponse)
async def match(request: Request, register: RegisterView = Depends(current_register)):
    given: dict = {}
    try:
        given = await read_form(request)
        release, releases = _releases(given["text"], given["source"], given["release_id"], given["field"])
    except NoticeProblem as problem:
        return _form_page(request, register, problem, status=400 if "smaller" not in str(problem) else 413,
                          pasted=given["text"] if given.get("field") == "notice_text" else "")
    if release is None:   # a package of several notices: the officer picks one
        return render(request, "opportunity_choose.html",
                      {"title": "Choose a notice", "releases": releases, "text": given["text"],
                       "source": given["source"]}, register=register.info)
    notice, matches = shortlist(register.cursor, release)
    return render(request, "opportunity.html",
                  {"title": f"Shortlist: {notice.title}", "notice": notice, "notice_areas": notice_areas(notice),
                   "matches": matches[:SHORTLIST_SHOWN],
                   "matched": len(matches), "text": given["text"], "source": given["source"],
                   "release_id": given["release_id"] or release.get("id") or ""}, register=register.info)


@router.post("/opportunities/export.{fmt}")
async def export(fmt: str, request: Request, register: RegisterView = Depends(current_register)):
    from ..procurement.export import (
        SHORTLIST_COLUMNS,
        SHORTLIST_MONEY_COLUMNS,
        shortlist_headings,
        shortlist_rows,
    )

    if fmt not in ("csv", "xlsx"):
        return render(request, "error.html", {"title": "Page not found",
                                               "message": "Lists download as .csv or .xlsx."}, status=404)
    given = {}
    try:
        given = await read_form(request)
        release, _releases_found = _releases(given["text"], given["source"], given["release_id"], given["field"])
        if release is None:
            raise NoticeProblem("Choose the notice to export the shortlist of", given["field"])
    except NoticeProblem as problem:
        return _form_page(request, register, problem, status=400,
                          pasted=given["text"] if given.get("field") == "notice_text" else "")
    notice, matches = shortlist(register.cursor, release)
    return table_download(fmt, SHORTLIST_COLUMNS, shortlist_rows(matches, notice),
                          search=f"shortlist for notice {notice.release_id}: {notice.title}", register=register.info,
                          stem="shortlist", sheet_title="Shortlist", money_columns=SHORTLIST_MONEY_COLUMNS,
                          headings=shortlist_headings())
