"""Shared fixtures: the app served on a free port, and a page of it in Debian's headless Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PLAYGROUND_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode} before serving {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not serve {url} within {timeout} s")


@contextlib.contextmanager
def serve_app(log: Path, **env_changes: str | None) -> Iterator[tuple[str, int]]:
    """`python app.py` exactly as a user runs it, on a free port, with these environment changes (None
    removes a variable); yields (url, port) once it serves, and stops it afterwards."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process)
        yield url, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        print(f"app log: {log}\n" + log.read_text()[-3000:])


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    with serve_app(tmp_path_factory.mktemp("app") / "app.log") as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/setup.sh --dev` (it installs Debian's chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh page on the app; dialogs (an injected alert()) are recorded in page.dialogs."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(app_url)
    page.wait_for_selector("#pg-header", timeout=60_000)
    yield page
    context.close()


AXE = ROOT / ".cache" / "axe" / "axe.min.js"


def fill_and_commit(box, text: str, settle_ms: int = 500) -> None:
    """Type `text` into a textbox and leave it (Tab), the way a student does before pressing a button, then
    check that it still holds `text` a moment later: a box in an accordion just opened can still be mounting,
    and a box refilled while it mounts keeps its old value, which the button would then send."""
    for _ in range(3):
        box.fill(text)
        box.press("Tab")
        box.page.wait_for_timeout(settle_ms)
        if box.input_value() == text:
            return
    assert box.input_value() == text, f"the box holds {box.input_value()!r}, not {text!r}"


def wait_until_settled(page, selector: str = "body", quiet_ms: int = 600) -> None:
    """Wait until nothing in `selector` has been pending (Gradio dims a running output to opacity 0.2, and
    fades it back in over 0.15 s) for `quiet_ms` in a row: a streamed output's gaps between yields and
    the fade back are not the page as a student reads it."""
    page.evaluate("() => { window.pgBusyAt = undefined; }")
    page.wait_for_function("""([selector, quietMs]) => {
        const busy = document.querySelector(selector)?.querySelector('.pending, .progress-text, .eta-bar');
        const now = performance.now();
        if (busy || window.pgBusyAt === undefined) window.pgBusyAt = now;
        return !busy && now - window.pgBusyAt >= quietMs;
    }""", arg=[selector, quiet_ms], timeout=300_000, polling=100)


def contrast_failures(page, selector: str = "body") -> list[dict]:
    """axe-core's color-contrast rule (WCAG AA, 4.5:1 for normal text) on what `selector` holds in the
    page as it is now: one {"html", "summary"} per failing node."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `bash scripts/setup.sh --dev` (it fetches axe-core from npm)")
    wait_until_settled(page, selector)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    results = page.evaluate("""async (selector) => {
        const found = await axe.run(document.querySelector(selector),
                                    {runOnly: {type: "rule", values: ["color-contrast"]}, resultTypes: ["violations"]});
        return found.violations.flatMap(v => v.nodes.map(n => ({html: n.html.slice(0, 200),
                                                                summary: n.failureSummary})));
    }""", selector)
    return results
