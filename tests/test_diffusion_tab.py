"""The Diffusion tab's formatting and input handling (no model needed)."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from playground.diffusion import PromptTokens
from tabs import diffusion as tab


def test_tokens_are_escaped_and_truncation_is_said():
    tokens = PromptTokens(tokens=["[CLS]", "<img src=x onerror=alert(1)>", "[SEP]"], positions=[0, 1, 2],
                          max_length=3, truncated=True, dropped="<b>the rest</b>")
    html = tab.tokens_html(tokens)
    assert "<img" not in html and "&lt;img src=x" in html
    assert "truncated to 3 tokens" in html and "&lt;b&gt;the rest&lt;/b&gt;" in html


def test_schedule_figure_marks_the_current_step():
    assert len(tab.schedule_figure([999.0, 1.0], [100.0, 0.1], [0.0001, 0.99]).data) == 2
    figure = tab.schedule_figure([999.0, 500.0, 1.0], [100.0, 2.0, 0.1], [0.0001, 0.2, 0.99], current=1)
    assert figure.data[-1].x == (2,) and figure.data[-1].name == "step 2"


def test_settings_from_the_form():
    settings = tab._settings("p", 20.0, 7.5, 3.0, "DDIM", None, 0, guidance_step=1, attention_step=4)
    assert settings.steps == 20 and settings.seed == 3 and settings.height is None
    assert settings.guidance_step == 0 and settings.attention_step == 3 and settings.negative_prompt == ""
    with pytest.raises(ValueError, match="steps must be a whole number"):
        tab._settings("p", 2.5, 7.5, 0, "DDIM", "")


def test_comparison_values_are_parsed_or_refused():
    assert tab._parse_values("guidance", "1, 3; 7.5") == [1.0, 3.0, 7.5]
    assert tab._parse_values("scheduler", "DDIM, Euler ancestral") == ["DDIM", "Euler ancestral"]
    with pytest.raises(ValueError, match="whole numbers"):
        tab._parse_values("seed", "1, two")


def test_exporting_before_a_run_and_non_image_uploads_are_page_messages(tmp_path):
    with pytest.raises(gr.Error, match="nothing to export"):
        tab.export_run({})
    text = tmp_path / "essay.png"
    text.write_text("this is not a picture")
    with pytest.raises(gr.Error, match="not an image"):
        tab.noise_image_forward(str(text), None, "0, 10", 0, "tiny-shapes-sd", "vae")


def test_small_images_are_scaled_up_crisply():
    image = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    big = tab.scaled(image, side=8)
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
    ramp = grey(tab.heat_image(np.linspace(0, 1, 16)[None, :], side=16)[0])
    assert np.all(np.diff(ramp) > 0)
    from playground.diffusion import attention_overlay

    image = np.full((8, 8, 3), 255, np.uint8)  # the brightest image: attention must still stand out
    heat = np.zeros((2, 2), np.float32)
    heat[0, 0] = 1.0
    overlay = grey(attention_overlay(image, heat))
    assert overlay[0, 0] > overlay[7, 7] + 40
