"""Our denoising loop against diffusers' own StableDiffusionPipeline, on tiny random pipelines saved with
save_pretrained (tests/tiny_diffusion.py): same image, same seed, clear errors, previews, exports."""

from __future__ import annotations

import numpy as np
import pytest
from huggingface_hub import constants as hub_constants
import torch
from PIL import Image

from playground import diffusion as D
from playground.device import torch_threads
from tests.tiny_diffusion import build_tiny_pipeline

PROMPT = "a small red circle above a large blue square"


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """tiny-shapes-sd's layout: no text encoder stored, the embedded MiniLM is passed in at load."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("pipelines") / "tiny-sd", taesd=True)


@pytest.fixture(scope="session")
def tiny(tiny_folder):
    return D.load_pipeline(str(tiny_folder))


@pytest.fixture(scope="session")
def tiny_lcm(tmp_path_factory):
    """A Hub checkpoint's layout: its own (random BERT) text encoder; an LCM U-Net with a guidance embedding."""
    folder = build_tiny_pipeline(tmp_path_factory.mktemp("pipelines") / "tiny-lcm", own_text_encoder=True, lcm=True,
                                 seed=1)
    return D.load_pipeline(str(folder))


_references: dict = {}


def diffusers_image(loaded, scheduler, **call):
    """The image diffusers' StableDiffusionPipeline makes from freshly loaded components (stock attention)."""
    if loaded.path not in _references:
        _references[loaded.path] = reference_pipeline(loaded)
    reference = _references[loaded.path]
    reference.scheduler = D.make_scheduler(loaded, scheduler)
    seed = call.pop("seed")
    # on the thread count our loop uses: convolutions round differently on one thread and on two
    with torch_threads(D.run_threads(loaded, *D.validate(loaded, D.DenoiseSettings()))):
        images = reference(generator=torch.Generator().manual_seed(seed), output_type="np", **call).images
    return (images[0] * 255).round().astype(np.uint8)


def reference_pipeline(loaded):
    from diffusers import StableDiffusionPipeline

    extra = {} if loaded.text_encoder_note.startswith("the pipeline's own") else {"text_encoder": loaded.pipe.text_encoder}
    reference = StableDiffusionPipeline.from_pretrained(loaded.path, safety_checker=None, requires_safety_checker=False,
                                                        **extra)
    reference.set_progress_bar_config(disable=True)
    return reference


@pytest.mark.parametrize("scheduler", ["DDIM", "Euler", "Euler ancestral", "DPM-Solver++ 2M", "DDPM", "LMS", "PNDM"])
def test_same_image_as_the_diffusers_pipeline(tiny, scheduler):
    settings = D.DenoiseSettings(prompt=PROMPT, negative_prompt="green", steps=4, guidance_scale=6.0, seed=7,
                                 scheduler=scheduler, preview_every=2)
    steps, result = D.generate(tiny, settings)
    expected = diffusers_image(tiny, scheduler, prompt=PROMPT, negative_prompt="green", num_inference_steps=4,
                               guidance_scale=6.0, seed=7)
    assert np.array_equal(result.image, expected)
    assert [s.timestep for s in steps] == result.timesteps


def test_same_image_with_lcm_and_the_pipelines_own_text_encoder(tiny_lcm):
    settings = D.DenoiseSettings(prompt=PROMPT, steps=3, guidance_scale=4.0, seed=2, scheduler="LCM")
    _, result = D.generate(tiny_lcm, settings)
    expected = diffusers_image(tiny_lcm, "LCM", prompt=PROMPT, num_inference_steps=3, guidance_scale=4.0, seed=2)
    assert np.array_equal(result.image, expected)
    assert tiny_lcm.is_lcm and tiny_lcm.text_encoder_note.startswith("the pipeline's own")


def test_unconditional_empty_prompt_matches_diffusers_too(tiny):
    _, result = D.generate(tiny, D.DenoiseSettings(prompt="", steps=3, guidance_scale=1.0, seed=5, scheduler="Euler"))
    expected = diffusers_image(tiny, "Euler", prompt="", num_inference_steps=3, guidance_scale=1.0, seed=5)
    assert np.array_equal(result.image, expected)


def test_the_same_seed_gives_the_same_image_and_another_seed_does_not(tiny):
    settings = D.DenoiseSettings(prompt=PROMPT, steps=3, seed=11, scheduler="Euler ancestral", preview_every=10)
    first, second = D.generate(tiny, settings)[1], D.generate(tiny, settings)[1]
    other = D.generate(tiny, D.DenoiseSettings(**{**settings.__dict__, "seed": 12}))[1]
    assert np.array_equal(first.image, second.image)
    assert not np.array_equal(first.image, other.image)


