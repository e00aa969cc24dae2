"""`vcse alert-test`: send a test alert to the [alerts] destinations, to check the setup before a failure does."""

from __future__ import annotations

import socket
from pathlib import Path

import typer
from rich.markup import escape

from ..clock import now_iso
from ..errors import PipelineError
from .options import ConfigOpt, load_config

commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command("alert-test")
def alert_test(config: Path | None = ConfigOpt) -> None:
    """Send a test alert by every \\[alerts] destination (email, webhook) and say what became of each."""
    from ..alerts import send_alert
    from . import console

    cfg = load_config(config)
    deliveries = send_alert(cfg, "VCSE pipeline: test alert", {
        "Sent by": f"vcse alert-test on {socket.gethostname()}",
        "At": now_iso(),
        "Meaning": "alerts reach you: a failed task or a stale source will be reported here"})
    if not deliveries:
        raise PipelineError("alerts are off: set [alerts] email_to and/or webhook_url_env "
                            "(see docs/operations.md, Alerts)")
    for d in deliveries:
        console.print(f"{d.destination}: " + ("[green]ok[/] " if d.ok else "[bold red]failed[/] ")
                      + escape(d.detail))
    failed = [d.destination for d in deliveries if not d.ok]
    if failed:
        raise PipelineError(f"the test alert did not reach: {', '.join(failed)}")
