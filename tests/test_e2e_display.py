"""What a student sees, end to end in headless Chromium: a result on arrival, examples and lesson steps that
run and bring their result into view, failed runs that leave no stale result behind, projector mode that
enlarges the content itself, and WCAG AA contrast (axe-core) in the light theme, the dark theme and
projector mode after every tab has run."""

from __future__ import annotations

import pytest

from tests.conftest import contrast_failures

pytestmark = pytest.mark.e2e

# Per tab: the button that runs it, what appears when it has, and the accordion buttons to press too.
RUNS = {
    "tokenization": ("#tok-run", "#tok-chips .pg-chip", ["#tok-replay", "#tok-decode", "#tok-chat"]),
    "attention": ("#att-run", "#att-overview img", ["#att-focus-run", "#att-compare-run", "#att-lens-run"]),
}


def open_page(page, app_url, query: str = "") -> None:
    page.goto(app_url + query)
    page.wait_for_selector("#pg-header", timeout=60_000)


def rendered_font(page, selector: str) -> float:
    """The font size as drawn on screen: CSS pixels times the zoom that applies to the element."""
    return page.eval_on_selector(
        selector, "el => parseFloat(getComputedStyle(el).fontSize) * (el.currentCSSZoom || 1)")


def rendered_height(page, selector: str) -> float:
    return page.eval_on_selector(selector, "el => el.getBoundingClientRect().height")


def open_accordions(page, tab_id: str) -> None:
    page.evaluate("""(run) => {
        const panel = document.querySelector(run).closest('[role=tabpanel]');
        for (const button of panel.querySelectorAll('button.label-wrap')) {
            const icon = button.querySelector('.icon');
            if (icon && icon.style.transform.includes('90')) button.click();
        }
    }""", RUNS[tab_id][0])
    page.wait_for_timeout(500)


def run_tab(page, tab_id: str) -> None:
    run, done, extras = RUNS[tab_id]
    page.get_by_role("tab", name=tab_id.capitalize()).click()
    page.click(run)
    page.wait_for_selector(done, timeout=180_000)
    open_accordions(page, tab_id)
    for button in extras:
        page.click(button)
    page.wait_for_function("() => !document.querySelector('.progress-text, .eta-bar')", timeout=180_000)
    page.wait_for_timeout(1000)


def test_a_plain_visit_lands_on_a_result(page):
    page.wait_for_selector("#tok-chips .pg-chip", timeout=120_000)   # nobody clicked
    assert "cut differently" in page.locator("#tok-chips").inner_text()


def test_an_example_click_runs_the_tab(page):
    page.wait_for_selector("#tok-chips .pg-chip", timeout=120_000)
    page.get_by_text("The quick brown fox jumps over the lazy dog.").first.click()
    page.wait_for_function("document.querySelector('#tok-chips').innerText.includes('fox')", timeout=60_000)


def test_try_this_brings_the_result_into_view(page):
    page.wait_for_selector("#tok-chips .pg-chip", timeout=120_000)
    page.get_by_role("tab", name="Attention").click()
    page.get_by_text("Lesson: Who looks at whom: attention").click()
    page.click("#attention-lesson-try")
    page.wait_for_selector("#att-heatmap .js-plotly-plot", timeout=120_000)
    page.wait_for_timeout(1500)
    top = page.eval_on_selector("#att-run", "el => el.getBoundingClientRect().top")
    heatmap = page.eval_on_selector("#att-heatmap", "el => el.getBoundingClientRect().top")
    assert -5 <= top < 300 and heatmap < page.viewport_size["height"]   # the run button on top, results under it


def test_a_failed_run_clears_the_old_result_and_shows_one_message(page):
    run_tab(page, "attention")
    page.locator("#att-text textarea").fill("")
    for _ in range(3):
        page.click("#att-run")
        page.wait_for_timeout(1500)
    page.wait_for_selector("[data-testid=toast-body]", timeout=60_000)
    assert page.locator("[data-testid=toast-body]").count() == 1             # one toast, not "Error (3)"
    assert "text is empty" in page.locator("[data-testid=toast-text]").first.inner_text()
    assert page.locator("#att-heatmap .js-plotly-plot").count() == 0          # no old map under the new input
    assert page.locator("#att-summary-panel").count() == 0
    assert page.locator("#att-layer input[type=range]").is_visible()          # the sliders are not error badges
    assert page.locator("#att-layer").get_by_text("Error").count() == 0


