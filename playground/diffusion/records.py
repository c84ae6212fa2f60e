"""What the diffusion package hands out: frozen dataclasses of numpy arrays, lists and numbers.

    >>> settings = DenoiseSettings(prompt="a red circle", steps=10, seed=3)
    >>> settings.scheduler, settings.guidance_scale, settings.preview_every
    ('DDIM', 7.5, 1)
    >>> DenoiseSettings(**{**settings.__dict__, "seed": 4}) == settings    # settings compare (and hash) by value
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LoadedPipeline", "PromptTokens", "GuidanceExplained", "CrossAttentionMaps", "DenoisingStep", "Denoised",
           "DenoiseSettings", "NoiseSchedule", "ForwardDiffusion", "Filmstrip", "LinearPreview", "PreviewOptions"]


@dataclass(frozen=True)
class LoadedPipeline:
    name: str
    pipe: Any                  # a diffusers StableDiffusionPipeline (shared: never mutate its scheduler)
    path: str                  # local folder or Hub id
    device: str
    dtype: Any
    native_size: int           # pixels per side the U-Net was built for
    size_multiple: int         # height and width must be multiples of this
    latent_channels: int
    is_lcm: bool               # the U-Net takes a guidance embedding (LCM-distilled)
    text_encoder_note: str     # where the text encoder came from


@dataclass(frozen=True)
class PromptTokens:
    tokens: list[str]          # (T,) pieces as the text encoder's tokenizer cuts them, special tokens included
    positions: list[int]       # (T,) their positions in the encoder's input (padding left out)
    max_length: int            # the tokenizer's model_max_length: what the text encoder sees
    truncated: bool            # the prompt was longer than max_length
    dropped: str               # the text that was cut off ("" when not truncated)


@dataclass(frozen=True)
class GuidanceExplained:
    step: int
    timestep: float
    scale: float
    uncond_noise: np.ndarray   # (H, W, 3) uint8 preview of the unconditional noise prediction
    cond_noise: np.ndarray     # (H, W, 3) uint8 preview of the text-conditioned noise prediction
    guided_noise: np.ndarray   # (H, W, 3) uint8 uncond + scale * (cond - uncond)
    uncond_x0: np.ndarray      # (H, W, 3) uint8 the clean image each prediction implies
    cond_x0: np.ndarray        # (H, W, 3)
    guided_x0: np.ndarray      # (H, W, 3)
    difference: np.ndarray     # (h, w) float32 |cond - uncond| averaged over latent channels
    difference_norm: float     # ||cond - uncond|| / ||uncond||


@dataclass(frozen=True)
class CrossAttentionMaps:
    step: int
    timestep: float
    tokens: PromptTokens
    resolution: tuple[int, int]            # (h, w) of the chosen U-Net level
    maps: np.ndarray                       # (T, h, w) float32 attention probability per prompt token
    layers: int                            # cross-attention layers averaged at that resolution
    resolutions: list[tuple[int, int]]     # every level that was captured


@dataclass(frozen=True)
class DenoisingStep:
    index: int                 # 0-based loop step
    total: int                 # loop steps in this run (len(scheduler.timesteps))
    timestep: float            # the scheduler's t
    sigma: float               # noise level sqrt((1 - alpha_bar) / alpha_bar)
    alpha_bar: float           # signal fraction of x_t
    x_t: np.ndarray | None     # (H, W, 3) uint8 preview of the noisy latent, on preview steps
    x0: np.ndarray | None      # (H, W, 3) uint8 preview of the predicted clean latent
    noise: np.ndarray | None   # (H, W, 3) uint8 preview of the predicted noise, when asked for
    seconds: float             # U-Net + guidance + scheduler step
    preview_seconds: float     # decoding the previews
    guidance: GuidanceExplained | None = None
    attention: CrossAttentionMaps | None = None


@dataclass(frozen=True)
class Denoised:
    image: np.ndarray          # (H, W, 3) uint8 the VAE-decoded final image
    latents: np.ndarray        # (C, h, w) float32 final latents
    timesteps: list[float]     # (S,)
    tokens: PromptTokens
    scheduler: str
    seconds: float             # whole run, previews included


@dataclass(frozen=True)
class DenoiseSettings:
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 25
    guidance_scale: float = 7.5
    seed: int = 0
    scheduler: str = "DDIM"
    height: int | None = None          # None: the model's native size
    width: int | None = None
    preview: str | None = None         # "vae", "linear" or "taesd"; None: the model's default (preview_options)
    preview_every: int = 1             # previews on every N-th step (and always on the last)
    show_noise: bool = False
    show_x_t: bool = True              # False: no x_t previews (the API returns x0 only; a third less VAE work)
    guidance_step: int | None = None   # explain guidance at this 0-based step
    attention_step: int | None = None  # capture cross-attention at this 0-based step
    attention_resolution: int | None = None  # h of the level to average; None: the most captured level


@dataclass(frozen=True)
class NoiseSchedule:
    scheduler: str
    timesteps: list[float]     # (S,)
    sigmas: list[float]        # (S,)
    alpha_bars: list[float]    # (S,)


@dataclass(frozen=True)
class ForwardDiffusion:
    timesteps: list[int]       # (K,)
    alpha_bars: list[float]    # (K,)
    original: np.ndarray       # (H, W, 3) uint8 the input, resized to the model's size
    reconstruction: np.ndarray  # (H, W, 3) uint8 VAE(encode(x0)): what t = 0 looks like
    images: np.ndarray         # (K, H, W, 3) uint8 decoded x_t for each timestep


@dataclass(frozen=True)
class Filmstrip:
    vary: str                  # "guidance", "scheduler" or "seed"
    row_labels: list[str]      # (R,)
    column_labels: list[str]   # (Cols,) e.g. "step 1/20", "final"
    frames: np.ndarray         # (R, Cols, H, W, 3) uint8


@dataclass(frozen=True)
class LinearPreview:
    weights: np.ndarray        # (C + 1, 3) latent channels plus a bias row -> RGB in [-1, 1]
    source: str                # "SD 1.x factors" or "least-squares fit"
    r2: float | None           # fraction of the VAE's pixel variance the fit explains, per latent cell (fits only)


@dataclass(frozen=True)
class PreviewOptions:
    choices: list[str]         # the preview decoders that work for a model, the default first
    default: str
    latent_side: int           # latent cells per side at the model's native size
