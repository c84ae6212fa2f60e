"""Regenerate the README screenshot from a running app.

    .venv/bin/python app.py &                 # in another shell
    .venv/bin/python scripts/screenshot.py http://127.0.0.1:7860/ assets/screenshot.png
"""

import sys

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def main(url: str, path: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1150})
        page.goto(url)
        page.click("#tok-run")
        page.wait_for_selector("#tok-chips .pg-chip", timeout=120_000)
        page.wait_for_timeout(800)
        page.screenshot(path=path)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
