"""Alerts reach a real SMTP server (aiosmtpd) and a JSON webhook receiver, both on 127.0.0.1, and name the DAG,
task, source and error of a task that failed under Airflow; nothing is sent unless [alerts] says where; a broken
destination never hides the task's own error."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import socket
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from airflow_runs import airflow_env, run_dags, vcse_toml
from http_fault_server import FaultServer

# The SMTP provider imports Airflow, which writes airflow.cfg into AIRFLOW_HOME: keep it out of the user's home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="vcse-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from test_fail_fast import CH_FILE, companies_house_zip, truncated  # noqa: E402

from vcse_pipeline.alerts import send_alert  # noqa: E402
from vcse_pipeline.config import Config  # noqa: E402
from vcse_pipeline.run_history import read_history  # noqa: E402

WEBHOOK_VARIABLE = "VCSE_ALERT_WEBHOOK_URL"
SECRET_PATH = "/services/T0VCSE/B0ALERTS/s3cr3tT0k3n"  # a Slack-style webhook path: the token is in the URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every message delivered."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def text(self, i: int = 0) -> str:
        message = self.messages[i]
        return message["Subject"] + "\n" + message.get_body(("html", "plain")).get_content()


@contextlib.contextmanager
def running_smtp_server():
    """(mailbox, port) of an SMTP server on 127.0.0.1 for the block's length."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


