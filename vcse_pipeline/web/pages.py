"""The service's start page and its health check."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from .register import RegisterView, current_register

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def start(request: Request, register: RegisterView = Depends(current_register)):
    return request.app.state.templates.TemplateResponse(request, "start.html", {"register": register.info})


@router.get("/healthz")
def health(register: RegisterView = Depends(current_register)) -> JSONResponse:
    """For a load balancer or compose health check: 200 with the version served, 503 when there is no register."""
    return JSONResponse({"status": "ok", "version": register.info.version,
                         "published_at": register.info.published_at})
