"""Offline classroom and presentation, in headless Chromium with every request off this machine blocked:
the page (every tab opened) asks for nothing from the internet, and the projector and dark toggles
work by mouse, by keyboard, across a reload and from a link."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.e2e

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
TABS = ["Tokenization", "Attention", "Sampling", "Diffusion"]


def _off_machine(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme not in ("data", "blob", "about") and parsed.hostname not in LOCAL_HOSTS


@pytest.fixture
def offline_page(browser, app_url):
    """A page whose context aborts, and records, every request that would leave 127.0.0.1."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    blocked: list[str] = []

    def route(request_route):
        if _off_machine(request_route.request.url):
            blocked.append(request_route.request.url)
            request_route.abort()
        else:
            request_route.continue_()

    context.route("**/*", route)
    page = context.new_page()
    page.blocked = blocked
    yield page
    context.close()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#pg-header", timeout=60_000)
    page.wait_for_selector("#tok-text textarea", timeout=60_000)     # the first tab has rendered too
    # the page's load script has restored the toggles (it marks both aria-pressed): a toggle pressed before it
    # runs is undone by it (a busy machine ran it after the test's key press)
    page.wait_for_selector("#pg-dark-toggle[aria-pressed]", state="attached", timeout=60_000)


def _font_size(page, selector: str) -> float:
    """The font size as drawn: CSS pixels times the zoom that applies (projector mode zooms the page)."""
    return page.eval_on_selector(selector, "el => parseFloat(getComputedStyle(el).fontSize) * (el.currentCSSZoom || 1)")


def test_the_page_and_every_tab_load_nothing_from_the_internet(offline_page, app_url):
    page = offline_page
    _open(page, app_url)
    for tab in TABS:
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(800)
    page.wait_for_timeout(2000)  # late requests (lazy chunks, fonts) have time to show up
    assert page.blocked == []


def test_projector_mode_enlarges_the_text_and_is_remembered(offline_page, app_url):
    page = offline_page
    _open(page, app_url)
    label = "#tok-text textarea"
    button = page.locator("#pg-projector-toggle")
    before_label, before_body = _font_size(page, label), _font_size(page, "#pg-header p")
    assert button.get_attribute("aria-pressed") == "false"
    button.click()
    assert page.evaluate("document.body.classList.contains('pg-projector')")
    assert button.get_attribute("aria-pressed") == "true"
    assert _font_size(page, label) >= before_label * 1.3
    assert _font_size(page, "#pg-header p") >= before_body * 1.3
    page.reload()
    page.wait_for_selector("#pg-header", timeout=60_000)
    page.wait_for_function("document.body.classList.contains('pg-projector')", timeout=10_000)
    # Keyboard: focus the button and press Enter to turn it off again.
    page.locator("#pg-projector-toggle").focus()
    page.keyboard.press("Enter")
    page.wait_for_function("!document.body.classList.contains('pg-projector')", timeout=5_000)
    assert page.locator("#pg-projector-toggle").get_attribute("aria-pressed") == "false"
    assert page.blocked == []


def test_a_link_can_open_projector_mode(offline_page, app_url):
    page = offline_page
    _open(page, app_url + "?projector=1")
    page.wait_for_function("document.body.classList.contains('pg-projector')", timeout=10_000)
    assert page.locator("#pg-projector-toggle").get_attribute("aria-pressed") == "true"


def test_the_dark_theme_toggle_switches_gradios_dark_mode(offline_page, app_url):
    page = offline_page
    _open(page, app_url + "?__theme=light")
    background = "getComputedStyle(document.body).getPropertyValue('--body-background-fill')"
    light = page.evaluate(background)
    page.locator("#pg-dark-toggle").focus()
    page.keyboard.press("Space")
    page.wait_for_function("document.body.classList.contains('dark')", timeout=5_000)
    assert page.evaluate(background) != light
    assert page.locator("#pg-dark-toggle").get_attribute("aria-pressed") == "true"
    label = "#tok-text textarea"
    before = _font_size(page, label)
    page.locator("#pg-projector-toggle").click()  # projector mode works in the dark theme too
    assert _font_size(page, label) >= before * 1.3
    page.locator("#pg-dark-toggle").click()
    page.wait_for_function("!document.body.classList.contains('dark')", timeout=5_000)
    assert page.blocked == []
