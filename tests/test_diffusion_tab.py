"""The Diffusion tab's formatting and input handling (no model needed)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from playground.diffusion import PromptTokens
from tabs import diffusion as tab
from tabs import diffusion_filmstrips as filmstrips
from tabs import diffusion_forward as forward
from tabs.diffusion_inputs import read_settings
from tabs import diffusion_views as views


def test_tokens_are_escaped_and_truncation_is_said():
    tokens = PromptTokens(tokens=["[CLS]", "<img src=x onerror=alert(1)>", "[SEP]"], positions=[0, 1, 2],
                          max_length=3, truncated=True, dropped="<b>the rest</b>")
    html = views.tokens_html(tokens)
    assert "<img" not in html and "&lt;img src=x" in html
    assert "truncated to 3 tokens" in html and "&lt;b&gt;the rest&lt;/b&gt;" in html


def test_schedule_figure_marks_the_current_step():
    assert len(views.schedule_figure([999.0, 1.0], [100.0, 0.1], [0.0001, 0.99]).data) == 2
    figure = views.schedule_figure([999.0, 500.0, 1.0], [100.0, 2.0, 0.1], [0.0001, 0.2, 0.99], current=1)
    assert figure.data[-1].x == (2,) and figure.data[-1].name == "step 2"


def test_settings_from_the_form():
    settings = read_settings("p", 20.0, 7.5, 3.0, "DDIM", None, 0, guidance_step=1, attention_step=4)
    assert settings.steps == 20 and settings.seed == 3 and settings.height is None
    assert settings.guidance_step == 0 and settings.attention_step == 3 and settings.negative_prompt == ""
    with pytest.raises(ValueError, match="steps must be a whole number"):
        read_settings("p", 2.5, 7.5, 0, "DDIM", "")


def test_comparison_values_are_parsed_or_refused():
    assert filmstrips._parse_values("guidance", "1, 3; 7.5") == [1.0, 3.0, 7.5]
    assert filmstrips._parse_values("scheduler", "DDIM, Euler ancestral") == ["DDIM", "Euler ancestral"]
    with pytest.raises(ValueError, match="whole numbers"):
        filmstrips._parse_values("seed", "1, two")


def test_exporting_before_a_run_and_non_image_uploads_are_page_messages(tmp_path):
    with pytest.raises(gr.Error, match="nothing to export"):
        tab.export_run(None)
    text = tmp_path / "essay.png"
    text.write_text("this is not a picture")
    with pytest.raises(gr.Error, match="not an image"):
        forward.noise_image_forward(str(text), None, "0, 10", 0, "tiny-shapes-sd", "vae")


def test_small_images_are_scaled_up_crisply():
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    big = views.scaled(image, side=8)
    assert big.shape == (8, 8, 3) and (big[:4, :4] == image[0, 0]).all()


def test_model_choices_label_the_untrained_model_honestly():
    label, value = tab.model_choices()[0]
    assert value == "tiny-shapes-sd"
    trained = (tab.EMBEDDED_PIPELINES["tiny-shapes-sd"] / "model_index.json").is_file()
    assert ("not trained yet" in label) != trained


def test_attention_overlay_puts_the_warm_colour_where_attention_gathers():
    from playground.diffusion import attention_overlay

    image = np.full((8, 8, 3), 200, np.uint8)
    heat = np.zeros((2, 2), np.float32)
    heat[0, 0] = 1.0
    overlay = attention_overlay(image, heat)
    assert overlay.shape == (8, 8, 3)
    assert overlay[0, 0, 0] > overlay[7, 7, 0] and overlay[0, 0, 2] < overlay[7, 7, 2]


def test_heat_maps_and_overlays_keep_their_meaning_in_grayscale():
    grey = lambda rgb: rgb.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # noqa: E731
    ramp = grey(views.heat_image(np.linspace(0, 1, 16)[None, :], side=16)[0])
    assert np.all(np.diff(ramp) > 0)
    from playground.diffusion import attention_overlay

    image = np.full((8, 8, 3), 255, np.uint8)  # the brightest image: attention must still stand out
    heat = np.zeros((2, 2), np.float32)
    heat[0, 0] = 1.0
    overlay = grey(attention_overlay(image, heat))
    assert overlay[0, 0] > overlay[7, 7] + 40


# ----------------------------------------------------------------------------------------------
# What a student sees: pictures at display size, captions as text, nothing stale after a failure


def _guidance(scale=5.0):
    from playground.diffusion import GuidanceExplained

    picture = np.tile(np.arange(16, dtype=np.uint8)[:, None, None] * 16, (1, 16, 3))  # (16, 16, 3)
    return GuidanceExplained(step=4, timestep=799.0, scale=scale, uncond_noise=picture, cond_noise=picture,
                             guided_noise=picture, uncond_x0=picture, cond_x0=picture, guided_x0=picture,
                             difference=np.eye(4, dtype=np.float32), difference_norm=0.25)


def _image_sizes(html):
    """(width, height) of every <img> in the HTML, read from its PNG data."""
    import base64
    import io
    import re

    from PIL import Image

    sizes = []
    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', html):
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            sizes.append(image.size)
    return sizes


def test_guidance_explained_shows_all_seven_pictures_in_two_rows_with_text_captions():
    html = views.guidance_html(_guidance())
    assert html.count('class="pg-diff-row"') == 2 and html.count("<figcaption>") == 7
    assert _image_sizes(html) == [(256, 256)] * 7                  # 16 px pictures, nearest-neighbour to 256
    assert "|cond − uncond|" in html and "0.25 of uncond" in html
    assert html.index("|cond − uncond|") < html.index("The clean image x0")   # the difference map on the first row
    off = views.guidance_html(None, tab.DenoiseSettings(guidance_scale=1.0, guidance_step=4))
    assert "<img" not in off and "no unconditional prediction" in off
    assert "not reached" in views.guidance_html(None, tab.DenoiseSettings(guidance_scale=5.0, guidance_step=40))
    assert views.guidance_html(None) == ""


def test_figure_captions_are_escaped_once():
    html = views.figure_html(np.zeros((8, 8, 3), np.uint8), '<b>"x" & y</b>')
    assert "<b>" not in html and "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;" in html and "&amp;amp;" not in html


def test_filmstrip_puts_the_values_side_by_side_and_the_steps_down():
    from playground.diffusion import Filmstrip

    frames = np.zeros((3, 2, 16, 16, 3), np.uint8)
    strip = Filmstrip(vary="guidance", row_labels=["guidance = 1.0", "guidance = 3.0", "guidance = <7.5>"],
                      column_labels=["step 1/4", "final"], frames=frames)
    html = views.filmstrip_html(strip)
    assert html.count('<th scope="col">') == 4 and html.count('<th scope="row">') == 2
    assert "guidance = &lt;7.5&gt;" in html and _image_sizes(html) == [(256, 256)] * 6


def test_export_run_writes_a_labelled_gif_and_png_at_display_size():
    from PIL import Image

    picture = np.full((64, 64, 3), 200, np.uint8)
    steps = tuple(tab.DenoisingStep(index=i, total=3, timestep=999.0 - i, sigma=1.0, alpha_bar=0.5, x_t=picture,
                                    x0=picture, noise=None, seconds=0.1, preview_seconds=0.01) for i in range(3))
    schedule = np.array([999.0, 998.0, 997.0])
    gif, png = tab.export_run(tab.RecordedRun(steps, picture, schedule, schedule, schedule))
    with Image.open(gif) as animation:
        assert animation.n_frames == 4 and animation.width >= 2 * 256 and animation.height >= 256
    with Image.open(png) as grid:
        assert grid.width >= 4 * 256 and grid.height >= 2 * 256


def test_a_failed_run_clears_the_last_pictures_and_says_it_failed():
    first = dict(zip(tab.RUN_OUTPUTS, tab.clear_run(False)))
    assert first["final"] is None and first["x0"] is None and first["previews"] == [] and first["state"] is None
    assert first["guidance"] == "" and first["attention"] == "" and first["exports"] is None
    assert first["status"] == "Starting…"
    run = tab.run("a red circle", "tiny-shapes-sd", 2.5, 5.0, 0, "DDIM", "", 0, None, 1, False, 5, 10)
    failed = dict(zip(tab.RUN_OUTPUTS, next(run)))
    assert failed["status"].startswith("<strong>The run failed:</strong> steps must be a whole number")
    with pytest.raises(gr.Error, match="steps must be a whole number"):
        next(run)


def test_stop_ends_the_run_at_its_next_step_says_where_and_spares_the_next_run():
    request = gr.Request(session_hash="a class laptop")
    tab.clear_run(False, request)                                            # the run button
    run = tab.run("a red circle", "tiny-shapes-sd", 20, 5.0, 0, "DDIM", "", 0, None, 1, False, 5, 10, 0, request)
    assert dict(zip(tab.RUN_OUTPUTS, next(run)))["status"].startswith("Step 1 of 20")
    tab.stop_run(request)
    rest = [dict(zip(tab.RUN_OUTPUTS, outputs)) for outputs in run]
    assert len(rest) == 1 and rest[0]["status"].startswith("Stopped at Step 1 of 20")
    assert isinstance(rest[0]["final"], type(gr.skip())) and rest[0]["x0"].endswith(".png")
    tab.clear_run(False, request)                                            # pressed again: this run goes on
    *_, done = tab.run("a red circle", "tiny-shapes-sd", 2, 5.0, 0, "DDIM", "", 0, None, 1, False, 1, 1, 0, request)
    assert dict(zip(tab.RUN_OUTPUTS, done))["status"].startswith("Done: 2 steps")
    other = gr.Request(session_hash="another laptop")                        # a Stop stops its own session only
    tab.clear_run(False, other)
    tab.stop_run(request)
    *_, done = tab.run("a red circle", "tiny-shapes-sd", 2, 5.0, 0, "DDIM", "", 0, None, 1, False, 1, 1, 0, other)
    assert dict(zip(tab.RUN_OUTPUTS, done))["status"].startswith("Done: 2 steps")


def test_preview_choices_follow_the_model():
    options = tab.default_preview_options()
    assert options.choices == ["vae"] and options.default == "vae"          # tiny-shapes-sd: its VAE, exact
    assert "No linear latent-to-RGB matrix" in views.preview_info(options)
    preview, decoder = tab.update_previews("tiny-shapes-sd", "taesd", "vae")
    assert preview["choices"] == decoder["choices"] == ["vae"]
    assert preview["value"] == "vae" and decoder["value"] == "vae"


def test_forward_diffusion_examples_are_scenes_from_the_models_world():
    from PIL import Image

    from playground import shapes

    choices = forward.example_choices(tab.PROMPT)
    assert choices[0][0] == tab.PROMPT and len(choices) >= 3
    for caption, name in choices:
        image = np.asarray(Image.open(forward.EXAMPLE_IMAGES / name).convert("RGB"))
        assert image.shape == (64, 64, 3)
        background = caption.rsplit(" on a ", 1)[1].removesuffix(" background")
        assert tuple(image[0, 0]) == shapes.BACKGROUNDS[background], caption
        named = {colour for colour in shapes.COLOURS if f" {colour} " in f" {caption} "}
        assert named and named == {d.colour for d in shapes.detect(image)}, caption