class WebhookReceiver:
    """A Slack/Teams-style incoming webhook on 127.0.0.1: records each JSON body; answers with `statuses` in
    turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None):
        self.bodies: list[dict] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                payload = b"ok" if status == 200 else b"error"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{SECRET_PATH}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def smtp_connection(port: int) -> str:
    """An Airflow SMTP connection URI (AIRFLOW_CONN_VCSE_SMTP) for a plain local server."""
    return (f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true&timeout=10&retry_limit=0"
            "&from_email=vcse-pipeline%40example.org")


def alerts_config(**settings) -> Config:
    return Config.load(environ={}, overrides={"alerts": settings})


FIELDS = {"Source": "companies_house", "Age": "52 days (expected at most 45)", "Staged": "2026-10-12T06:00:00+00:00"}


# ---------------------------------------------------------------------------------------------- send_alert

def test_an_alert_goes_by_email_and_webhook(smtp_server, webhook, monkeypatch):
    mailbox, port = smtp_server
    monkeypatch.setenv("AIRFLOW_CONN_VCSE_SMTP", smtp_connection(port))
    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    cfg = alerts_config(email_to=["data-team@wirral.example.org", "duty@wirral.example.org"],
                        webhook_url_env=WEBHOOK_VARIABLE)

    deliveries = send_alert(cfg, "VCSE pipeline: companies_house is stale", FIELDS)

    assert [(d.destination, d.ok) for d in deliveries] == [("email", True), ("webhook", True)], deliveries
    assert mailbox.recipients == [["data-team@wirral.example.org", "duty@wirral.example.org"]]
    message = mailbox.messages[0]
    assert message["Subject"] == "VCSE pipeline: companies_house is stale"
    assert message["From"] == "vcse-pipeline@example.org"  # the connection's from_email
    body = mailbox.text()
    for name, value in FIELDS.items():
        assert f"<th align='left'>{name}</th><td>{value}</td>" in body
    assert webhook.bodies == [{
        "text": "VCSE pipeline: companies_house is stale\nSource: companies_house\nAge: 52 days (expected at most 45)"
                "\nStaged: 2026-10-12T06:00:00+00:00",
        "subject": "VCSE pipeline: companies_house is stale", "fields": FIELDS}]


def test_the_webhook_is_retried_after_a_503_and_a_429(webhook, monkeypatch):
    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    webhook.statuses = [503, 429]
    [delivery] = send_alert(alerts_config(webhook_url_env=WEBHOOK_VARIABLE, retries=2), "subject", FIELDS)
    assert delivery.ok and len(webhook.bodies) == 3
    assert webhook.bodies[0] == webhook.bodies[2]


def test_nothing_is_sent_unless_alerts_are_configured(smtp_server, webhook, monkeypatch):
    mailbox, port = smtp_server
    # The destinations exist in the environment, but [alerts] (defaults: off) names none of them.
    monkeypatch.setenv("AIRFLOW_CONN_VCSE_SMTP", smtp_connection(port))
    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    assert send_alert(Config.load(environ={}), "subject", FIELDS) == []
    assert mailbox.messages == [] and webhook.bodies == []


def test_a_broken_destination_is_reported_not_raised_and_the_other_still_gets_the_alert(webhook, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_VCSE_SMTP", smtp_connection(free_port()))  # nothing listens there
    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    cfg = alerts_config(email_to="data-team@wirral.example.org", webhook_url_env=WEBHOOK_VARIABLE, retries=1)
    email_result, webhook_result = send_alert(cfg, "subject", FIELDS)
    assert not email_result.ok and "ConnectionRefusedError" in email_result.detail
    assert webhook_result.ok and len(webhook.bodies) == 1

    webhook.statuses = [500, 500]
    [failed] = send_alert(alerts_config(webhook_url_env=WEBHOOK_VARIABLE, retries=1), "subject", FIELDS)
    assert not failed.ok and failed.detail.endswith(f"the webhook in ${WEBHOOK_VARIABLE} answered HTTP 500 "
                                                    "Internal Server Error")
    assert SECRET_PATH not in failed.detail  # the URL carries the receiver's token

    monkeypatch.delenv(WEBHOOK_VARIABLE)
    [unset] = send_alert(alerts_config(webhook_url_env=WEBHOOK_VARIABLE), "subject", FIELDS)
    assert not unset.ok and f"[alerts] webhook_url_env names {WEBHOOK_VARIABLE}, which is not set" in unset.detail


def test_vcse_alert_test_sends_a_test_alert_and_says_where_it_went(webhook, tmp_path, monkeypatch, capsys):
    from vcse_pipeline.cli import main

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("VCSE")]:
        monkeypatch.delenv(name)
    site = tmp_path / "site.toml"
    site.write_text("[paths]\ndata_dir = 'data'\n", encoding="utf-8")
    monkeypatch.setattr("sys.argv", ["vcse", "alert-test", "--config", str(site)])
    with pytest.raises(SystemExit) as off:
        main()
    assert off.value.code == 1 and "alerts are off: set [alerts] email_to" in " ".join(capsys.readouterr().err.split())

    site.write_text(f"[alerts]\nwebhook_url_env = '{WEBHOOK_VARIABLE}'\n", encoding="utf-8")
    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    with pytest.raises(SystemExit) as sent:
        main()
    assert sent.value.code == 0
    assert f"webhook: ok posted to the webhook in ${WEBHOOK_VARIABLE}" in " ".join(capsys.readouterr().out.split())
    [body] = webhook.bodies
    assert body["subject"] == "VCSE pipeline: test alert" and body["fields"]["Sent by"].startswith("vcse alert-test")

    webhook.statuses = [500] * 4
    with pytest.raises(SystemExit) as failed:
        main()
    assert failed.value.code == 1
    assert "the test alert did not reach: webhook" in " ".join(capsys.readouterr().err.split())


def test_every_task_of_every_dag_alerts_on_failure_and_carries_the_retry_policy():
    from airflow.dag_processing.dagbag import DagBag

    from vcse_pipeline.alerts import alert_task_failure

    dags = DagBag(dag_folder=str(Path(__file__).resolve().parent.parent / "dags")).dags
    assert len(dags) == 9  # five sources, the register, freshness, the opportunity feed, local spend
    for dag in dags.values():
        source = dag.dag_id.removeprefix("vcse_source_") if dag.dag_id.startswith("vcse_source_") else None
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            [callback] = [c for c in callbacks if getattr(c, "func", None) is alert_task_failure]
            assert callback.keywords == {"source": source}, task
            # A source task that fails for good also ends the source's refresh (the register stops waiting for it).
            others = [getattr(c, "__name__", c) for c in callbacks if c is not callback]
            assert others == (["end_refresh_on_failure"] if source else []), task
            assert type(task.retry_policy).__name__ == "PipelineRetryPolicy", task


# ---------------------------------------------------------------------------------------------- under Airflow

@pytest.mark.slow
def test_a_task_failing_under_airflow_alerts_with_dag_task_source_and_error(tmp_path, smtp_server, webhook):
    mailbox, port = smtp_server
    broken_webhook = WebhookReceiver(statuses=[500] * 10)
    env = airflow_env(tmp_path)
    destinations = {"AIRFLOW_CONN_VCSE_SMTP": smtp_connection(port), WEBHOOK_VARIABLE: webhook.url}
    alerts_on = {"email_to": ["data-team@wirral.example.org"], "webhook_url_env": WEBHOOK_VARIABLE}
    try:
        with FaultServer({f"/{CH_FILE}": truncated(companies_house_zip())}) as server:
            def run(name: str, env: dict, **alerts) -> dict:
                config = vcse_toml(tmp_path / name, **{"sources.companies_house": {"url": server.url(f"/{CH_FILE}")}},
                                   **({"alerts": alerts} if alerts else {}))
                return {"dag_id": "vcse_source_companies_house", "config": config, "env": env}

            plan = [run("on", destinations, **alerts_on),
                    run("off", destinations),  # destinations in the environment, none named in [alerts]
                    run("broken", {"AIRFLOW_CONN_VCSE_SMTP": smtp_connection(free_port()),
                                   WEBHOOK_VARIABLE: broken_webhook.url}, **alerts_on, retries=1)]
            (on, off, broken), output = run_dags(env, plan, tmp_path / "runs")
    finally:
        broken_webhook.close()

    for result in (on, off, broken):  # the task's own outcome is the same whatever the alerts do
        assert result["state"] == "failed"
        assert result["tasks"]["download"]["state"] == "failed" and result["tasks"]["download"]["tries"] == 1
    # Each failed run is one line in its data folder's run history, written by the source tasks' failure callback.
    for name in ("on", "off", "broken"):
        [record] = read_history(Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / name)}}))
        assert record["status"] == "failed" and record["run_id"].startswith("companies_house-manual__")
        assert record["message"].startswith(f"download companies_house failed: source companies_house, file "
                                            f"{CH_FILE}: expected a zip file")

    # Alerts on: one email and one webhook post, for the one failure.
    assert len(mailbox.messages) == 1 and len(webhook.bodies) == 1
    subject = "VCSE pipeline: vcse_source_companies_house.download failed (source companies_house)"
    assert mailbox.messages[0]["Subject"] == subject
    fields = webhook.bodies[0]["fields"]
    assert webhook.bodies[0]["subject"] == subject
    assert fields["DAG"] == "vcse_source_companies_house" and fields["Task"] == "download"
    assert fields["Source"] == "companies_house" and fields["Try"] == "1 of 4"
    assert fields["Run"].startswith("manual__")
    assert fields["Error"].startswith(f"DownloadError: source companies_house, file {CH_FILE}: expected a zip file")
    assert "not a readable zip (truncated or another format)" in fields["Error"]
    assert fields["Retried"].startswith("no: retrying cannot fix this error")
    assert fields["Log"] == (f"http://localhost:8080/dags/vcse_source_companies_house/runs/{quote(fields['Run'])}"
                             "/tasks/download?try_number=1")  # [api] base_url: the UI's address
    assert "not a readable zip" in mailbox.text() and fields["Log"] in mailbox.text()
    for name in ("DAG", "Task", "Source", "Error"):
        assert f"{name}: {fields[name]}" in webhook.bodies[0]["text"]

    # Alerts off: nothing more arrived. Broken destinations: tried (2 webhook requests: retries = 1), logged, and
    # the task's own error still failed it on its first try.
    assert len(broken_webhook.bodies) == 2
    assert "by email: ConnectionRefusedError" in output
    assert f"by webhook: RuntimeError: the webhook in ${WEBHOOK_VARIABLE} answered HTTP 500" in output
    assert SECRET_PATH not in output
    assert output.count("reason='not retried: DownloadError cannot heal by waiting'") == 3


# ---------------------------------------------------------------------------------------------- stale sources

def register_with_sources(path: Path, sources: dict) -> Path:
    """A published register whose latest published run recorded `sources` (what freshness reads)."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE run_history (run_id VARCHAR, status VARCHAR, finished_at VARCHAR, sources VARCHAR)")
    con.execute("INSERT INTO run_history VALUES ('run1', 'published', '2026-12-19T07:00:00+00:00', ?)",
                [json.dumps(sources)])
    con.close()
    return path


