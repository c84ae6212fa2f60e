"""The committed tiny-shapes-sd weights: they load through the runtime and through plain diffusers, fit
the size budget, repeat with a seed, match the diffusers pipeline image for image, and draw what they are
asked for (a small check here; scripts/evaluate_tiny_shapes.py gives the full figures)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from playground import diffusion as D
from playground.device import torch_threads
from playground import shapes
from training import tiny_shapes as T

FOLDER = T.PIPELINE_FOLDER


@pytest.fixture(scope="module")
def loaded():
    return D.load_pipeline("tiny-shapes-sd")


def test_the_folder_is_a_fp16_stable_diffusion_pipeline_under_30_mb():
    index = json.loads((FOLDER / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["text_encoder"] == [None, None] and index["unet"][1] == "UNet2DConditionModel"
    assert index["vae"][1] == "AutoencoderKL"
    size = sum(f.stat().st_size for f in FOLDER.rglob("*") if f.is_file())
    assert size < 30e6, size
    from safetensors import safe_open

    for part in ("unet", "vae"):
        with safe_open(str(FOLDER / part / "diffusion_pytorch_model.safetensors"), "pt") as weights:
            assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}
    record = json.loads((FOLDER / "training.json").read_text())
    assert record["settings"]["seed"] == 0 and "reproduce" in record


def test_it_loads_through_the_runtime_with_the_embedded_minilm(loaded):
    assert loaded.native_size == 64 and loaded.latent_channels == 4 and not loaded.is_lcm
    assert "all-minilm-l6-v2" in loaded.text_encoder_note
    assert loaded.pipe.tokenizer.model_max_length == T.MAX_TOKENS


def test_our_loop_makes_the_plain_diffusers_image_and_a_seed_repeats(loaded):
    pipe = T.load_for_evaluation(FOLDER, "cpu")
    prompt = "a large red circle in the center on a white background"
    settings = D.DenoiseSettings(prompt=prompt, steps=10, guidance_scale=5.0, seed=3, scheduler="DDIM")
    pipe.scheduler = D.make_scheduler(loaded, "DDIM")
    with torch_threads(D.run_threads(loaded, 64, 64)):   # our loop's thread count: rounding depends on it
        expected = T.generate_images(pipe, [prompt], steps=10, guidance_scale=5.0, seed=3)[0]
    _, first = D.generate(loaded, settings)
    _, again = D.generate(loaded, settings)
    assert np.array_equal(first.image, expected) and np.array_equal(first.image, again.image)
    _, other = D.generate(loaded, D.DenoiseSettings(prompt=prompt, steps=10, guidance_scale=5.0, seed=4))
    assert not np.array_equal(first.image, other.image)


def test_it_draws_the_colour_and_shape_it_is_asked_for():
    """One object: colour 100% and shape 87% on 200 held-out captions (scripts/evaluate_tiny_shapes.py)."""
    pipe = T.load_for_evaluation(FOLDER, "cpu")
    prompts = [f"a large {colour} {shape} in the center on a white background"
               for colour, shape in zip(shapes.COLOURS, shapes.SHAPES + ("circle",))]
    images = T.generate_images(pipe, prompts, steps=20, guidance_scale=5.0, seed=0)
    found = [shapes.detect(image) for image in images]
    drawn = [(f[0].colour, f[0].shape) if f else None for f in found]
    wanted = list(zip(shapes.COLOURS, shapes.SHAPES + ("circle",)))
    assert sum(d is not None and d[0] == w[0] for d, w in zip(drawn, wanted)) >= 5, drawn
    assert sum(d == w for d, w in zip(drawn, wanted)) >= 4, drawn


def test_it_puts_two_objects_in_the_relation_it_is_asked_for():
    """Two objects: the relation right for 98% of 200 held-out captions; here 8 more, graded the same way."""
    scenes = shapes.sample_scenes(8, seed=5, split="heldout", pair_share=1.0)
    assert {scene.relation for scene in scenes} == set(shapes.RELATIONS)
    pipe = T.load_for_evaluation(FOLDER, "cpu")
    images = T.generate_images(pipe, [scene.caption for scene in scenes], steps=20, guidance_scale=5.0, seed=0)
    right = sum(shapes.score(scene, image).position for scene, image in zip(scenes, images))
    assert right >= 6, [scene.caption for scene in scenes]


def test_its_previews_are_its_own_vae_and_the_last_x0_is_the_final_image(loaded):
    """The default preview of tiny-shapes-sd is its VAE: the predicted x0 of the last step is the final picture
    (a linear map can't show this model's latents: fitted to them, it explains less than half of the pixels)."""
    assert D.preview_options(loaded).choices == ["vae"]
    prompt = "a small red circle above a large blue square on a white background"
    steps, result = D.generate(loaded, D.DenoiseSettings(prompt=prompt, steps=20, guidance_scale=5.0, seed=0))
    difference = np.abs(steps[-1].x0.astype(int) - result.image.astype(int))
    assert difference.mean() < 2.0 and (difference <= 8).mean() > 0.99, (difference.mean(), difference.max())
    assert steps[0].x0.std() > 10                                    # a picture, not a blank, from the first step
    assert D.fit_linear_preview(loaded).r2 < 0.5


def test_cross_attention_at_the_default_level_follows_the_colour_words(loaded):
    """At the default level (8 x 8 here) "red" gathers on the red circle and "blue" on the blue square."""
    from PIL import Image

    prompt = "a small red circle above a large blue square on a white background"
    steps, result = D.generate(loaded, D.DenoiseSettings(prompt=prompt, steps=20, guidance_scale=5.0, seed=0,
                                                         attention_step=9, preview_every=100))
    maps = steps[9].attention
    assert maps.resolution == (8, 8)
    image = result.image.astype(int)
    red = (image[..., 0] > 150) & (image[..., 2] < 100)
    blue = (image[..., 2] > 150) & (image[..., 0] < 100)
    assert red.sum() > 50 and blue.sum() > 100

    def share(word, mask):
        heat = np.asarray(Image.fromarray(maps.maps[maps.tokens.tokens.index(word)]).resize((64, 64), Image.BILINEAR))
        return heat[mask].mean() / heat.mean()
    assert share("red", red) > 2 * share("red", blue)
    assert share("blue", blue) > 2 * share("blue", red)


def test_the_forward_diffusion_examples_survive_the_vae_round_trip(loaded):
    """Pictures from the model's own world: at t = 0 the VAE gives them back (the old yellow example: 0.23)."""
    from tabs.diffusion_forward import EXAMPLE_IMAGES

    for path in sorted(EXAMPLE_IMAGES.glob("*.png")):
        result = D.forward_diffusion(loaded, str(path), [0], seed=0)
        assert np.abs(result.reconstruction.astype(int) - result.original).mean() / 255 < 0.03, path.name