def test_capturing_attention_and_explaining_guidance_leave_the_image_unchanged(tiny):
    plain = D.DenoiseSettings(prompt=PROMPT, steps=4, seed=3, scheduler="DDIM", preview_every=100)
    watched = D.DenoiseSettings(**{**plain.__dict__, "attention_step": 1, "guidance_step": 2, "show_noise": True,
                                   "preview": "vae", "preview_every": 1})
    _, plain_result = D.generate(tiny, plain)
    steps, watched_result = D.generate(tiny, watched)
    assert np.array_equal(plain_result.image, watched_result.image)
    assert [s.attention is not None for s in steps] == [False, True, False, False]
    assert [s.guidance is not None for s in steps] == [False, False, True, False]


def test_step_results_carry_schedule_values_and_previews_every_n_steps(tiny):
    steps, result = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=7, seed=0, scheduler="DDIM",
                                                       preview_every=3, show_noise=True))
    assert [s.index for s in steps if s.x0 is not None] == [0, 3, 6]  # every third, and the last
    shown = steps[3]
    assert shown.x_t.shape == shown.x0.shape == shown.noise.shape == result.image.shape == (32, 32, 3)
    assert shown.x_t.dtype == np.uint8
    alpha_bars = [s.alpha_bar for s in steps]
    assert alpha_bars == sorted(alpha_bars) and all(0 < a < 1 for a in alpha_bars)
    assert all(np.isclose(s.sigma, np.sqrt((1 - s.alpha_bar) / s.alpha_bar)) for s in steps)
    assert result.latents.shape == (4, 16, 16)


def test_callback_on_step_end_sees_every_step_and_can_replace_the_latents(tiny):
    seen = []

    def callback(pipe, i, t, kwargs):
        seen.append((i, float(t)))
        return {"latents": torch.zeros_like(kwargs["latents"])} if i == 1 else {}

    settings = D.DenoiseSettings(prompt=PROMPT, steps=3, seed=0, scheduler="DDIM", preview_every=10)
    items = list(D.denoise(tiny, settings, callback_on_step_end=callback))
    assert [i for i, _ in seen] == [0, 1, 2]
    assert not np.array_equal(items[-1].image, D.generate(tiny, settings)[1].image)


def test_stopping_early_is_just_closing_the_generator(tiny):
    unet_steps = []
    run = D.denoise(tiny, D.DenoiseSettings(prompt=PROMPT, steps=50, seed=0, preview_every=100),
                    callback_on_step_end=lambda pipe, i, t, kwargs: unet_steps.append(i) or {})
    first = next(run)
    run.close()
    assert first.index == 0 and first.total == 50
    assert unet_steps == [0, 1]      # step 0 is shown once step 1's U-Net call is done (its previews decode meanwhile)


def test_previews_are_decoded_beside_the_next_unet_call(tiny, monkeypatch):
    import threading

    from playground.diffusion import loop

    where = {}
    decode = loop._previews

    def previews(*args, **kwargs):
        where["previews"] = threading.current_thread().name
        return decode(*args, **kwargs)

    monkeypatch.setattr(loop, "_previews", previews)
    steps, _ = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=2, seed=0))
    assert where["previews"].startswith("previews") and threading.current_thread().name != where["previews"]
    assert all(step.x0 is not None for step in steps)


def test_guidance_panel_holds_uncond_cond_and_guided(tiny):
    steps, _ = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=3, seed=0, guidance_scale=5.0, guidance_step=0))
    g = steps[0].guidance
    assert g.scale == 5.0 and g.step == 0
    assert g.uncond_noise.shape == g.cond_noise.shape == g.guided_noise.shape == g.guided_x0.shape == (32, 32, 3)
    assert g.difference.shape == (16, 16) and g.difference_norm > 0
    no_guidance, _ = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=2, guidance_scale=1.0, guidance_step=0))
    assert no_guidance[0].guidance is None  # scale 1: no unconditional pass to compare with


def test_cross_attention_maps_per_token(tiny):
    steps, result = D.generate(tiny, D.DenoiseSettings(prompt="a red circle", steps=2, seed=0, attention_step=0))
    maps = steps[0].attention
    assert maps.tokens.tokens == ["[CLS]", "a", "red", "circle", "[SEP]"]
    assert maps.maps.shape == (5, *maps.resolution) and maps.resolution == (8, 8)
    assert maps.layers == 4  # 1 down, 1 mid and 2 up cross-attention layers, all at 8 x 8
    assert (maps.maps >= 0).all() and (maps.maps.sum(axis=0) <= 1 + 1e-5).all()
    assert not maps.tokens.truncated and result.tokens.tokens == maps.tokens.tokens


