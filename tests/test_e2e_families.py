"""End to end: the Generative families tab of `python app.py` in headless Chromium (Play, Pause, Step, Reset,
drawing points, clicking the VAE's latent plane, side by side, the image latents, a shared link, contrast in
three display modes), and the train_family API through gradio_client."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import contrast_failures

pytestmark = pytest.mark.e2e
PANEL = '[role=tabpanel]:has(#fam-play)'
FAMILY_LABELS = {"gan": "GAN", "vae": "VAE", "flow": "Normalizing flow", "diffusion": "Diffusion",
                 "autoregressive": "Autoregressive"}


def open_tab(page, family="autoregressive", steps="200", speed="normal"):
    page.get_by_role("tab", name="Generative families").click()     # every tab in the strip, projector mode too
    page.wait_for_selector("#fam-play", timeout=60_000)
    page.locator("#fam-family").get_by_label(FAMILY_LABELS[family], exact=True).check()
    page.locator("#fam-steps input").fill(steps)
    page.locator("#fam-steps input").press("Tab")          # committed before any button reads it
    page.locator("#fam-speed").get_by_label(speed, exact=True).check()


def status(page) -> str:
    return page.inner_text("#fam-status")


def step_of(page) -> int:
    found = re.search(r"step ([\d,]+) of", status(page))
    return int(found.group(1).replace(",", "")) if found else -1


def traces(page, elem_id="fam-picture", waiting_for: str = "real data") -> list[str]:
    """The names of the plot's traces, once it has drawn one named `waiting_for`."""
    script = f"""() => {{ const gd = document.querySelector('#{elem_id} .js-plotly-plot');
                         return gd && gd.data ? gd.data.map(t => t.name) : []; }}"""
    page.wait_for_function(f"() => ({script})().includes({waiting_for!r})", timeout=60_000)
    return page.evaluate(script)


def test_play_streams_frames_pause_stops_them_step_and_reset(page):
    open_tab(page, steps="2000", speed="slow motion")
    page.click("#fam-play")
    page.get_by_text(re.compile(r"step \d+ of 2,000")).wait_for(timeout=120_000)
    first = step_of(page)
    page.wait_for_function(f"() => /step (\\d+) of/.exec(document.querySelector('#fam-status').innerText)[1] > {first}",
                           timeout=60_000)                                   # frames keep coming
    assert {"p(x)", "p(y | x)", "real data"} <= set(traces(page))
    page.click("#fam-pause", timeout=90_000)       # a page busy drawing frames on a loaded machine answers late
    page.get_by_text("Paused: press Play or Step to go on.").wait_for(timeout=60_000)
    assert "Error" not in status(page)              # the cancelled burst is not shown as a failure
    paused = step_of(page)
    page.wait_for_timeout(3000)
    assert step_of(page) == paused and "Done" not in status(page)           # nothing streams after Pause
    page.locator("#fam-step-by input").fill("7")
    page.locator("#fam-step-by input").press("Tab")       # the number is committed before Step reads it
    page.click("#fam-step")
    page.get_by_text(f"step {paused + 7} of 2,000").wait_for(timeout=60_000)
    page.click("#fam-reset")
    page.get_by_text("step 0 of 2,000").wait_for(timeout=60_000)
    assert "Reset" in status(page)


def test_a_short_play_runs_to_done_and_a_view_setting_redraws_without_training(page):
    open_tab(page, steps="60")
    page.click("#fam-play")
    page.get_by_text("Done.").wait_for(timeout=120_000)
    assert step_of(page) == 60 and "modes covered" in status(page)
    slider = page.locator("#fam-ar-temperature input[type=number]")
    slider.fill("2.5")
    slider.press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('#fam-picture text')].some(t => t.textContent.includes('temperature 2.5'))",
                           timeout=60_000)
    assert step_of(page) == 60


def test_drawn_points_become_the_data_set_and_one_point_is_refused(page):
    open_tab(page, "flow", steps="20")
    page.get_by_text("Your own points: draw or paste").click()
    pad = page.locator("svg.fam-pad")
    pad.wait_for(timeout=30_000)

    def click(fx, fy):
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])

    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.8)):
        click(fx, fy)
        page.wait_for_timeout(300)
    expect(page.locator("#fam-points textarea")).to_have_value(re.compile(r"^-1\.2\d,1\.2\d\n1\.2\d,1\.2\d\n-?0\.0\d,-1\.8\d$"),
                                                               timeout=10_000)
    expect(page.locator(".fam-pad-points circle")).to_have_count(3)
    expect(page.locator("#fam-dataset input")).to_have_value("your points (draw or paste below)", timeout=10_000)
    page.click("#fam-play")
    page.get_by_text("Your points: 3 points").wait_for(timeout=120_000)
    page.click("#fam-clear")
    expect(page.locator(".fam-pad-points circle")).to_have_count(0, timeout=10_000)
    click(0.5, 0.5)
    page.click("#fam-step")
    page.get_by_text("points: 1 given; draw or paste at least 3").first.wait_for(timeout=60_000)


def test_clicking_the_vae_latent_plane_decodes_that_point(page):
    open_tab(page, "vae", steps="50")
    page.locator("#fam-step-by input").fill("20")
    page.click("#fam-step")
    page.get_by_text("step 20 of 50").wait_for(timeout=120_000)
    page.click("#fam-vae-resample")
    page.wait_for_function("() => [...document.querySelectorAll('#fam-picture text')].some(t => t.textContent.includes('epsilon draw 1'))",
                           timeout=60_000)
    plot = page.locator("#fam-picture .js-plotly-plot .nsewdrag").nth(1)   # the latent plane's drag area
    page.locator("#fam-picture").scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    expect(page.locator("#fam-vae-z textarea, #fam-vae-z input").first).to_have_value(re.compile(r"^\d\.\d\d, \d\.\d\d$"),
                                                                                       timeout=30_000)
    page.wait_for_function("() => document.querySelector('#fam-picture .js-plotly-plot').data.some(t => t.name === 'your z')",
                           timeout=60_000)


