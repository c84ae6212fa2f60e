"""The Why-this-token tab end to end in headless Chromium, on SmolLM2: every view runs from the page, bad
input shows a clear message, a shared link restores and runs it, and its HTML has AA contrast in the light
theme, the dark theme and projector mode."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import contrast_failures, fill_and_commit

pytestmark = pytest.mark.e2e

WAIT = 240_000     # a 2-core machine shared by several people: model loads and runs can take minutes


def open_tab(page) -> None:
    page.get_by_role("tab", name="Why this token?").click()
    page.wait_for_selector("#why-run", timeout=30_000)


def open_accordions(page) -> None:
    page.evaluate("""() => {
        const panel = document.querySelector('#why-run').closest('[role=tabpanel]');
        for (const button of panel.querySelectorAll('button.label-wrap')) {
            const icon = button.querySelector('.icon');
            if (icon && icon.style.transform.includes('90')) button.click();
        }
    }""")
    page.wait_for_timeout(500)


def idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('.progress-text, .eta-bar')", timeout=WAIT)
    page.wait_for_timeout(500)


def toast(page) -> str:
    page.wait_for_selector("[data-testid=toast-body]", timeout=WAIT)
    text = page.locator("[data-testid=toast-text]").last.inner_text()
    page.evaluate("() => document.querySelectorAll('[data-testid=toast-close]').forEach(b => b.click())")
    return text


def fill(page, selector: str, value: str) -> None:
    fill_and_commit(page.locator(f"{selector} textarea, {selector} input").first, value)


def test_every_view_runs_from_the_page(page):
    open_tab(page)
    page.click("#why-run")
    page.wait_for_selector("#why-attribution .why-chips .why-chip", timeout=WAIT)
    panel = page.locator("#why-attribution-panel").inner_text()
    assert "Integrated gradients on smollm2-135m-instruct" in panel and "' Paris'" in panel
    assert "Completeness" in panel
    assert page.locator("#why-attribution .why-chips .why-chip").count() == 9
    page.wait_for_selector("#why-contributions-panel", timeout=WAIT)
    page.wait_for_selector("#why-contributions-plot .js-plotly-plot", timeout=WAIT)
    assert "The logit of ' Paris'" in page.locator("#why-contributions-panel").inner_text()
    idle(page)

    open_accordions(page)
    page.click("#why-ablate-run")
    page.wait_for_selector("#why-intervention-panel", timeout=WAIT)
    assert "KL(before ‖ after)" in page.locator("#why-intervention-panel").inner_text()
    idle(page)
    page.click("#why-edit-run")
    page.wait_for_function("document.querySelector('#why-intervention-panel')?.innerText.startsWith('Removed')",
                           timeout=WAIT)
    idle(page)
    page.click("#why-patch-run")
    page.wait_for_selector("#why-patching-plot .js-plotly-plot", timeout=WAIT)
    assert "after the clean prompt" in page.locator("#why-patching-panel").inner_text()
    expect(page.locator("#why-counts")).to_contain_text("the same length: ready", timeout=60_000)
    idle(page)

    # Each method from the page, and a contrast.
    for label in ("Gradient × input", "Occlusion", "Attention rollout"):
        page.locator("#why-method").get_by_label(label).check()
        page.click("#why-run")
        page.wait_for_function(f"document.querySelector('#why-attribution-panel')?.innerText.startsWith({label!r})",
                               timeout=WAIT)
        idle(page)
    page.locator("#why-method").get_by_label("Integrated gradients").check()
    fill(page, "#why-contrast", "Rome")
    page.click("#why-run")
    page.wait_for_function("document.querySelector('#why-attribution-panel')?.innerText.includes(\"and not ' Rome'\")",
                           timeout=WAIT)
    idle(page)


def test_bad_input_shows_a_clear_message(page):
    open_tab(page)
    open_accordions(page)
    fill(page, "#why-corrupted", "The Tower Bridge is in the city of")
    page.click("#why-patch-run")
    assert "the clean prompt is 9 tokens and the corrupted prompt is 8 tokens" in toast(page)
    assert page.locator("#why-patching-plot .js-plotly-plot").count() == 0
    page.wait_for_function("document.querySelector('#why-counts').innerText.includes('different lengths')",
                           timeout=WAIT)
    fill(page, "#why-heads", "3")
    page.click("#why-ablate-run")
    assert "heads: '3' is not layer.head" in toast(page)
    fill(page, "#why-target", "Eiffel")
    page.click("#why-run")
    page.wait_for_selector("#why-attribution-panel", timeout=WAIT)
    assert "the first, ' E', is the target used" in page.locator("#why-attribution-panel").inner_text()
    idle(page)
    fill(page, "#why-prompt", "")
    page.click("#why-run")
    assert "prompt is empty" in toast(page)
    assert page.locator("#why-attribution-panel").count() == 0          # no old result under the new input
    page.locator("#why-model input").fill("all-minilm-l6-v2")
    page.locator("#why-model input").press("Enter")
    fill(page, "#why-prompt", "The cat sat")
    page.click("#why-run")
    assert "is an encoder" in toast(page)


def test_a_shared_link_restores_and_runs_the_tab(page, app_url):
    page.goto(app_url + "?tab=why&prompt=The+capital+of+Italy+is&method=Occlusion&steps=24")
    page.wait_for_function("document.querySelector('#why-attribution-panel')?.innerText.startsWith('Occlusion')",
                           timeout=WAIT)
    chips = page.locator("#why-attribution .why-chips .why-chip").all_inner_texts()
    assert "".join(chips) == "The capital of Italy is"


def test_an_example_is_a_readable_label_and_a_click_runs_it(page):
    open_tab(page)
    example = page.locator("#why-examples").get_by_text("Mary and John: who gets the drink? (occlusion)")
    box = example.bounding_box()
    assert box["height"] < 60, box          # a line or two, not a column a word wide
    example.click()
    expect(page.locator("#why-prompt textarea")).to_have_value(
        "When Mary and John went to the store, John gave a drink to", timeout=30_000)
    page.wait_for_function("document.querySelector('#why-attribution-panel')?.innerText.startsWith('Occlusion')",
                           timeout=WAIT)
    chips = page.locator("#why-attribution .why-chips .why-chip").all_inner_texts()
    assert "".join(chips).startswith("When Mary and John")


def test_the_tab_has_aa_contrast_in_light_dark_and_projector_mode(page):
    open_tab(page)
    page.click("#why-run")
    page.wait_for_selector("#why-contributions-plot .js-plotly-plot", timeout=WAIT)
    idle(page)
    open_accordions(page)
    for button in ("#why-ablate-run", "#why-patch-run"):
        page.click(button)
        idle(page)
    page.wait_for_selector("#why-patching-plot .js-plotly-plot", timeout=WAIT)
    chip = "#why-attribution .why-chips .why-chip"
    size = page.eval_on_selector(chip, "el => el.getBoundingClientRect().height")
    for mode, toggles in (("light", []), ("dark", ["#pg-dark-toggle"]),
                          ("projector", ["#pg-dark-toggle", "#pg-projector-toggle"])):
        for toggle in toggles:
            page.click(toggle)
            page.wait_for_timeout(1500)
        for selector in ("#why-attribution", "#why-contributions", "#why-intervention", "#why-patching",
                         "#why-counts"):
            failures = contrast_failures(page, selector)
            assert failures == [], (mode, selector, failures[:5])
    bigger = page.eval_on_selector(chip, "el => el.getBoundingClientRect().height")
    assert bigger >= 1.3 * size
