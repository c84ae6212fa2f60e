"""The schedule a run follows and the forward process it undoes: noise added to an image, step by step.

    >>> from playground.diffusion.loading import load_pipeline
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> schedule = noise_schedule(loaded, "DDIM", 4)
    >>> schedule.timesteps, [round(s, 2) for s in schedule.sigmas]
    ([999.0, 749.0, 499.0, 249.0], [157.41, 17.25, 3.42, 0.95])
    >>> image = np.full((64, 64, 3), 255, np.uint8)                  # a white picture
    >>> noised = forward_diffusion(loaded, image, [0, 500, 999], seed=0)
    >>> noised.images.shape, [round(a, 3) for a in noised.alpha_bars]  # (K, H, W, 3): x_t decoded per timestep
    ((3, 64, 64, 3), [1.0, 0.078, 0.0])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from playground.diffusion.images import load_image
from playground.diffusion.previews import PREVIEWS, previewer
from playground.diffusion.records import DenoiseSettings, ForwardDiffusion, LoadedPipeline, NoiseSchedule
from playground.diffusion.schedules import alpha_bars, make_scheduler, validate

__all__ = ["noise_schedule", "forward_diffusion"]


def noise_schedule(loaded: LoadedPipeline, scheduler: str, steps: int) -> NoiseSchedule:
    """sigma and alpha_bar at every loop step of `scheduler` with `steps` steps (what the plot shows)."""
    validate(loaded, DenoiseSettings(steps=steps, scheduler=scheduler))
    instance = make_scheduler(loaded, scheduler)
    instance.set_timesteps(steps, device="cpu")
    count = len(instance.timesteps)
    bars = alpha_bars(instance, count)
    return NoiseSchedule(scheduler=scheduler, timesteps=[float(t) for t in instance.timesteps],
                         sigmas=[math.sqrt((1 - a) / a) for a in bars], alpha_bars=bars)


def forward_diffusion(loaded: LoadedPipeline, image: Any, timesteps: list[int], seed: int = 0,
                      preview: str = "vae") -> ForwardDiffusion:
    """q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) in the model's latent space, decoded
    (the DDPM scheduler's own add_noise).

    `image` is anything load_image takes; it is resized to the model's native size and VAE-encoded.
    """
    import torch
    from PIL import Image

    array = load_image(image)
    train = int(loaded.pipe.scheduler.config.num_train_timesteps)
    if not timesteps:
        raise ValueError("choose at least one timestep to noise the image at.")
    bad = [t for t in timesteps if not isinstance(t, (int, np.integer)) or not 0 <= t < train]
    if bad:
        raise ValueError(f"timesteps {bad} are out of range: use whole numbers from 0 to {train - 1}.")
    if preview not in PREVIEWS:
        raise ValueError(f"unknown preview decoder {preview!r}: choose one of {', '.join(PREVIEWS)}.")
    size = loaded.native_size
    resized = np.array(Image.fromarray(array).resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
    pipe = loaded.pipe
    decode = previewer(loaded, preview)
    scheduler = make_scheduler(loaded, "DDPM")
    with torch.inference_mode():
        pixels = torch.from_numpy(resized).to(loaded.device).permute(2, 0, 1)[None].to(loaded.dtype) / 127.5 - 1
        x0 = pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor   # (1, C, h, w)
        generator = torch.Generator(device=loaded.device).manual_seed(int(seed))
        noise = torch.randn(x0.shape, generator=generator, device=loaded.device, dtype=x0.dtype)
        noised = [scheduler.add_noise(x0, noise, torch.tensor([int(t)], device=loaded.device)) for t in timesteps]
        reconstruction, *images = decode(x0, *noised)
    cumprod = scheduler.alphas_cumprod.float().numpy()
    return ForwardDiffusion(timesteps=[int(t) for t in timesteps], alpha_bars=[float(cumprod[t]) for t in timesteps],
                            original=resized, reconstruction=reconstruction, images=np.stack(images))