def test_side_by_side_and_the_image_latents(page):
    open_tab(page, steps="20")
    page.get_by_text("Side by side: every family on the same data").click()
    page.locator("#fam-compare-steps input").fill("20")
    page.click("#fam-compare")
    page.wait_for_selector("#fam-compare-table td:has-text('a plain Gaussian')", timeout=300_000)
    page.wait_for_selector("#fam-compare-table td:has-text('Autoregressive')", timeout=300_000)
    assert page.locator("#fam-compare-table tr").count() == 8                # header, five families, two baselines
    assert len(traces(page, "fam-compare-plot", "samples")) == 12

    page.get_by_text("Latent space of images: tiny-shapes-sd's VAE").click()
    page.click("#fam-interp-run")
    expect(page.locator("#fam-interp-latent img")).to_have_count(5, timeout=300_000)
    expect(page.locator("#fam-interp-pixel img")).to_have_count(5, timeout=60_000)
    page.click("#fam-arith-run")
    expect(page.locator("#fam-arith-gallery img")).to_have_count(6, timeout=120_000)
    expect(page.locator("#fam-arith-note")).to_contain_text("a large blue circle in the center")
    page.locator("#fam-arith-a textarea").fill("a purple cow")
    page.click("#fam-arith-run")
    page.get_by_text("caption 'a purple cow' is not a scene the shapes renderer draws").first.wait_for(timeout=60_000)
    page.click("#fam-channels-run")
    page.wait_for_function("() => document.querySelector('#fam-channels-plot .js-plotly-plot')?.data?.length === 4",
                           timeout=120_000)
    expect(page.locator("#fam-channels-image img")).to_have_count(1)


def test_a_shared_link_restores_the_family_and_plays(page, app_url):
    page.goto(app_url + "?tab=families&family=flow&dataset=two_moons&steps=40&flow_coupling=affine&speed=fast")
    page.wait_for_selector("#pg-header", timeout=60_000)
    page.get_by_text("Done.").wait_for(timeout=180_000)
    text = status(page)
    assert "Normalizing flow on two_moons" in text and "step 40 of 40" in text
    expect(page.locator("#fam-flow-coupling").get_by_label("affine", exact=True)).to_be_checked()


@pytest.mark.parametrize("mode", ["light", "dark", "projector"])
def test_no_contrast_failures_in_the_tab_and_projector_mode_enlarges_it(page, app_url, mode):
    query = {"light": "?__theme=light", "dark": "?__theme=dark", "projector": "?__theme=light&projector=1"}[mode]
    page.goto(app_url + query)
    page.wait_for_selector("#pg-header", timeout=60_000)
    page.wait_for_function("window.pgLinkRestored === true", timeout=60_000)  # the link's inputs are set first
    open_tab(page, "gan", steps="10")
    page.click("#fam-step")
    page.get_by_text("step 1 of 10").wait_for(timeout=120_000)
    page.get_by_text("Side by side: every family on the same data").click()
    page.locator("#fam-compare-steps input").fill("5")
    page.click("#fam-compare")
    # the table streams row by row, dimmed while it does: audit it once all five families are in
    page.wait_for_function("() => document.querySelectorAll('#fam-compare-table tr').length === 1 + 5 + 2",
                           timeout=300_000)
    page.get_by_text("Your own points: draw or paste").click()
    # our own HTML and CSS (the status, the table, the notes, the pad), not Gradio's theme (buttons, labels)
    ours = [f for f in contrast_failures(page, PANEL)
            if not f["html"].startswith(("<button", "<label", "<span", "<div class=\"icon")) and
            any(key in f["html"] for key in ("fam-", "pg-summary", "pg-note", "<td", "<th", "<p", "<strong"))]
    assert ours == [], ours
    # sizes as drawn: CSS pixels times the zoom that applies (projector mode zooms the page)
    sizes = page.evaluate("""() => {
        const drawn = (el) => parseFloat(getComputedStyle(el).fontSize) * (el.currentCSSZoom || 1);
        const plot = document.querySelector('#fam-picture .js-plotly-plot');
        return {
          status: drawn(document.querySelector('#fam-status p') || document.querySelector('#fam-status')),
          table: drawn(document.querySelector('#fam-compare-table td')),
          plot: plot.layout.font.size * (plot.currentCSSZoom || 1),
          pad: document.querySelector('svg.fam-pad').getBoundingClientRect().width};
    }""")
    if mode == "projector":
        assert sizes["plot"] >= 1.3 * 12 and sizes["table"] >= 1.3 * 14 and sizes["status"] >= 1.3 * 14
    else:
        assert sizes["plot"] == 12


def test_train_family_api_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    result = client.predict("autoregressive", "ring8", 30, 0, {}, api_name="/train_family")
    assert result["family"] == "autoregressive" and len(result["samples"]) == 1000
    assert result["metrics"]["num_modes"] == 8 and result["metrics"]["likelihood_kind"] == "exact"
    preset = client.predict("gan", "ring8", 10, 0, {"preset": "mode_collapse"}, api_name="/train_family")
    assert preset["settings"]["lr_g"] == 2e-3 and preset["metrics"]["log_likelihood"] is None
    with pytest.raises(Exception, match="steps = 1,000,000,000 is above the largest allowed"):
        client.predict("gan", "ring8", 10**9, 0, {}, api_name="/train_family")
    with pytest.raises(Exception, match="family 'bert' is unknown"):
        client.predict("bert", "ring8", 0, 0, {}, api_name="/train_family")
