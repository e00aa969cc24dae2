"""How old each source's data is, against the age configured for it (`[sources.<name>] max_age_days`).

The age runs from the release's own date where the publisher dates its releases (Companies House's monthly
product, the ONS Postcode Directory's quarter: from the release found by vcse_pipeline.releases, or the date in a
configured file's name), else from the last download that fetched the file or confirmed it unchanged (the
Charity Commission, FCA and UKCAT files carry no release date). That download is read from the source's manifest
(`_confirmed`): its newest line for the file with the sha256 the record holds, so a refresh that found every file
unchanged after the publish counts, though the published run copied the download times once, when it published. A
source that is not staged at all counts as stale.

By default the register's users are what matters: the sources recorded by the published register's run, or the
current staging files when nothing is published yet. `vcse status`, the HTML report and the stale-source alert
all read it from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from .config import Config
from .errors import PipelineError
from .sources import SOURCE_NAMES

RELEASE_DATE = "release date"
LAST_DOWNLOAD = "last download"


@dataclass(frozen=True)
class SourceFreshness:
    """One source's age against its limit; `describe()` is the one-line form for messages and alerts."""

    source: str
    release: str | None        # the release's name, or the file names when the publisher names no release
    release_date: str | None   # ISO date of a dated release
    staged_at: str | None
    age_from: str | None       # ISO time the age is measured from
    basis: str | None          # RELEASE_DATE | LAST_DOWNLOAD; None when not staged
    age_days: int | None
    max_age_days: int          # 0: never flagged
    stale: bool
    of: str = "staging"        # 'published register' | 'staging': which record was read

    def describe(self) -> str:
        if self.age_days is None:
            return f"{self.source}: not staged, so the register has no data from it (expected at most " \
                   f"{self.max_age_days} days old)"
        what = f"release {self.release}" if self.basis == RELEASE_DATE else f"{self.release or 'data'}"
        since = f"{self.basis} {self.age_from[:10]}" if self.age_from else self.basis
        limit = f"expected at most {self.max_age_days}" if self.max_age_days else "no limit set"
        state = "STALE" if self.stale else "fresh"
        return f"{self.source}: {state}, {what} is {self.age_days} days old ({since}; {limit}) in the {self.of}"

    def as_dict(self) -> dict:
        return {**asdict(self), "description": self.describe()}


def source_freshness(cfg: Config, *, sources: dict | None = None, now: datetime | None = None,
                     of: str | None = None) -> list[SourceFreshness]:
    """Every source's freshness, in SOURCE_NAMES order.

    `sources` is a `run_history.source_versions`-shaped record (what a run records); by default the published
    register's (`published_sources`), else the current staging's when nothing is published.
    """
    if sources is None:
        sources = published_sources(cfg.register_path)
        of = "published register" if sources is not None else "staging"
        if sources is None:
            from .run_history import safe_source_versions

            sources = safe_source_versions(cfg)
    now = now or datetime.now(UTC)
    return [_assess(name, _confirmed(cfg, name, sources.get(name) or {}),
                    int(cfg.source(name).get("max_age_days", 0)), now, of or "staging") for name in SOURCE_NAMES]


def stale_sources(cfg: Config, *, now: datetime | None = None) -> list[SourceFreshness]:
    """The sources older than their max_age_days (or not staged): what the stale-source alert reports."""
    return [f for f in source_freshness(cfg, now=now) if f.stale]


def alert_stale_sources(cfg: Config, *, now: datetime | None = None) -> dict:
    """Send one alert listing every stale source (nothing when all are fresh, or alerts are off).

    What the daily vcse_freshness DAG runs; a stale source is not a failure of that task (the data is still
    published and queryable), so it reports through the alert, not by failing and retrying; an alert that reached
    no destination is (undelivered_alert).
    """
    from .alerts import send_alert

    stale = stale_sources(cfg, now=now)
    deliveries = []
    if stale:
        names = ", ".join(f.source for f in stale)
        subject = f"VCSE register: {len(stale)} source{'s' if len(stale) > 1 else ''} out of date ({names})"
        deliveries = send_alert(cfg, subject, {f.source: f.describe() for f in stale})
    return {"stale": [f.as_dict() for f in stale],
            "alerts": [{"destination": d.destination, "ok": d.ok, "detail": d.detail} for d in deliveries]}


