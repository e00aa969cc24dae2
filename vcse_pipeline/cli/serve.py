"""`vcse serve`: the officers' web explorer over the published register (vcse_pipeline.web)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from .options import ConfigOpt, DataDirOpt, RegisterOpt, load_config

console = Console()


commands = typer.Typer()  # merged into `vcse` by cli/__init__.py


@commands.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default: \\[web] host, "
                                                          "127.0.0.1: this machine only)."),
    port: int | None = typer.Option(None, "--port", "-p", help="Port to listen on (default: \\[web] port, 8000)."),
    register_file: Path | None = RegisterOpt,
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Serve the register to officers in a browser: find providers, profiles, wards, opportunities, exports."""
    import uvicorn

    from ..web.app import create_app
    from ..web.register import RegisterUnavailable

    cfg = load_config(config, data_dir)
    settings = cfg.section("web")
    app = create_app(cfg, register_path=register_file)
    try:
        info = app.state.register.info()   # a missing or broken register is said now, not on the first visit
        console.print(f"serving register version {info.version}")
    except RegisterUnavailable as exc:
        console.print(f"[yellow]note:[/] {exc}; the app answers 'not available' until one is published")
    host, port = host or settings["host"], port or settings["port"]
    console.print(f"open http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/ (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, server_header=False)