def test_one_alert_names_every_stale_source_and_none_is_sent_when_all_are_fresh(tmp_path, webhook, monkeypatch):
    from test_freshness import NOW, RECORD, staged

    from vcse_pipeline.freshness import alert_stale_sources

    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    cfg = Config.load(environ={}, overrides={"paths": {"data_dir": str(tmp_path / "data")},
                                             "alerts": {"webhook_url_env": WEBHOOK_VARIABLE}})
    register_with_sources(cfg.register_path, RECORD)

    found = alert_stale_sources(cfg, now=NOW)

    # November's Companies House product is 49 days old (limit 45), FCA was never staged, UKCAT's file was last
    # fetched in January (limit 100); the Charity Commission (2 days) and August's postcodes (141 of 150) are fresh.
    assert [s["source"] for s in found["stale"]] == ["companies_house", "fca_mutuals", "ukcat"]
    assert found["alerts"] == [{"destination": "webhook", "ok": True, "detail": found["alerts"][0]["detail"]}]
    [body] = webhook.bodies
    assert body["subject"] == "VCSE register: 3 sources out of date (companies_house, fca_mutuals, ukcat)"
    assert body["fields"]["companies_house"].startswith(
        "companies_house: STALE, release BasicCompanyDataAsOneFile-2026-11-01 is 49 days old")
    assert body["fields"]["fca_mutuals"].startswith("fca_mutuals: not staged")
    assert "charity_commission" not in body["text"] and "postcodes" not in body["text"]

    fresh = {**RECORD, "fca_mutuals": staged([("SocietyList.csv", "2026-12-15T06:00:00+00:00")]),
             "ukcat": staged([("ukcat.csv", "2026-12-01T06:00:00+00:00")]),
             "companies_house": staged([("BasicCompanyDataAsOneFile-2026-12-01.zip", "2026-12-19T06:00:00+00:00")],
                                       {"name": "BasicCompanyDataAsOneFile-2026-12-01", "date": "2026-12-01"})}
    register_with_sources(tmp_path / "fresh" / "register.duckdb", fresh)
    cfg = cfg.with_overrides({"paths": {"register_file": str(tmp_path / "fresh" / "register.duckdb")}})
    assert alert_stale_sources(cfg, now=NOW) == {"stale": [], "alerts": []}
    assert len(webhook.bodies) == 1  # nothing more was sent


