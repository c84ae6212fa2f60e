"""Training and evaluating tiny-shapes-sd: short runs lower the loss, resuming changes nothing, and
what `train` writes is a StableDiffusionPipeline folder that plain diffusers loads with the MiniLM
passed in. The committed weights themselves are checked in test_tiny_shapes_model.py."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from playground import shapes
from training import tiny_shapes as T

SMOKE = T.PRESETS["smoke"]


def test_a_short_vae_run_lowers_the_reconstruction_error(tmp_path):
    settings = replace(SMOKE, vae_steps=40, vae_batch=8, vae_lr=2e-3, vae_widths=(16, 32, 32), warmup=3,
                       checkpoint_every=100)
    scenes = shapes.sample_scenes(16, seed=99, split="heldout")
    torch.manual_seed(settings.seed)
    before, _ = T.reconstruction_error(T.build_vae(settings), scenes)
    vae, losses = T.train_vae(settings, tmp_path, "cpu", log=lambda m: None)
    after, _ = T.reconstruction_error(vae, scenes)
    assert after < 0.5 * before and len(losses) == settings.vae_steps


def test_a_short_unet_run_lowers_the_noise_prediction_loss(tmp_path):
    settings = replace(SMOKE, vae_steps=2, pool=16, unet_steps=40, unet_batch=8, unet_lr=2e-3, warmup=5,
                       checkpoint_every=100)
    vae, _ = T.train_vae(settings, tmp_path, "cpu", log=lambda m: None)
    pool = T.encode_pool(settings, vae, tmp_path, "cpu", log=lambda m: None)
    tokenizer, encoder = T.load_text_encoder("cpu")
    # A fixed batch drawn from the pool: the loss on it before and after training.
    generator = torch.Generator().manual_seed(0)
    latents = pool["mean"][:8] * pool["scaling_factor"]
    context = T.encode_text(tokenizer, encoder, pool["captions"][:8])
    timesteps = torch.randint(0, 1000, (8,), generator=generator)
    noise = torch.randn(latents.shape, generator=generator)
    alpha_bars = T.build_scheduler().alphas_cumprod

    def fixed_loss(unet) -> float:
        with torch.no_grad():
            return float(T.diffusion_loss(unet, latents, context, timesteps, noise, alpha_bars, 5.0))

    torch.manual_seed(settings.seed)
    before = fixed_loss(T.build_unet(settings, latents.shape[-1]))
    settings = replace(settings, ema_decay=0.0)                 # judge the trained weights, not their average
    unet, _, losses = T.train_unet(settings, pool, tmp_path, "cpu", log=lambda m: None)
    assert fixed_loss(unet) < 0.8 * before
    assert len(losses) == settings.unet_steps


def test_captions_are_encoded_once_as_the_pipeline_encodes_them(tmp_path):
    tokenizer, encoder = T.load_text_encoder("cpu")
    captions = ["a small red circle in the center on a white background", "a large blue star at the top on a "
                "black background", "a small red circle in the center on a white background"]
    states, which = T.encode_captions(captions, tokenizer, encoder, tmp_path, log=lambda m: None)
    assert states.dtype == torch.float16 and states.shape == (3, T.MAX_TOKENS, 384)   # "" and two distinct
    assert which.tolist() == [2, 1, 2]
    expected = T.encode_text(tokenizer, encoder, [""] + captions)
    assert torch.allclose(states[[0, *which.tolist()]].float(), expected, atol=2e-3, rtol=1e-3)
    messages = []
    again, _ = T.encode_captions(captions, tokenizer, encoder, tmp_path, log=messages.append)
    assert torch.equal(again, states) and messages == []                     # read back, not encoded again
    _, which = T.encode_captions(captions[:1], tokenizer, encoder, tmp_path, log=messages.append)
    assert which.tolist() == [1] and len(messages) == 1                      # another pool: encoded anew


def test_resuming_from_a_checkpoint_gives_the_same_weights_as_one_run(tmp_path):
    settings = replace(SMOKE, vae_steps=6, warmup=6, checkpoint_every=3)   # same learning rates either way
    torch.manual_seed(settings.seed)                                # as train() does before building the VAE
    whole, _ = T.train_vae(settings, tmp_path / "whole", "cpu", log=lambda m: None)
    torch.manual_seed(settings.seed)
    T.train_vae(replace(settings, vae_steps=3), tmp_path / "split", "cpu", log=lambda m: None)
    messages = []
    resumed, _ = T.train_vae(settings, tmp_path / "split", "cpu", log=messages.append)
    assert messages == ["VAE: resuming at step 3 of 6"]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_train_writes_a_pipeline_that_plain_diffusers_loads_and_repeats(tmp_path):
    out = tmp_path / "model"
    record = T.train(SMOKE, tmp_path / "run", out, "cpu", log=lambda m: None)
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["text_encoder"] == [None, None]
    assert json.loads((out / "training.json").read_text())["settings"]["seed"] == SMOKE.seed
    assert record["reproduce"] == "python scripts/train_tiny_shapes.py --preset smoke"
    from safetensors import safe_open

    with safe_open(str(out / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}
    pipe = T.load_for_evaluation(out, "cpu")
    assert type(pipe).__name__ == "StableDiffusionPipeline" and pipe.tokenizer.model_max_length == T.MAX_TOKENS
    first = T.generate_images(pipe, ["a red circle", "a blue star"], steps=3, guidance_scale=4.0, seed=5)
    again = T.generate_images(pipe, ["a red circle", "a blue star"], steps=3, guidance_scale=4.0, seed=5)
    one_by_one = T.generate_images(pipe, ["a red circle", "a blue star"], steps=3, guidance_scale=4.0, seed=5,
                                   batch=1)
    assert first.shape == (2, 64, 64, 3) and np.array_equal(first, again)
    assert np.abs(first.astype(int) - one_by_one).mean() < 1.0        # batching changes only rounding
    # The same workdir again: every stage resumes at its end, nothing retrains.
    messages = []
    T.train(SMOKE, tmp_path / "run", out, "cpu", log=messages.append)
    assert "VAE: resuming at step 6 of 6" in messages and "U-Net: resuming at step 6 of 6" in messages


def test_a_workdir_resumes_with_more_steps_but_refuses_another_model(tmp_path):
    T.train(replace(SMOKE, unet_steps=1, vae_steps=1), tmp_path / "run", tmp_path / "a", "cpu", log=lambda m: None)
    messages = []
    T.train(replace(SMOKE, unet_steps=2, vae_steps=1), tmp_path / "run", tmp_path / "a", "cpu", log=messages.append)
    assert "resuming with unet_steps = 2 (was 1)" in messages and "U-Net: resuming at step 1 of 2" in messages
    with pytest.raises(ValueError, match=r"other settings \(unet_lr\)"):
        T.train(replace(SMOKE, unet_lr=1.0), tmp_path / "run", tmp_path / "b", "cpu", log=lambda m: None)
