"""End to end: the Diffusion tab of `python app.py` in headless Chromium, and the denoise API through
gradio_client, with a tiny random pipeline folder passed by path, and the embedded tiny-shapes-sd."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import fill_and_commit
from tests.tiny_diffusion import build_tiny_pipeline

pytestmark = pytest.mark.e2e


OWN_HTML = ("#diff-status", "#diff-guidance-gallery", "#diff-attention-note", "#diff-attention-gallery", "#diff-strip",
            "#diff-fwd-gallery")   # the tab's own HTML: the contrast audit's scope (Gradio's theme is audited apart)
PICTURES = ("#diff-xt", "#diff-x0", "#diff-final", "#diff-guidance-gallery", "#diff-attention-gallery", "#diff-previews",
            "#diff-strip", "#diff-fwd-gallery")


def fetch_image(page, source: str):
    """A picture on the page (a file the server sends, or a data: URL) as a PIL image."""
    import base64

    from PIL import Image

    if source.startswith("data:"):
        return Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))
    return Image.open(io.BytesIO(page.request.get(source).body()))


def picture_sizes(page, selectors=PICTURES) -> dict:
    """{container: (smallest shown width, smallest shown height, count)} of every picture in the Diffusion views."""
    return page.evaluate("""(selectors) => Object.fromEntries(selectors.map((selector) => {
        const boxes = [...document.querySelectorAll(selector + " img")].map((img) => img.getBoundingClientRect());
        return [selector, [Math.min(...boxes.map((b) => b.width)), Math.min(...boxes.map((b) => b.height)), boxes.length]];
    }))""", list(selectors))


def assert_pictures_at_least(page, side: int, selectors=PICTURES) -> dict:
    sizes = picture_sizes(page, selectors)
    for selector, (width, height, count) in sizes.items():
        assert count > 0 and width >= side and height >= side, (selector, width, height, count)
    return sizes


def open_views(page) -> None:
    for name in ("Guidance explained", "Cross-attention", "All previews and exports", "Comparisons (filmstrips)",
                 "Forward diffusion: noising an image"):
        page.get_by_text(name, exact=True).click()


@pytest.fixture(scope="session")
def pipeline_folder(tmp_path_factory):
    return str(build_tiny_pipeline(tmp_path_factory.mktemp("e2e") / "tiny-sd"))


def open_tab(page, folder, steps="6"):
    page.get_by_role("tab", name="Diffusion").click()
    model = page.locator("#diff-model input")
    model.fill(folder)
    model.press("Enter")
    fill_and_commit(page.locator("#diff-steps input"), steps)


def test_a_run_streams_previews_then_scrubs_plays_filmstrips_and_exports(page, pipeline_folder):
    open_tab(page, pipeline_folder)
    page.get_by_text("Previews, guidance and attention").click()
    fill_and_commit(page.locator("#diff-attention-step input"), "3")
    page.click("#diff-run")
    page.get_by_text("Done: 6 steps of DDIM").wait_for(timeout=180_000)
    page.get_by_text("Guidance explained").click()
    expect(page.locator("#diff-guidance-gallery img")).to_have_count(7, timeout=30_000)  # 3 noises, 3 x0s, |cond - uncond|
    page.get_by_text("Cross-attention", exact=True).click()
    assert "[CLS]" in page.inner_text("#diff-attention-note") and "Step 3" in page.inner_text("#diff-attention-note")
    expect(page.locator("#diff-attention-gallery img")).to_have_count(15, timeout=30_000)  # [CLS], 13 words, [SEP]
    expect(page.locator("#diff-final img")).to_have_count(1, timeout=30_000)
    expect(page.locator("#diff-x0 img")).to_have_count(1, timeout=30_000)
    expect(page.locator("#diff-xt img")).to_have_count(1, timeout=30_000)
    expect(page.locator("#diff-plot .js-plotly-plot")).to_have_count(1, timeout=30_000)

    page.locator("#diff-scrubber input[type=number]").fill("2")
    page.locator("#diff-scrubber input[type=number]").press("Enter")
    page.get_by_text("Step 2 of 6").wait_for(timeout=30_000)
    page.click("#diff-play")
    page.get_by_text("Step 6 of 6").wait_for(timeout=30_000)

    page.get_by_text("All previews and exports").click()
    expect(page.locator("#diff-previews img")).to_have_count(6, timeout=30_000)
    page.click("#diff-export")
    page.wait_for_selector("#diff-export-files a", timeout=60_000)
    links = [link.get_attribute("href") for link in page.locator("#diff-export-files a").all()]
    assert any(link.endswith("denoising.gif") for link in links) and any(link.endswith(".png") for link in links)
    for link in links:           # exports at display size: x_t and x0 side by side, 256 px each at least
        with fetch_image(page, link) as export:
            assert export.width >= 2 * 256 and export.height >= 256, (link, export.size)

    page.get_by_text("Comparisons (filmstrips)").click()
    fill_and_commit(page.locator("#diff-values textarea"), "1, 4")
    page.click("#diff-compare")
    page.wait_for_selector("#diff-strip img", timeout=180_000)
    page.wait_for_selector("#diff-strip-files a", timeout=30_000)
    links = [link.get_attribute("href") for link in page.locator("#diff-strip-files a").all()]
    assert any(link.endswith("filmstrip-guidance.gif") for link in links)
    for link in links:           # two guidance values, each tile 256 px at least
        with fetch_image(page, link) as export:
            assert export.width >= 2 * 256 and export.height >= 256, (link, export.size)
    assert_pictures_at_least(page, 256, [p for p in PICTURES if p != "#diff-fwd-gallery"])


def test_bad_input_stop_and_forward_diffusion(page, pipeline_folder):
    open_tab(page, pipeline_folder, steps="0")
    page.click("#diff-run")
    page.get_by_text("steps = 0 is out of range").first.wait_for(timeout=60_000)

    page.locator("#diff-steps input").fill("900")
    page.click("#diff-run")
    page.get_by_text(re.compile(r"Step \d+ of 900")).wait_for(timeout=120_000)
    page.click("#diff-stop", timeout=90_000)       # a page busy streaming on a loaded machine answers late
    expect(page.locator("#diff-status")).to_contain_text("Stopped at Step", timeout=30_000)
    status = page.inner_text("#diff-status")
    assert "Done" not in status and "of 900" in status and status.startswith("Stopped at Step")
    page.wait_for_timeout(2000)
    assert page.inner_text("#diff-status") == status  # nothing streams after Stop

    page.locator("#diff-steps input").fill("2")
    page.click("#diff-run")
    page.get_by_text("Done: 2 steps").wait_for(timeout=120_000)
    expect(page.locator("#diff-final img")).to_have_count(1, timeout=30_000)

    # a failed run after a good one: no stale "Done", no pictures that look like its result
    page.locator("#diff-steps input").fill("0")
    page.click("#diff-run")
    expect(page.locator("#diff-status")).to_contain_text("The run failed: steps = 0 is out of range", timeout=60_000)
    assert "Done" not in page.inner_text("#diff-status")
    for picture in ("#diff-final", "#diff-x0", "#diff-xt", "#diff-previews"):
        expect(page.locator(f"{picture} img")).to_have_count(0, timeout=10_000)
    page.locator("#diff-steps input").fill("2")

    page.get_by_text("Forward diffusion: noising an image").click()
    page.click("#diff-fwd-run")
    page.wait_for_selector("#diff-fwd-gallery img", timeout=60_000)
    expect(page.locator("#diff-fwd-gallery img")).to_have_count(8, timeout=30_000)  # the image, its VAE round trip, six timesteps


def test_the_embedded_tiny_shapes_sd_draws_the_default_prompt(page):
    """No model typed: the default tiny-shapes-sd, trained in this repository, draws the default prompt."""
    import numpy as np
    from PIL import Image

    from playground import shapes

    page.get_by_role("tab", name="Diffusion").click()
    page.click("#diff-run")
    page.get_by_text(re.compile(r"Done: \d+ steps")).wait_for(timeout=120_000)
    source = page.locator("#diff-final img").get_attribute("src")
    picture = Image.open(io.BytesIO(page.request.get(source).body())).convert("RGB")
    image = np.asarray(picture.resize((64, 64), Image.Resampling.BOX))
    found = {d.colour: d for d in shapes.detect(image)}
    assert {"red", "blue"} <= set(found), found
    assert found["red"].y < found["blue"].y                     # "a small red circle above a large blue square"


def test_denoise_api_returns_the_final_image_file_previews_and_timesteps(app_url, pipeline_folder):
    from gradio_client import Client
    from PIL import Image

    client = Client(app_url, verbose=False)
    import numpy as np

    image, previews, timesteps = client.predict("a red circle", pipeline_folder, 4, 7.5, 3, "Euler", "",
                                                api_name="/denoise")
    with Image.open(image) as final:
        assert final.size == (32, 32)                  # the model's own pixels, not the page's enlargement
        final = np.asarray(final.convert("RGB"), dtype=int)
    assert len(previews) == len(timesteps) == 4
    with Image.open(previews[-1]["image"]) as last:
        assert last.size == (32, 32)                   # the last predicted x0, through the model's own VAE
        assert np.abs(np.asarray(last.convert("RGB"), dtype=int) - final).mean() < 2.0
    assert timesteps == sorted(timesteps, reverse=True)
    with pytest.raises(Exception, match="unknown scheduler"):
        client.predict("x", pipeline_folder, 4, 7.5, 3, "Heun", "", api_name="/denoise")


def font_sizes(page) -> dict:
    """Font size as drawn (CSS px times the zoom that applies: projector mode zooms the page) of the tab's
    captions, notes and plot text."""
    return page.evaluate("""() => Object.fromEntries([
        ["status", "#diff-status"], ["figure caption", "#diff-guidance-gallery figcaption"],
        ["attention caption", "#diff-attention-gallery figcaption"], ["attention note", "#diff-attention-note p"],
        ["filmstrip label", "#diff-strip th"], ["forward caption", "#diff-fwd-gallery figcaption"],
        ["gallery caption", "#diff-previews .caption-label"], ["plot tick", "#diff-plot .xtick text"],
        ["plot legend", "#diff-plot .legendtext"], ["plot title", "#diff-plot .gtitle"],
    ].map(([name, selector]) => {
        const found = document.querySelector(selector);
        return [name, found ? parseFloat(getComputedStyle(found).fontSize) * (found.currentCSSZoom || 1) : null];
    }))""")


def own_contrast_failures(page) -> list:
    from tests.conftest import contrast_failures

    return [failure for selector in OWN_HTML for failure in contrast_failures(page, selector)]


def test_default_run_last_x0_is_the_final_image_every_picture_is_big_and_readable_in_every_mode(page):
    """tiny-shapes-sd on the defaults: previews through its own VAE (the only decoder offered), so the last
    predicted x0 is the final picture; every picture at least 256 px; projector mode 1.3x larger everywhere;
    no contrast failure in the tab's own HTML in the light theme, the dark theme and projector mode."""
    import numpy as np

    page.get_by_role("tab", name="Diffusion").click()
    page.get_by_text("Previews, guidance and attention").click()
    expect(page.locator("#diff-preview label")).to_have_text(["vae"], timeout=30_000)   # no taesd, no linear map
    page.click("#diff-run")
    expect(page.locator("#diff-status")).to_contain_text("Done: 20 steps", timeout=180_000)
    assert "Previews: the model's own VAE decoder: exact" in page.inner_text("#diff-status")
    x0 = fetch_image(page, page.locator("#diff-x0 img").get_attribute("src"))
    final = fetch_image(page, page.locator("#diff-final img").get_attribute("src"))
    assert x0.size == final.size == (256, 256)
    difference = np.abs(np.asarray(x0.convert("RGB"), dtype=int) - np.asarray(final.convert("RGB"), dtype=int))
    assert difference.mean() < 2.0 and (difference <= 8).mean() > 0.99, (difference.mean(), difference.max())
    big = np.asarray(final.convert("RGB"))
    assert (big[::4, ::4] == big[3::4, 3::4]).all()          # nearest-neighbour: each model pixel a 4 x 4 block

    open_views(page)
    page.click("#diff-compare")
    expect(page.locator("#diff-strip img")).to_have_count(3 * 6, timeout=240_000)
    page.click("#diff-fwd-run")
    expect(page.locator("#diff-fwd-gallery img")).to_have_count(8, timeout=120_000)
    expect(page.locator("#diff-attention-note")).to_contain_text("at 8x8 latent cells")
    # Guidance explained: the |cond - uncond| map sits in the first row, and nothing in the view scrolls inside
    assert page.evaluate("""() => [...document.querySelectorAll('#diff-guidance-gallery, #diff-guidance-gallery *')]
        .every((e) => e.scrollHeight <= e.clientHeight + 1 || getComputedStyle(e).overflowY === 'visible')""")
    heat = page.locator("#diff-guidance-gallery figure", has_text="|cond − uncond|")
    assert heat.locator("img").bounding_box()["y"] < page.locator("#diff-guidance-gallery figure").nth(4).bounding_box()["y"]
    page.wait_for_timeout(1000)
    light = assert_pictures_at_least(page, 256)
    light_fonts = font_sizes(page)
    assert own_contrast_failures(page) == []

    page.click("#pg-dark-toggle")
    page.wait_for_timeout(800)
    assert own_contrast_failures(page) == []
    page.click("#pg-dark-toggle")

    page.click("#pg-projector-toggle")
    page.wait_for_timeout(1500)
    projected = picture_sizes(page)
    for selector, (width, height, count) in projected.items():
        assert width >= 1.3 * light[selector][0] and height >= 1.3 * light[selector][1], (selector, width, light)
    projected_fonts = font_sizes(page)
    for name, size in light_fonts.items():
        assert size and projected_fonts[name] >= 1.3 * size, (name, size, projected_fonts[name])
    assert own_contrast_failures(page) == []


