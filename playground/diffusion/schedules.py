"""Schedulers by the names the page shows, what a run's settings may be, and the noise level at each step.

    >>> from playground.diffusion.loading import load_pipeline
    >>> from playground.diffusion.records import DenoiseSettings
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> scheduler = make_scheduler(loaded, "DDIM")             # a fresh one per run: schedulers keep state
    >>> scheduler.set_timesteps(4)
    >>> scheduler.timesteps.tolist(), [round(a, 3) for a in alpha_bars(scheduler, 4)]
    ([999, 749, 499, 249], [0.0, 0.003, 0.079, 0.524])
    >>> validate(loaded, DenoiseSettings(steps=4))             # (height, width): the model's native size
    (64, 64)
    >>> validate(loaded, DenoiseSettings(steps=0))
    Traceback (most recent call last):
    ValueError: steps = 0 is out of range: use 1 to 1000 (the model was trained with 1000 noise levels).
"""

from __future__ import annotations

import math

import numpy as np

from playground import public
from playground.diffusion.previews import resolve_preview
from playground.diffusion.records import DenoiseSettings, LoadedPipeline

__all__ = ["SCHEDULERS", "MAX_STEPS", "MAX_GUIDANCE", "MAX_SIDE", "MAX_SEED", "make_scheduler", "validate",
           "is_sigma_space", "alpha_bars"]

# name shown to users -> (diffusers class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "DDPM": ("DDPMScheduler", {}),
    "DDIM": ("DDIMScheduler", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "DPM-Solver++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "PNDM": ("PNDMScheduler", {"skip_prk_steps": True}),
    "LCM": ("LCMScheduler", {}),
}
MAX_STEPS = 1000
MAX_GUIDANCE = 30.0
MAX_SIDE = 1024
MAX_SEED = 2**63 - 1


def make_scheduler(loaded: LoadedPipeline, name: str):
    """A fresh scheduler (schedulers keep state between steps) built from the pipeline's own config."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}: choose one of {', '.join(SCHEDULERS)}.")
    if name == "LCM" and not loaded.is_lcm:
        raise ValueError("the LCM scheduler needs an LCM-distilled model (a U-Net with a guidance embedding); "
                         f"{loaded.name} is not one: pick another scheduler.")
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(loaded.pipe.scheduler.config, **overrides)


def validate(loaded: LoadedPipeline, settings: DenoiseSettings) -> tuple[int, int]:
    """Raise ValueError for settings the model can't run; return (height, width)."""
    if not isinstance(settings.prompt, str) or not isinstance(settings.negative_prompt, str):
        raise ValueError("prompt and negative prompt must be text (an empty prompt is fine: it is unconditional).")
    public.check_text(settings.prompt, "prompt")
    public.check_text(settings.negative_prompt, "negative prompt")
    if isinstance(settings.steps, bool) or not isinstance(settings.steps, (int, np.integer)) or settings.steps != int(settings.steps):
        raise ValueError(f"steps must be a whole number, got {settings.steps!r}.")
    train_steps = int(loaded.pipe.scheduler.config.num_train_timesteps)
    top = min(MAX_STEPS, train_steps)
    if not 1 <= settings.steps <= top:
        raise ValueError(f"steps = {settings.steps} is out of range: use 1 to {top} (the model was trained "
                         f"with {train_steps} noise levels).")
    public.check("diffusion_steps", int(settings.steps))
    guidance = settings.guidance_scale
    if not isinstance(guidance, (int, float)) or not math.isfinite(guidance):
        raise ValueError(f"guidance scale must be a number, got {guidance!r}.")
    if guidance < 0:
        raise ValueError(f"guidance scale = {guidance} is negative: use 0 to {MAX_GUIDANCE:g} "
                         "(1 turns guidance off, 7.5 is Stable Diffusion's usual value).")
    if guidance > MAX_GUIDANCE:
        raise ValueError(f"guidance scale = {guidance} is too large: use 0 to {MAX_GUIDANCE:g}; above ~15 "
                         "images burn out.")
    if not isinstance(settings.seed, (int, np.integer)) or isinstance(settings.seed, bool) or not 0 <= settings.seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED}, got {settings.seed!r}.")
    make_scheduler(loaded, settings.scheduler)
    if settings.preview not in (None, ""):       # None: the model's default, which always works
        resolve_preview(loaded, settings.preview)
    if not isinstance(settings.preview_every, (int, np.integer)) or settings.preview_every < 1:
        raise ValueError(f"preview every N steps needs N >= 1, got {settings.preview_every!r}.")
    height = settings.height or loaded.native_size
    width = settings.width or loaded.native_size
    for label, side in (("height", height), ("width", width)):
        if not isinstance(side, (int, np.integer)) or side % loaded.size_multiple or not loaded.size_multiple <= side <= MAX_SIDE:
            raise ValueError(f"image {label} = {side!r} can't be made by {loaded.name}: use a multiple of "
                             f"{loaded.size_multiple} from {loaded.size_multiple} to {MAX_SIDE} "
                             f"(the model's native size is {loaded.native_size}).")
        public.check("image_side", int(side), f"image {label}")
    for label, step in (("guidance step", settings.guidance_step), ("attention step", settings.attention_step)):
        if step is not None and (not isinstance(step, (int, np.integer)) or step < 0):
            raise ValueError(f"{label} must be a step number from 0, got {step!r}.")
    return int(height), int(width)


def is_sigma_space(scheduler) -> bool:
    """Euler, Euler ancestral and LMS keep latents as x0 + sigma * eps (variance exploding) instead of
    sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * eps; their first latents are scaled by sigma_max > 1."""
    return float(scheduler.init_noise_sigma) > 1.0 + 1e-6


def alpha_bars(scheduler, count: int) -> list[float]:
    """alpha_bar at each of the first `count` loop steps: from the scheduler's sigmas (sigma space) or its
    alphas_cumprod."""
    if is_sigma_space(scheduler):
        sigmas = scheduler.sigmas.float().cpu().numpy()[:count]
        return [float(1.0 / (1.0 + s * s)) for s in sigmas]
    cumprod = scheduler.alphas_cumprod.float().cpu().numpy()
    return [float(cumprod[min(int(round(float(t))), len(cumprod) - 1)]) for t in scheduler.timesteps[:count]]
