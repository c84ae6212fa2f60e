"""The denoising loop, in the open: Stable Diffusion's numbered steps, one DenoisingStep yielded per timestep.

    >>> from playground.diffusion.loading import load_pipeline
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> settings = DenoiseSettings(prompt="a red circle", steps=3, seed=0, scheduler="DDIM")
    >>> for item in denoise(loaded, settings):
    ...     if isinstance(item, DenoisingStep):
    ...         print(item.index, item.timestep, round(item.alpha_bar, 3), item.x0.shape)   # x0: (H, W, 3) uint8
    ...     else:
    ...         print(item.image.shape, item.image.dtype)    # the pixels StableDiffusionPipeline gives
    0 999.0 0.0 (64, 64, 3)
    1 666.0 0.011 (64, 64, 3)
    2 332.0 0.321 (64, 64, 3)
    (64, 64, 3) uint8

The numbered steps follow diffusers' StableDiffusionPipeline.__call__ (and use its own encode_prompt,
prepare_latents and prepare_extra_step_kwargs), so that with the same components, seed and settings the image
is the same; tests/test_diffusion.py checks this for several schedulers.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterator

import numpy as np

from playground.diffusion.attention import attention_maps, prompt_tokens
from playground.diffusion.previews import previewer, resolve_preview
from playground.diffusion.records import (Denoised, DenoiseSettings, DenoisingStep, GuidanceExplained,
                                          LoadedPipeline)
from playground.diffusion.schedules import alpha_bars, is_sigma_space, make_scheduler, validate

__all__ = ["denoise", "generate", "split_prediction"]


class _RunView:
    """What StableDiffusionPipeline.prepare_latents and .prepare_extra_step_kwargs read of `self`: the scheduler
    and the VAE's scale factor. The loaded pipeline is shared by every user, so a run never swaps its scheduler;
    the pipeline's methods are called with this view of one run instead."""

    def __init__(self, pipe, scheduler):
        self.scheduler = scheduler
        self.vae_scale_factor = pipe.vae_scale_factor


def denoise(loaded: LoadedPipeline, settings: DenoiseSettings,
            callback_on_step_end: Callable[[Any, int, Any, dict], dict] | None = None) -> Iterator[DenoisingStep | Denoised]:
    """Run Stable Diffusion's loop, yielding a DenoisingStep per timestep, then the Denoised result.

    callback_on_step_end(pipe, i, t, {"latents": latents}) -> dict is diffusers' hook: return
    {"latents": new} to change the latents. To stop early, stop iterating (close the generator).
    """
    import torch
    from diffusers import StableDiffusionPipeline

    height, width = validate(loaded, settings)
    pipe = loaded.pipe
    device = loaded.device
    started = time.perf_counter()
    scheduler = make_scheduler(loaded, settings.scheduler)
    view = _RunView(pipe, scheduler)
    do_cfg = settings.guidance_scale > 1 and not loaded.is_lcm
    preview = previewer(loaded, resolve_preview(loaded, settings.preview))

    with torch.inference_mode():
        # 1. Encode the prompt (and, for classifier-free guidance, the negative prompt) into text states
        tokens = prompt_tokens(loaded, settings.prompt)
        prompt_embeds, negative_embeds = pipe.encode_prompt(
            settings.prompt, device, 1, do_cfg, settings.negative_prompt or None)
        if do_cfg:
            prompt_embeds = torch.cat([negative_embeds, prompt_embeds])  # (2, T, D): [uncond, cond]

        # 2. Prepare the timesteps
        scheduler.set_timesteps(settings.steps, device=device)
        timesteps = scheduler.timesteps

        # 3. Initial latents: Gaussian noise from the seeded generator, scaled to the first noise level
        generator = torch.Generator(device=device).manual_seed(int(settings.seed))
        latents = StableDiffusionPipeline.prepare_latents(view, 1, loaded.latent_channels, height, width,
                                                          prompt_embeds.dtype, device, generator)  # (1, C, h, w)
        extra_step_kwargs = StableDiffusionPipeline.prepare_extra_step_kwargs(view, generator, 0.0)
        timestep_cond = _guidance_embedding(loaded, settings.guidance_scale, latents.dtype)

    # 4. The denoising loop
    bars = alpha_bars(scheduler, len(timesteps))
    for i, t in enumerate(timesteps):
        step_started = time.perf_counter()
        capture: dict[int, list] | None = {} if settings.attention_step == i else None
        with torch.inference_mode():
            x_t = latents
            # 4a. U-Net: predict the noise in x_t, for the unconditional and the conditional prompt at once
            model_input = torch.cat([latents] * 2) if do_cfg else latents                 # (2, C, h, w) under CFG
            model_input = scheduler.scale_model_input(model_input, t)
            kwargs = {"capture": capture} if capture is not None else None
            model_output = pipe.unet(model_input, t, encoder_hidden_states=prompt_embeds, timestep_cond=timestep_cond,
                                     cross_attention_kwargs=kwargs, return_dict=False)[0]
            # 4b. Classifier-free guidance: push the prediction away from the unconditional one
            if do_cfg:
                uncond, cond = model_output.chunk(2)
                model_output = uncond + settings.guidance_scale * (cond - uncond)
            # 4c. The scheduler turns the prediction into the next, less noisy, latents
            latents = scheduler.step(model_output, t, latents, **extra_step_kwargs, return_dict=False)[0]
            # 4d. diffusers' hook
            if callback_on_step_end is not None:
                outputs = callback_on_step_end(pipe, i, t, {"latents": latents}) or {}
                latents = outputs.pop("latents", latents)
            seconds = time.perf_counter() - step_started

            # 4e. What this step shows: x_t, its predicted x0 and noise, decoded by the chosen previewer
            preview_started = time.perf_counter()
            alpha_bar = bars[i]
            is_preview = i % settings.preview_every == 0 or i == len(timesteps) - 1
            guidance = attention = None
            x_t_image = x0_image = noise_image = None
            if is_preview or settings.guidance_step == i:
                vp = _to_vp(x_t, scheduler, alpha_bar)
                prediction_type = scheduler.config.prediction_type
                x0, eps = split_prediction(vp, model_output, alpha_bar, prediction_type)
                if is_preview:
                    x_t_image, x0_image, *noise = preview(vp, x0, *([eps] if settings.show_noise else []))
                    noise_image = noise[0] if noise else None
                if settings.guidance_step == i and do_cfg:
                    guidance = _explain_guidance(i, float(t), settings.guidance_scale, vp, uncond, cond,
                                                 alpha_bar, prediction_type, preview)
            if capture is not None:
                layers = {hw: [maps[0] for maps in level] for hw, level in capture.items()}   # (HW, T) per layer
                attention = attention_maps(i, float(t), layers, tokens, settings.attention_resolution,
                                           latents.shape[-2:])
            preview_seconds = time.perf_counter() - preview_started
        yield DenoisingStep(index=i, total=len(timesteps), timestep=float(t),
                            sigma=math.sqrt((1 - alpha_bar) / alpha_bar), alpha_bar=alpha_bar,
                            x_t=x_t_image, x0=x0_image, noise=noise_image, seconds=seconds,
                            preview_seconds=preview_seconds, guidance=guidance, attention=attention)

    # 5. Decode the final latents with the VAE
    with torch.inference_mode():
        decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False, generator=generator)[0]
        image = pipe.image_processor.postprocess(decoded, output_type="np")[0]  # (H, W, 3) float in [0, 1]
    yield Denoised(image=(image * 255).round().astype(np.uint8),
                   latents=latents[0].float().cpu().numpy(), timesteps=[float(t) for t in timesteps],
                   tokens=tokens, scheduler=settings.scheduler, seconds=time.perf_counter() - started)