def undelivered_alert(found: dict) -> PipelineError | None:
    """The error for `alert_stale_sources`'s result when there were stale sources and no destination took the alert
    (alerts off, or every destination failed), else None: the vcse_freshness task raises it, so the stale sources
    are not left behind a green task. A destination that failed may recover (transient: the task's retry sends the
    alert again); alerts that are off cannot."""
    stale, alerts = found.get("stale") or [], found.get("alerts") or []
    if not stale or any(a.get("ok") for a in alerts):
        return None
    names = ", ".join(s["source"] for s in stale)
    what = f"{len(stale)} stale source{'s' if len(stale) > 1 else ''} ({names})"
    if not alerts:
        return PipelineError(f"{what} and no alert sent: [alerts] names no destination (set email_to or "
                             "webhook_url_env; docs/operations.md, Alerts)")
    failures = "; ".join(f"{a['destination']}: {a['detail']}" for a in alerts)
    return PipelineError(f"{what} and the alert reached no destination: {failures}", transient=True)


def published_sources(register_path: Path) -> dict | None:
    """The sources recorded by the published register's latest published run (None: no such register or run)."""
    from .db import connect

    if not Path(register_path).is_file():
        return None
    try:
        con = connect(register_path, read_only=True)
    except Exception:  # locked or not a DuckDB file: status and report say so themselves
        return None
    try:
        return register_sources(con)
    finally:
        con.close()


def register_sources(con) -> dict | None:
    """The sources of the latest published run in a register's run_history (None when it records none: no
    run_history, no published run, or a run that recorded no sources)."""
    from .status import published_run

    run = published_run(con)
    return (run["sources"] or None) if run else None


def _confirmed(cfg: Config, source: str, info: dict) -> dict:
    """`info` with each file's fetched_at the newest download that fetched the same content or confirmed it unchanged.

    A record copies its files' manifest lines once (run_history.source_versions, at publish or stage); a later
    download that found the file unchanged (a 304, or a local file with the same sha256) appends a line to the
    source's manifest that the record never sees. The same file is its name with the record's sha256, or, for a
    record that kept no sha256, the current staging's when that staging has the record's fingerprint.
    """
    files = info.get("files") or []
    if not info.get("staged") or not files:
        return info
    sha256 = {f["file"]: f.get("sha256") for f in files if f.get("file")}
    if not all(sha256.values()):
        staged = _staged_sha256(cfg, source, info.get("fingerprint"))
        sha256 = {name: digest or staged.get(name) for name, digest in sha256.items()}
    from .download import read_manifest

    newest: dict[str, datetime] = {}
    for line in read_manifest(cfg.download_dir(source)):
        name, at = line.get("path"), _moment(line.get("fetched_at"))
        if at and sha256.get(name) and line.get("sha256") == sha256[name] and (name not in newest or at > newest[name]):
            newest[name] = at

    def latest(file: dict) -> str | None:
        recorded, confirmed = _moment(file.get("fetched_at")), newest.get(file.get("file"))
        if confirmed and (recorded is None or confirmed > recorded):
            return confirmed.isoformat(timespec="seconds")
        return file.get("fetched_at")

    return {**info, "files": [{**f, "fetched_at": latest(f)} for f in files]}


def _staged_sha256(cfg: Config, source: str, fingerprint: str | None) -> dict[str, str]:
    """File name -> sha256 of the source's current staging when its fingerprint is `fingerprint` (else nothing)."""
    import json

    from .db import connect, table_columns

    path = cfg.staging_path(source)
    if not fingerprint or not path.exists():
        return {}
    try:
        con = connect(path, read_only=True)
    except Exception:  # locked or unreadable: the record's own times stand
        return {}
    try:
        if not {"content", "fingerprint"} <= (table_columns(con, "_staged") or set()):
            return {}
        content, staged = con.execute("SELECT content, fingerprint FROM _staged").fetchone()
    finally:
        con.close()
    if staged != fingerprint or not content:
        return {}
    return {f["name"]: f["sha256"] for f in json.loads(content).get("files", []) if f.get("name")}


def _assess(source: str, info: dict, max_age: int, now: datetime, of: str) -> SourceFreshness:
    if not info.get("staged"):
        return SourceFreshness(source, None, None, None, None, None, None, max_age, max_age > 0, of)
    release = info.get("release") or {}
    files = info.get("files") or []
    checked = [f["fetched_at"] for f in files if f.get("fetched_at")]
    if release.get("date"):
        basis, start = RELEASE_DATE, _moment(release["date"])
    else:
        basis, start = LAST_DOWNLOAD, min((_moment(c) for c in checked), default=None) or _moment(
            info.get("staged_at"))
    name = release.get("name") or (", ".join(f["file"] for f in files[:2] if f.get("file"))
                                   + (f" (+{len(files) - 2} more)" if len(files) > 2 else "")) or None
    age = max(0, (now - start).days) if start else None
    stale = bool(max_age) and (age is None or age > max_age)
    return SourceFreshness(source, name, release.get("date"), info.get("staged_at"),
                           start.isoformat(timespec="seconds") if start else None, basis, age, max_age, stale, of)


def _moment(value) -> datetime | None:
    """An ISO date or time as an aware UTC datetime (a date is its midnight UTC)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(str(value)[:10]), datetime.min.time())
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