def test_the_freshness_task_fails_when_no_destination_took_the_stale_source_alert(tmp_path, webhook, monkeypatch):
    """vcse_freshness's task: green when the alert went out; failed (and retried) when the webhook refused it;
    failed at once when [alerts] names no destination, so stale sources never hide behind a green task."""
    from test_freshness import RECORD

    from vcse_pipeline import airflow_tasks
    from vcse_pipeline.errors import PipelineError, retry_can_help

    monkeypatch.setenv("VCSE__PATHS__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VCSE__ALERTS__WEBHOOK_URL_ENV", WEBHOOK_VARIABLE)
    monkeypatch.setenv("VCSE__ALERTS__RETRIES", "0")
    monkeypatch.setenv(WEBHOOK_VARIABLE, webhook.url)
    for source in ("charity_commission", "companies_house", "postcodes", "ukcat"):  # fresh whatever the day
        monkeypatch.setenv(f"VCSE__SOURCES__{source.upper()}__MAX_AGE_DAYS", "0")
    register_with_sources(airflow_tasks.load_config().register_path, RECORD)  # fca_mutuals never staged: stale

    found = airflow_tasks.check_freshness()
    assert [s["source"] for s in found["stale"]] == ["fca_mutuals"] and [a["ok"] for a in found["alerts"]] == [True]

    webhook.statuses = [500]
    with pytest.raises(PipelineError) as refused:
        airflow_tasks.check_freshness()
    message = str(refused.value)
    assert message == ("1 stale source (fca_mutuals) and the alert reached no destination: webhook: RuntimeError: "
                       f"the webhook in ${WEBHOOK_VARIABLE} answered HTTP 500 Internal Server Error")
    assert retry_can_help(refused.value) is True and len(webhook.bodies) == 2  # it was sent, and refused

    monkeypatch.setenv("VCSE__ALERTS__WEBHOOK_URL_ENV", "")  # alerts off
    with pytest.raises(PipelineError, match=r"^1 stale source \(fca_mutuals\) and no alert sent: \[alerts\] names "
                                            "no destination") as off:
        airflow_tasks.check_freshness()
    assert retry_can_help(off.value) is False and len(webhook.bodies) == 2
