"""Rendering pages: the templates with the register version they show, and the filters the templates use."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from .register import RegisterInfo

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SERVICE_NAME = "Find VCSE providers"
NAVIGATION = (("/providers", "Find providers"), ("/wards", "Wards"), ("/opportunities", "Opportunities"),
              ("/spend", "Local spend"), ("/about", "About the data"))

# The library's unknown-value errors end by naming the CLI command that lists the choices; a page lists them itself.
_CLI_HINT = re.compile(r"\s*\(`vcse [^`]*` lists them\)|;\s*`vcse [^`]*` lists them")
_CHOICES = re.compile(r"; choose from: .*$", re.S)
# The CLI's options as the form's fields name them.
FIELD_NAMES = {"--near": "‘Near a postcode’", "--within-km": "‘Within’", "--min-income": "‘Income from’",
               "--max-income": "‘Income up to’", "--postcode-district": "‘Postcode district’", "--ward": "‘Ward’",
               "--keyword": "‘Keywords’", "--service": "‘Service area’", "--legal-form": "‘Legal form’",
               "--area": "‘Council area’", "--release-id": "the notice to use"}
_OPTION = re.compile("|".join(re.escape(o) for o in sorted(FIELD_NAMES, key=len, reverse=True)))


def for_officers(message: str, listed: bool = True) -> str:
    """A library error message as a page shows it: the form's field names for the CLI's options, without the
    "`vcse find --list wards` lists them" hint, and when the field suggests its values (`listed`), without the
    list of every choice after a "did you mean"."""
    message = _CLI_HINT.sub("", message)
    if listed:
        message = _CHOICES.sub("; choose one of the suggested values", message)
    message = _OPTION.sub(lambda m: FIELD_NAMES[m.group(0)], message)
    return sentence(message)


def sentence(text: str) -> str:
    """The text with its first letter in capitals (and the rest as it was, unlike str.capitalize)."""
    return text[:1].upper() + text[1:] if text else text


def money(value) -> str:
    return "" if value is None else f"£{value:,.0f}"


def number(value) -> str:
    return "" if value is None else f"{value:,}"


def percent(value) -> str:
    """A share (0-1) as "67.9%"."""
    return "" if value is None else f"{100 * value:.1f}%"


def day(value) -> str:
    """A date or time as "3 December 2026" (the GOV.UK style)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value.day} {value:%B %Y}" if isinstance(value, date) else str(value)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    env = templates.env
    env.globals.update(service_name=SERVICE_NAME, navigation=NAVIGATION)
    env.filters.update(money=money, number=number, percent=percent, day=day, sentence=sentence)
    return templates


def render(request: Request, template: str, context: dict, *, register: RegisterInfo | None = None,
           status: int = 200) -> Response:
    """A page: `template` with `context`, and the register version it was read from (shown in the footer)."""
    return request.app.state.templates.TemplateResponse(
        request, template, {**context, "register": register}, status_code=status)
