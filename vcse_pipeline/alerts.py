"""Alerts: tell someone when a task fails (or a source goes stale), by email and by a JSON webhook.

Destinations are the [alerts] settings, and nothing is sent until one is set. Secrets never sit in a settings
file: email goes through the Airflow SMTP connection named by `smtp_conn_id` (host, login and password in e.g.
AIRFLOW_CONN_VCSE_SMTP), and the webhook address, which carries its own token, is read from the environment
variable named by `webhook_url_env`. A destination that fails is logged and never raises: an alert must not
hide, or replace, the failure it reports.

Importing this module is cheap (standard library only): the DAG files attach `alert_task_failure` at parse time,
and the configuration, requests and the SMTP provider are loaded only when an alert is sent.
"""

from __future__ import annotations

import html
import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)

ERROR_CHARS = 2000  # an alert carries the error's message, not a wall of text
WEBHOOK_RETRY_STATUS = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Delivery:
    """What became of an alert at one destination."""

    destination: str  # "email" | "webhook"
    ok: bool
    detail: str       # whom it went to, or why it did not


def send_alert(cfg: Config, subject: str, fields: dict[str, object]) -> list[Delivery]:
    """Send one alert to every configured destination: email (a line per field) and the webhook (JSON with a
    "text" field that Slack/Teams-style receivers show, plus "subject" and "fields"). Empty when none is set.

    Never raises for a destination that fails or is set wrongly: each outcome is logged and returned.
    """
    settings = cfg.section("alerts")
    lines = {str(k): _one_line(v) for k, v in fields.items() if v is not None and v != ""}
    deliveries = []
    if settings.get("email_to"):
        deliveries.append(_deliver("email", _send_email, settings, subject, lines))
    if settings.get("webhook_url_env"):
        deliveries.append(_deliver("webhook", _post_webhook, settings, subject, lines))
    for d in deliveries:
        (log.info if d.ok else log.error)("alert %r by %s: %s", subject, d.destination, d.detail)
    return deliveries


def alert_task_failure(context, source: str | None = None) -> list[Delivery]:
    """Airflow on_failure_callback: alert that a task failed for good (after its last try, or at once when
    retrying cannot help). The configuration is read now, so a DAG file reads nothing when it is parsed."""
    try:
        from .airflow_tasks import load_config

        subject, fields = task_failure_message(context, source)
        return send_alert(load_config(), subject, fields)
    except Exception as exc:  # a broken configuration or context must not turn into a second failure
        log.error("alert for a failed task not sent: %s: %s", type(exc).__name__, _one_line(exc))
        return []


def task_failure_message(context, source: str | None = None) -> tuple[str, dict[str, object]]:
    """The subject and fields of a failed-task alert: DAG, task, run, try, source, error, whether it was retried,
    and the link to the task's log in the Airflow UI."""
    from .errors import retry_can_help

    ti = context["ti"]
    error = context.get("exception")
    source = source or getattr(error, "source", None)
    map_index = getattr(ti, "map_index", None)
    task = ti.task_id + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")
    max_tries = getattr(ti, "max_tries", None)
    tries = f"{ti.try_number} of {max_tries + 1}" if max_tries is not None and max_tries >= 0 else ti.try_number
    retried = {False: "no: retrying cannot fix this error, so the task failed on this try",
               True: "yes, with backoff: every try met an error that may pass",
               None: "as the task's retries allow"}[retry_can_help(error) if error is not None else None]
    subject = f"VCSE pipeline: {ti.dag_id}.{task} failed" + (f" (source {source})" if source else "")
    fields = {"DAG": ti.dag_id, "Task": task, "Run": ti.run_id, "Try": tries, "Source": source,
              "Error": f"{type(error).__name__}: {error}" if error is not None else "(no exception: see the log)",
              "Retried": retried, "Log": getattr(ti, "log_url", None)}
    return subject, fields


# ---------------------------------------------------------------------------------------------- destinations

def _deliver(destination: str, send, settings: dict, subject: str, lines: dict[str, str]) -> Delivery:
    try:
        return Delivery(destination, True, send(settings, subject, lines))
    except Exception as exc:
        return Delivery(destination, False, f"{type(exc).__name__}: {_one_line(exc)}")


def _send_email(settings: dict, subject: str, lines: dict[str, str]) -> str:
    """Through the SMTP provider's hook and the Airflow connection `smtp_conn_id` (from AIRFLOW_CONN_<ID> or the
    metadata database); the sender is `email_from`, else the connection's from_email."""
    rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{_html_value(v)}</td></tr>"
                   for k, v in lines.items())
    body = f"<p>{html.escape(subject)}</p><table>{rows}</table>"
    return send_html_email(settings, settings["email_to"], subject, body)


def send_html_email(settings: dict, to: list[str] | str, subject: str, body: str) -> str:
    """An HTML email through the [alerts] SMTP connection (`settings`: the [alerts] section); raises when it fails.
    Used by alerts and by the opportunity feed's digest."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    to = [to] if isinstance(to, str) else list(to)
    with SmtpHook(smtp_conn_id=settings["smtp_conn_id"]) as smtp:
        smtp.send_email_smtp(to=to, subject=subject, html_content=body, from_email=settings.get("email_from") or None)
    return "sent to " + ", ".join(to)


def _post_webhook(settings: dict, subject: str, lines: dict[str, str]) -> str:
    """POST JSON {"text", "subject", "fields"}; 429 and 5xx answers and dropped connections are retried with
    backoff (honouring Retry-After), each request bounded by `timeout_seconds`."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    variable = settings["webhook_url_env"]
    url = os.environ.get(variable, "").strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"[alerts] webhook_url_env names {variable}, which is " +
                         ("not set" if not url else "not an http(s) URL"))
    retry = Retry(total=int(settings["retries"]), backoff_factor=1.0, status_forcelist=WEBHOOK_RETRY_STATUS,
                  allowed_methods=None, raise_on_status=False)  # POST too: a receiver that failed took nothing
    payload = {"text": "\n".join([subject, *(f"{k}: {v}" for k, v in lines.items())]), "subject": subject,
               "fields": lines}
    with requests.Session() as session:
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        try:
            response = session.post(url, json=payload, timeout=float(settings["timeout_seconds"]))
        except requests.RequestException as exc:  # its message holds the URL, which is a secret
            raise RuntimeError(f"the webhook in ${variable} could not be reached ({type(exc).__name__})") from None
        if response.status_code >= 400:  # the URL is a secret: name the variable, never the address
            raise RuntimeError(f"the webhook in ${variable} answered HTTP {response.status_code} {response.reason}")
    return f"posted to the webhook in ${variable}"


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 1] + "…"


def _html_value(value: str) -> str:
    escaped = html.escape(value)
    return f"<a href='{escaped}'>{escaped}</a>" if value.startswith(("http://", "https://")) else escaped