def test_a_truncated_prompt_says_so(tiny):
    tokens = D.prompt_tokens(tiny, "red " * 40 + "and finally a blue square")
    assert tokens.truncated and len(tokens.tokens) == tiny.pipe.tokenizer.model_max_length
    assert "blue square" in tokens.dropped


def test_noise_schedule(tiny):
    schedule = D.noise_schedule(tiny, "Euler", 10)
    assert len(schedule.timesteps) == len(schedule.sigmas) == len(schedule.alpha_bars) == 10
    assert schedule.sigmas == sorted(schedule.sigmas, reverse=True)
    ddim = D.noise_schedule(tiny, "DDIM", 10)
    assert ddim.alpha_bars == sorted(ddim.alpha_bars)


@pytest.mark.parametrize("change, message", [
    ({"steps": 0}, "steps = 0 is out of range"),
    ({"steps": 10_000}, "steps = 10000 is out of range"),
    ({"steps": 2.5}, "whole number"),
    ({"guidance_scale": -1.0}, "negative"),
    ({"guidance_scale": 1e6}, "too large"),
    ({"guidance_scale": float("nan")}, "must be a number"),
    ({"scheduler": "Heun"}, "unknown scheduler 'Heun'"),
    ({"scheduler": "LCM"}, "LCM-distilled"),
    ({"height": 30}, "image height = 30 can't be made"),
    ({"width": 4096}, "image width = 4096 can't be made"),
    ({"seed": -1}, "seed must be"),
    ({"preview": "jpeg"}, "unknown preview decoder"),
    ({"preview_every": 0}, "N >= 1"),
])
def test_bad_settings_are_refused_clearly(tiny, change, message):
    with pytest.raises(ValueError, match=message):
        next(D.denoise(tiny, D.DenoiseSettings(**{"prompt": PROMPT, **change})))


def test_other_sizes_that_fit_the_model_work(tiny):
    steps, result = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=2, height=48, width=40, preview="vae"))
    assert result.image.shape == (48, 40, 3) and steps[-1].x0.shape == (48, 40, 3)


def test_model_names_that_cannot_load_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="not a diffusers pipeline"):
        D.load_pipeline(str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        D.load_pipeline(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="can't be reached"):
        D.load_pipeline("someone/not-cached-sd")
    with pytest.raises(ValueError, match="empty"):
        D.load_pipeline("  ")
    monkeypatch.setitem(D.EMBEDDED_PIPELINES, "tiny-shapes-sd", tmp_path / "not-there")
    with pytest.raises(ValueError, match="not trained yet"):
        D.load_pipeline("tiny-shapes-sd")


def test_preview_decoders(tiny, tiny_lcm):
    for preview in D.PREVIEWS:
        steps, _ = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=2, preview=preview))
        assert steps[-1].x0.shape == (32, 32, 3)
    with pytest.raises(ValueError, match="no TAESD decoder"):
        D.generate(tiny_lcm, D.DenoiseSettings(prompt=PROMPT, steps=2, scheduler="LCM", preview="taesd"))


def test_linear_preview_fit_recovers_a_linear_decoder(tiny, monkeypatch):
    """If the VAE were exactly linear per latent pixel, the least-squares fit would find its matrix."""
    true = np.array([[0.5, -0.2, 0.1], [0.0, 0.3, -0.4], [0.2, 0.2, 0.2], [-0.1, 0.0, 0.6], [0.05, -0.05, 0.0]],
                    np.float32)
    vae = tiny.pipe.vae

    def linear_decode(z, return_dict=False, generator=None):
        z = z * vae.config.scaling_factor
        rgb = torch.einsum("bchw,cd->bdhw", z.float(), torch.from_numpy(true[:-1])) + torch.from_numpy(true[-1])[:, None, None]
        return (rgb.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3),)  # one latent pixel -> 2 x 2 pixels

    monkeypatch.setattr(vae, "decode", linear_decode)
    fit = D.fit_linear_preview(tiny, samples=4)
    assert fit.source == "least-squares fit" and fit.weights.shape == (5, 3)
    assert fit.r2 > 0.9


