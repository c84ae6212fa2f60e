"""playground.families.latent: captions to scenes, and interpolation, arithmetic and channels through the embedded
tiny-shapes-sd VAE (loaded alone with diffusers, the same weights the tab uses through load_pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from playground import shapes
from playground.families import latent

VAE_FOLDER = Path(__file__).resolve().parents[1] / "assets" / "models" / "tiny-shapes-sd" / "vae"


@pytest.fixture(scope="module")
def vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(VAE_FOLDER).eval()


@pytest.mark.parametrize("caption", ["a large green star in the top left on a black background",
                                     "a small red circle above a large blue square on a white background",
                                     "a small purple diamond to the right of a large orange diamond on a gray background"])
def test_a_renderer_caption_comes_back_as_the_same_caption_and_the_detector_agrees(caption):
    scene = latent.scene_from_caption(caption)
    assert scene.caption == caption
    score = shapes.score(scene, shapes.render(scene))
    assert score.colour == score.shape == score.position == 1.0


def test_short_captions_take_defaults_and_bad_ones_say_how_to_write_them():
    assert latent.scene_from_caption("Blue star.").caption == "a large blue star in the center on a white background"
    with pytest.raises(ValueError, match="caption 'a purple cow' is not a scene the shapes renderer draws"):
        latent.scene_from_caption("a purple cow")
    with pytest.raises(ValueError, match="a caption is empty"):
        latent.scene_from_caption("  ")
    with pytest.raises(ValueError, match="give a place .* or a relation"):
        latent.scene_from_caption("a red circle in the top left above a blue square")


def test_the_caption_an_analogy_stands_for():
    assert latent.expected_caption("a red circle", "a red square", "a blue square") == \
        "a large blue circle in the center on a white background"
    assert latent.expected_caption("a small red circle", "a small red circle", "a small red circle on a black background") \
        == "a small red circle in the center on a black background"
    assert latent.expected_caption("a red circle", "a green square", "a blue square") is None   # A has no green
    assert latent.expected_caption("a red circle above a blue star", "a red circle", "a blue circle") is None


def test_interpolation_ends_are_the_scenes_and_pixels_cross_fade(vae):
    result = latent.interpolate(vae, "a red circle", "a blue square", 5)
    assert result.latent.shape == result.pixel.shape == (5, 64, 64, 3)
    assert np.array_equal(result.pixel[0], result.ends[0]) and np.array_equal(result.pixel[-1], result.ends[1])
    middle = (result.ends[0].astype(float) + result.ends[1]) / 2
    assert np.abs(result.pixel[2] - middle).max() <= 1
    back = latent.decode(vae, latent.encode(vae, result.ends))
    assert np.array_equal(result.latent[[0, -1]], back)          # the latent path starts and ends at the round trips
    with pytest.raises(ValueError, match="interpolation steps = 1 must be a whole number from 2 to 16"):
        latent.interpolate(vae, "a red circle", "a blue square", 1)


def test_latent_arithmetic_lands_nearer_the_expected_picture_than_pixel_arithmetic(vae):
    result = latent.arithmetic(vae, "a red circle", "a red square", "a blue square")
    assert result.expected_caption == "a large blue circle in the center on a white background"
    assert result.latent_error < result.pixel_error
    assert "blue circle" in result.latent_reads and "red" in result.pixel_reads


def test_channels_are_the_encoders_mean_and_an_upload_is_resized(vae):
    result = latent.channels(vae, "a small red circle above a large blue square on a white background")
    assert result.latents.shape == (4, 16, 16) and result.image.shape == result.reconstruction.shape == (64, 64, 3)
    upload = np.zeros((100, 80, 3), np.uint8)
    assert latent.channels(vae, upload).image.shape == (64, 64, 3)