def test_projector_mode_enlarges_chips_tables_plots_and_images(page):
    run_tab(page, "tokenization")
    run_tab(page, "attention")
    page.get_by_role("tab", name="Tokenization").click()
    targets = {"chip": "#tok-chips .pg-chip", "table": "#tok-summary td"}
    before = {name: rendered_font(page, selector) for name, selector in targets.items()}
    page.get_by_role("tab", name="Attention").click()
    tick, image = "#att-heatmap .xtick text", "#att-overview img"
    before["tick"], before["image"] = rendered_height(page, tick), rendered_height(page, image)
    page.click("#pg-projector-toggle")
    page.wait_for_timeout(2000)                                               # Plotly lays itself out again
    after = {"tick": rendered_height(page, tick), "image": rendered_height(page, image)}
    page.get_by_role("tab", name="Tokenization").click()
    after.update({name: rendered_font(page, selector) for name, selector in targets.items()})
    for name in before:
        assert after[name] >= 1.3 * before[name], (name, before[name], after[name])
    # every tab stays in the strip (none hidden in Gradio's "..." menu), its label as large as the rest
    for title in ("Tokenization", "Attention", "Why this token?", "Sampling", "Diffusion", "Generative families"):
        assert page.get_by_role("tab", name=title).is_visible(), title
    assert rendered_font(page, "button[role=tab]") >= 19


def test_projector_mode_enlarges_a_chart_without_squeezing_its_plot_area(page, app_url):
    """Plotly sizes its margins from text it measures; measured at the page's zoom, the margins of the noise
    schedule (a legend, axis titles) grew 1.4 times and its plot area shrank (197 -> 157 px before zooming)."""
    page.goto(app_url + "?__theme=light&tab=diffusion")
    area = "#diff-plot .nsewdrag"
    page.wait_for_selector(area, timeout=60_000)
    page.wait_for_timeout(1000)
    before = rendered_height(page, area)
    page.goto(app_url + "?__theme=light&projector=1&tab=diffusion")           # laid out in projector mode
    page.wait_for_selector(area, timeout=60_000)
    page.wait_for_timeout(1000)
    assert rendered_height(page, area) >= 1.35 * before, (before, rendered_height(page, area))


@pytest.mark.parametrize("mode", ["light", "projector from the link", "projector toggled"])
def test_a_charts_hover_label_names_the_point_under_the_mouse(page, app_url, mode):
    """Plotly maps the mouse through CSS transforms, not zoom: in projector mode the mouse on step 7 of the noise
    schedule showed step 10's label until the chart was scaled by a transform (assets/style.css)."""
    page.goto(app_url + "?__theme=light&tab=diffusion" + ("&projector=1" if mode.endswith("link") else ""))
    point = "#diff-plot .scatterlayer .trace:first-child .points path:nth-child(7)"    # sigma at step 7 (first)
    page.wait_for_selector(point, timeout=60_000)
    if mode.endswith("toggled"):
        page.wait_for_selector("#pg-projector-toggle[aria-pressed]", timeout=30_000)   # the toggles are restored
        page.click("#pg-projector-toggle")
    page.wait_for_timeout(1000)
    page.locator("#diff-plot").scroll_into_view_if_needed()
    box = page.locator(point).first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    label = page.locator("#diff-plot .hoverlayer .hovertext")
    label.first.wait_for(timeout=10_000)
    assert "(7, " in label.first.text_content(), label.first.text_content()     # (step, sigma) t = ...


def test_every_text_has_aa_contrast_in_light_dark_and_projector_mode(page):
    for tab_id in RUNS:
        run_tab(page, tab_id)
    # light; then dark; then dark off and projector on (light theme, zoomed)
    for mode, toggles in (("light", []), ("dark", ["#pg-dark-toggle"]),
                          ("projector", ["#pg-dark-toggle", "#pg-projector-toggle"])):
        for toggle in toggles:
            page.click(toggle)
            page.wait_for_timeout(1500)
        for tab_id in RUNS:
            page.get_by_role("tab", name=tab_id.capitalize()).click()
            page.wait_for_timeout(800)
            failures = contrast_failures(page)
            assert failures == [], (mode, tab_id, failures[:5])
