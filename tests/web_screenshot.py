"""Take the README's screenshot of the Find providers page with Playwright on /usr/bin/chromium.

    python tests/web_screenshot.py data docs/img/find-providers.png    # after `make demo`

Starts `vcse serve` on the data folder's published register (tests/web_server.py), searches for mental health
providers in a ward, and saves the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from web_server import running_server


def take(data_dir: Path, output: Path, ward: str = "Bidston and St James") -> None:
    with running_server(data_dir.resolve()) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        page.goto(f"{url}/providers?service=mental+health&ward={ward.replace(' ', '+')}")
        output.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(output), full_page=False)
        browser.close()


if __name__ == "__main__":
    take(Path(sys.argv[1]), Path(sys.argv[2]))