def test_forward_diffusion_noises_more_with_t(tiny, tmp_path):
    image = np.zeros((50, 70, 3), np.uint8)
    image[10:40, 20:50] = (220, 30, 30)
    result = D.forward_diffusion(tiny, image, [0, 250, 999], seed=1)
    assert result.images.shape == (3, 32, 32, 3) and result.original.shape == (32, 32, 3)
    assert result.alpha_bars[0] > result.alpha_bars[1] > result.alpha_bars[2]
    distance = [np.abs(image.astype(int) - result.reconstruction).mean() for image in result.images]
    assert distance[0] < distance[2]  # t = 0 is nearly the VAE round trip; t = 999 nearly pure noise
    again = D.forward_diffusion(tiny, image, [0, 250, 999], seed=1)
    assert np.array_equal(result.images, again.images)
    path = tmp_path / "shape.png"
    Image.fromarray(image).save(path)
    assert np.array_equal(D.forward_diffusion(tiny, str(path), [0, 250, 999], seed=1).images, result.images)


def test_forward_diffusion_refuses_non_images_and_bad_timesteps(tiny, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(ValueError, match="not an image"):
        D.forward_diffusion(tiny, str(text), [10])
    with pytest.raises(ValueError, match="out of range"):
        D.forward_diffusion(tiny, np.zeros((8, 8, 3), np.uint8), [1000])
    with pytest.raises(ValueError, match="no image"):
        D.forward_diffusion(tiny, None, [10])


def test_filmstrip_and_exports(tiny, tmp_path):
    settings = D.DenoiseSettings(prompt=PROMPT, steps=5, seed=0, scheduler="DDIM")
    strip = D.filmstrip(tiny, settings, "seed", [0, 1], columns=4)
    assert strip.frames.shape == (2, 4, 32, 32, 3)
    assert strip.row_labels == ["seed = 0", "seed = 1"] and strip.column_labels[-1] == "final"
    assert not np.array_equal(strip.frames[0, -1], strip.frames[1, -1])
    assert np.array_equal(strip.frames[0, -1], D.generate(tiny, settings)[1].image)
    by_scheduler = D.filmstrip(tiny, settings, "scheduler", ["DDIM", "PNDM"], columns=3)
    assert by_scheduler.frames.shape[:2] == (2, 3)
    with pytest.raises(ValueError, match="unknown scheduler"):
        D.filmstrip(tiny, settings, "scheduler", ["DDIM", "Nope"], columns=3)

    png = D.export_grid_png(strip, tmp_path / "grid.png", scale=2)
    grid = np.asarray(Image.open(png))
    assert grid.shape[0] > 2 * 64 and grid.shape[1] > 4 * 64
    gif = D.export_gif([frame for frame in strip.frames[0]], tmp_path / "run.gif")
    with Image.open(gif) as animation:
        assert animation.n_frames == 4 and animation.info.get("loop") == 0
    with pytest.raises(ValueError, match="nothing to export"):
        D.export_gif([], tmp_path / "empty.gif")


def test_sd_checkpoints_use_the_known_linear_factors(tiny):
    from types import SimpleNamespace

    sd_vae = SimpleNamespace(vae=SimpleNamespace(config=SimpleNamespace(scaling_factor=D.SD_SCALING_FACTOR)))
    sd_like = D.LoadedPipeline(**{**tiny.__dict__, "native_size": 512, "pipe": sd_vae})
    linear = D.build_linear_preview(sd_like)
    assert linear.source == "SD 1.x factors" and np.allclose(linear.weights[:4], D.SD_LATENT_RGB)


# ----------------------------------------------------------------------------------------------
# Previews that show the model's own picture, at a size a class can see


def _write_pipeline_configs(folder, latent_side: int, scaling_factor: float, blocks: int = 4, taesd: bool = False):
    """A pipeline folder holding only the configs preview_options reads (no weights)."""
    import json

    (folder / "vae").mkdir(parents=True)
    (folder / "unet").mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (folder / "vae" / "config.json").write_text(json.dumps(
        {"latent_channels": 4, "scaling_factor": scaling_factor, "block_out_channels": [128] * blocks}))
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": latent_side}))
    if taesd:
        (folder / "taesd").mkdir()
    return str(folder)


def test_preview_options_offer_only_the_decoders_that_work(tiny, tiny_lcm, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # small latents: the VAE itself, exact, is the default; TAESD only where the folder has one
    assert D.preview_options(tiny) == D.PreviewOptions(choices=["vae", "taesd"], default="vae", latent_side=16)
    assert D.preview_options(tiny_lcm).choices == ["vae"]
    assert D.preview_options(str(tiny.path)) == D.preview_options(tiny)        # from the config files alone
    # Stable Diffusion's 64 x 64 latents: its known linear factors by default (TAESD needs the Hub, here offline)
    sd = _write_pipeline_configs(tmp_path / "sd", 64, D.SD_SCALING_FACTOR)
    assert D.preview_options(sd) == D.PreviewOptions(choices=["linear", "vae"], default="linear", latent_side=64)
    sd_tiny = _write_pipeline_configs(tmp_path / "sd-taesd", 64, D.SD_SCALING_FACTOR, taesd=True)
    assert D.preview_options(sd_tiny).choices == ["taesd", "vae", "linear"]
    # a large latent of another VAE: no matrix is known for it, so only the VAE
    other = _write_pipeline_configs(tmp_path / "other", 64, 0.5)
    assert D.preview_options(other).choices == ["vae"]


def test_the_default_preview_is_the_models_own_decoder(tiny):
    settings = D.DenoiseSettings(prompt=PROMPT, steps=4, seed=1, scheduler="DDIM")
    assert settings.preview is None and D.resolve_preview(tiny, None) == "vae"
    steps, _ = D.generate(tiny, settings)
    explicit, _ = D.generate(tiny, D.DenoiseSettings(**{**settings.__dict__, "preview": "vae"}))
    assert np.array_equal(steps[-1].x0, explicit[-1].x0)


def test_a_decoder_the_model_lacks_is_refused_naming_the_ones_it_has(tiny_lcm):
    with pytest.raises(ValueError, match="no TAESD decoder is available for .*: choose the vae preview"):
        D.generate(tiny_lcm, D.DenoiseSettings(prompt=PROMPT, steps=2, scheduler="LCM", preview="taesd"))


@pytest.mark.parametrize("preview", ["vae", "linear", "taesd"])
def test_every_preview_is_a_picture_not_a_blank(tiny, preview):
    """A preview that came out all zeros, or one flat colour, would pass a shape check: these would not."""
    steps, _ = D.generate(tiny, D.DenoiseSettings(prompt=PROMPT, steps=3, seed=0, preview=preview, show_noise=True))
    for image in (steps[-1].x_t, steps[-1].x0, steps[-1].noise, steps[0].x0):
        assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
        assert image.max() > 0 and image.std() > 2.0, (preview, image.std())
    assert not np.array_equal(steps[0].x0, steps[-1].x0)    # the prediction changes as the noise goes


def test_upscale_is_nearest_neighbour_to_at_least_the_display_side():
    image = np.arange(3 * 2 * 3, dtype=np.uint8).reshape(3, 2, 3)
    big = D.upscale(image, 256)
    assert big.shape == (258, 172, 3) and (big[:86, :86] == image[0, 0]).all() and (big[86:172, 86:] == image[1, 1]).all()
    assert D.upscale(np.zeros((300, 10, 3), np.uint8)).shape == (300, 10, 3)


def test_exports_are_at_display_size(tiny, tmp_path):
    strip = D.filmstrip(tiny, D.DenoiseSettings(prompt=PROMPT, steps=3, seed=0), "seed", [0, 1], columns=3)
    with Image.open(D.export_grid_png(strip, tmp_path / "grid.png")) as grid:   # a row per seed, 3 steps across
        assert grid.width >= 3 * 256 and grid.height >= 2 * 256
    with Image.open(D.export_filmstrip_gif(strip, tmp_path / "strip.gif")) as animation:
        assert animation.n_frames == 3 and animation.width >= 2 * 256 and animation.height >= 256
    labelled = D.grid_image(strip.frames[:1, :1], ["seed = 0"], ["final"])
    plain = D.grid_image(strip.frames[:1, :1])
    assert labelled.shape[0] > plain.shape[0] and labelled.shape[1] > plain.shape[1]
    assert (labelled[:20] < 128).any()             # the column label is drawn, dark on white


def test_cross_attention_defaults_to_the_finest_level_of_at_most_16_cells():
    tokens = D.PromptTokens(tokens=["a", "b"], positions=[0, 1], max_length=4, truncated=False, dropped="")
    capture = {side * side: [np.full((side * side, 4), 0.25, np.float32)] * layers
               for side, layers in ((32, 1), (16, 2), (8, 3), (4, 3))}
    maps = D.attention_maps(0, 999.0, capture, tokens, None, (32, 32))
    assert maps.resolution == (16, 16) and maps.layers == 2 and maps.maps.shape == (2, 16, 16)
    coarse = D.attention_maps(0, 999.0, {k: v for k, v in capture.items() if k <= 64}, tokens, None, (32, 32))
    assert coarse.resolution == (8, 8)
    assert D.attention_maps(0, 999.0, capture, tokens, 4, (32, 32)).resolution == (4, 4)
