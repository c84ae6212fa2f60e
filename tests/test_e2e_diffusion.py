"""End to end: the Diffusion tab of `python app.py` in headless Chromium, and the denoise API through
gradio_client, with a tiny random pipeline folder passed by path, and the embedded tiny-shapes-sd."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from tests.tiny_diffusion import build_tiny_pipeline

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def pipeline_folder(tmp_path_factory):
    return str(build_tiny_pipeline(tmp_path_factory.mktemp("e2e") / "tiny-sd"))


def open_tab(page, folder, steps="6"):
    page.get_by_role("tab", name="Diffusion").click()
    model = page.locator("#diff-model input")
    model.fill(folder)
    model.press("Enter")
    page.locator("#diff-steps input").fill(steps)


def test_a_run_streams_previews_then_scrubs_plays_filmstrips_and_exports(page, pipeline_folder):
    open_tab(page, pipeline_folder)
    page.get_by_text("Previews, guidance and attention").click()
    page.locator("#diff-attention-step input").fill("3")
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

    page.get_by_text("Comparisons (filmstrips)").click()
    page.locator("#diff-values textarea").fill("1, 4")
    page.click("#diff-compare")
    page.wait_for_selector("#diff-strip img", timeout=180_000)
    page.wait_for_selector("#diff-strip-files a", timeout=30_000)
    links = [link.get_attribute("href") for link in page.locator("#diff-strip-files a").all()]
    assert any(link.endswith("filmstrip-guidance.gif") for link in links)


def test_bad_input_stop_and_forward_diffusion(page, pipeline_folder):
    open_tab(page, pipeline_folder, steps="0")
    page.click("#diff-run")
    page.get_by_text("steps = 0 is out of range").first.wait_for(timeout=60_000)

    page.locator("#diff-steps input").fill("200")
    page.click("#diff-run")
    page.get_by_text(re.compile(r"Step \d+ of 200")).wait_for(timeout=120_000)
    page.click("#diff-stop", timeout=90_000)       # a page busy streaming on a loaded machine answers late
    page.wait_for_timeout(3000)
    status = page.inner_text("#diff-status")
    assert "Done" not in status and "of 200" in status
    page.wait_for_timeout(2000)
    assert page.inner_text("#diff-status") == status  # nothing streams after Stop

    page.locator("#diff-steps input").fill("2")
    page.click("#diff-run")
    page.get_by_text("Done: 2 steps").wait_for(timeout=120_000)

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
    image, previews, timesteps = client.predict("a red circle", pipeline_folder, 4, 7.5, 3, "Euler", "",
                                                api_name="/denoise")
    with Image.open(image) as final:
        assert final.size == (32, 32)
    assert len(previews) == len(timesteps) == 4
    assert timesteps == sorted(timesteps, reverse=True)
    with pytest.raises(Exception, match="unknown scheduler"):
        client.predict("x", pipeline_folder, 4, 7.5, 3, "Heun", "", api_name="/denoise")
