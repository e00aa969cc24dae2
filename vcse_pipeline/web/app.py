"""The FastAPI app: settings, the register reader, templates, static assets, security headers, error pages, and
the routers of each part (pages, the reconciliation service, the JSON API)."""

from __future__ import annotations

import importlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Config
from ..procurement.feed.store import PUBLISHED_NAME
from ..spend.run import database_path as spend_database_path
from .feed import FeedReader
from .register import RegisterReader, RegisterUnavailable
from .render import SERVICE_NAME, make_templates
from .spend import SpendReader

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Paths that answer in JSON (machines), not HTML pages (people): errors there are JSON too.
JSON_PREFIXES = ("/api", "/reconcile", "/openapi.json")

# Routers other modules add, mounted when the module is there: (module in this package, attribute).
OPTIONAL_ROUTERS = (("reconcile", "router"), ("api", "router"))

# Sent with every response. The pages load scripts, styles and images from this app only; map tiles come from
# the configured tile server (added to img-src by create_app).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), camera=(), microphone=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


# Pages other sites show in a frame (OpenRefine's reconciliation preview card): sent without X-Frame-Options, whose
# DENY older browsers obey over the page's own CSP frame-ancestors, which says who may frame it.
FRAMEABLE_PATHS = ("/reconcile/preview",)


def content_security_policy(tile_url: str) -> str:
    tiles = tile_origin(tile_url)
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data:{' ' + tiles if tiles else ''}; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def tile_origin(tile_url: str) -> str:
    """The scheme and host of the tile URL template (with {s} as a wildcard subdomain), for the CSP."""
    if "://" not in tile_url:
        return ""
    scheme, rest = tile_url.split("://", 1)
    host = rest.split("/", 1)[0].replace("{s}", "*")
    return f"{scheme}://{host}"


class SecurityHeaders:
    """Pure ASGI middleware: the security headers on every response, and any unhandled error as a plain "there is
    a problem" page (logged with its traceback, never shown). Outermost but for Starlette's ServerErrorMiddleware,
    so its 500 page carries the headers too."""

    def __init__(self, app, csp: str) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        self.frameable_headers = [h for h in self.headers if h[0] != b"x-frame-options"]
        self.csp = (b"content-security-policy", csp.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the API's OpenAPI page loads Swagger UI from a CDN: the framework's own page, without the CSP
        headers = self.frameable_headers if scope["path"] in FRAMEABLE_PATHS else self.headers
        extra = headers if scope["path"].startswith("/api/docs") else [*headers, self.csp]
        started = False

        async def send_with_headers(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in extra if h[0] not in names)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("error serving %s", scope["path"])
            if started:
                raise   # the response is half sent: nothing better to do than end it
            request = Request(scope)
            await error_page(request, 500, "Sorry, there is a problem with the service", "Try again later.")(
                scope, receive, send_with_headers)


def create_app(cfg: Config | None = None, *, register_path: Path | None = None) -> FastAPI:
    """The app over the published register of `cfg` (default: Config.load()), or over `register_path`, the
    opportunity feed published beside it, and the local spend database ([spend] database)."""
    cfg = cfg or Config.load()
    settings = cfg.section("web")
    register_path = Path(register_path or cfg.register_path)
    reader = RegisterReader(register_path, threads=settings["duckdb_threads"],
                            memory_limit=settings["duckdb_memory_limit"])
    feed = FeedReader(register_path.parent / PUBLISHED_NAME, threads=settings["duckdb_threads"],
                      memory_limit=settings["duckdb_memory_limit"])
    spend_reader = SpendReader(spend_database_path(cfg), threads=settings["duckdb_threads"],
                               memory_limit=settings["duckdb_memory_limit"])

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        reader.close()
        feed.close()
        spend_reader.close()

    app = FastAPI(title=SERVICE_NAME, summary="The VCSE register, read-only: search providers, reconcile names.",
                  lifespan=lifespan, docs_url="/api/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.cfg = cfg
    app.state.settings = settings
    app.state.register = reader
    app.state.feed = feed
    app.state.spend = spend_reader
    app.state.templates = make_templates()
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings["tile_url"]))
    _add_error_pages(app)
    from . import about, opportunities, organisation, pages, providers, spend, wards

    for page in (pages, providers, organisation, wards, opportunities, spend, about):
        app.include_router(page.router)
    for module_name, attribute in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(f"{__package__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module_name}":
                raise   # the module is there but imports something missing: a real error
            continue
        app.include_router(getattr(module, attribute))
    return app


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    """An error as the page or JSON the client expects; never a traceback."""
    if wants_json(request):
        return JSONResponse({"error": title, "detail": message}, status_code=status)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message}, status_code=status)


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(RegisterUnavailable)
    async def register_unavailable(request: Request, exc: RegisterUnavailable) -> Response:
        log.error("register unavailable: %s", exc)
        return error_page(request, 503, "Sorry, the register is not available",
                          "The register has not been published yet, or cannot be read. Try again later.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_page(request, 404, "Page not found",
                              exc.detail if exc.detail and exc.detail != "Not Found" else
                              "If you typed the web address, check it is correct.")
        return error_page(request, exc.status_code, "Sorry, there is a problem", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            return JSONResponse({"error": "invalid request", "detail": jsonable_errors(exc)}, status_code=422)
        return error_page(request, 400, "Sorry, there is a problem with that request",
                          "Check the address or go back and try again.")

def jsonable_errors(exc: RequestValidationError) -> list[dict]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