def test_a_try_these_example_runs_the_tab(page, pipeline_folder):
    open_tab(page, pipeline_folder)
    page.locator("#diff-examples").get_by_text("a large green star in the center on a black background").click()
    expect(page.locator("#diff-status")).to_contain_text("Done: 25 steps of Euler ancestral", timeout=180_000)
    assert page.locator("#diff-prompt textarea").input_value() == "a large green star in the center on a black background"
    expect(page.locator("#diff-final img")).to_have_count(1, timeout=30_000)


def test_lesson_steps_show_what_their_sentences_say(page):
    """Step 2 turns the predicted noise on (its third picture), step 3's previews are the VAE's own, step 4's
    Guidance explained holds both predictions at step 5."""
    page.get_by_role("tab", name="Diffusion").click()
    page.get_by_text("Lesson: From noise to a picture").click()
    page.get_by_text("Guidance explained", exact=True).click()

    def try_step(number: int) -> str:
        while f"Step {number} of" not in page.inner_text("#diffusion-lesson-text"):
            page.click("#diffusion-lesson-next")
            page.wait_for_timeout(300)
        page.click("#diffusion-lesson-try")
        expect(page.locator("#diff-final img")).to_have_count(0, timeout=30_000)     # the run has started
        expect(page.locator("#diff-final img")).to_have_count(1, timeout=180_000)
        expect(page.locator("#diff-status")).to_contain_text("Done:", timeout=30_000)
        return page.inner_text("#diffusion-lesson-text")

    text = try_step(2)
    assert "purple star" in text and "black star" not in text
    expect(page.locator("#diff-noise img")).to_have_count(1)
    text = try_step(3)
    assert "Every preview here goes through the VAE's own decoder" in text and "much slower" not in text
    assert "Previews: the model's own VAE decoder: exact" in page.inner_text("#diff-status")
    try_step(4)
    expect(page.locator("#diff-guidance-gallery img")).to_have_count(7, timeout=30_000)
    assert "Step 5 (t = " in page.inner_text("#diff-guidance-gallery")