def generate(loaded: LoadedPipeline, settings: DenoiseSettings) -> tuple[list[DenoisingStep], Denoised]:
    """Run `denoise` to the end: (steps, result)."""
    steps: list[DenoisingStep] = []
    for item in denoise(loaded, settings):
        if isinstance(item, Denoised):
            return steps, item
        steps.append(item)
    raise RuntimeError("denoise ended without a result")


def _guidance_embedding(loaded: LoadedPipeline, guidance_scale: float, dtype):
    """LCM U-Nets take the guidance scale as an embedding instead of doing classifier-free guidance."""
    if not loaded.is_lcm:
        return None
    import torch

    w = torch.tensor(guidance_scale - 1).repeat(1)
    embedding = loaded.pipe.get_guidance_scale_embedding(w, embedding_dim=loaded.pipe.unet.config.time_cond_proj_dim)
    return embedding.to(device=loaded.device, dtype=dtype)


def _to_vp(latents, scheduler, alpha_bar: float):
    """x_t in the variance-preserving form sqrt(ab) x0 + sqrt(1 - ab) eps, whatever the scheduler keeps."""
    return latents * math.sqrt(alpha_bar) if is_sigma_space(scheduler) else latents


def split_prediction(vp, output, alpha_bar: float, prediction_type: str):
    """(x0, eps) implied by the model output at noise level alpha_bar."""
    a, s = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
    if prediction_type == "v_prediction":
        return a * vp - s * output, s * vp + a * output
    if prediction_type == "sample":
        return output, (vp - a * output) / s
    return (vp - s * output) / a, output


def _explain_guidance(i, t, scale, vp, uncond, cond, alpha_bar, prediction_type, preview) -> GuidanceExplained:
    guided = uncond + scale * (cond - uncond)
    parts = [split_prediction(vp, output, alpha_bar, prediction_type) for output in (uncond, cond, guided)]
    difference = (cond - uncond).abs().mean(dim=1)[0].float().cpu().numpy()
    norm = float((cond - uncond).norm() / uncond.norm().clamp_min(1e-12))
    noises = preview(*(noise for _, noise in parts))
    x0s = preview(*(x0 for x0, _ in parts))
    return GuidanceExplained(
        step=i, timestep=t, scale=scale, uncond_noise=noises[0], cond_noise=noises[1], guided_noise=noises[2],
        uncond_x0=x0s[0], cond_x0=x0s[1], guided_x0=x0s[2],
        difference=difference.astype(np.float32), difference_norm=norm)
