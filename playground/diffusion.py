"""Diffusion: Stable Diffusion's denoising loop run in the open, one numbered step at a time.

A worked example with any diffusers Stable Diffusion folder (the embedded `tiny-shapes-sd`, a Hub
checkpoint, or a tiny random pipeline saved with save_pretrained as in the tests):

    >>> loaded = load_pipeline("/tmp/tiny-sd")        # tests/tiny_diffusion.py: 32 x 32 images
    >>> settings = DenoiseSettings(prompt="a red circle", steps=10, guidance_scale=7.5, seed=0, scheduler="DDIM")
    >>> for item in denoise(loaded, settings):
    ...     if isinstance(item, DenoisingStep):
    ...         print(item.index, item.timestep, round(item.alpha_bar, 3), item.x0.shape)   # x0: (H, W, 3) uint8
    ...     else:
    ...         image = item.image        # (H, W, 3) uint8: the pixels StableDiffusionPipeline gives for these settings
    0 901.0 0.014 (32, 32, 3)
    1 801.0 0.037 (32, 32, 3)
    ...

`denoise` is a generator: it yields one DenoisingStep per scheduler timestep (so a UI can stream
and stop), then one Denoised with the final image. Its numbered steps follow diffusers'
StableDiffusionPipeline.__call__ so that, with the same components, seed and settings, the image
is the same; the reference test in tests/test_diffusion.py checks this for several schedulers.

Everything that leaves this module is a frozen dataclass of numpy arrays and lists.
"""

from __future__ import annotations

import inspect
import io
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from playground import public
from playground.cache import CACHE
from playground.catalog import check_hub_id, hub_offline, hub_reachable, is_local_folder
from playground.registry import DEFAULT_ENCODER, DEFAULT_PIPELINE, PIPELINES, always_allowed
from playground.settings import current

Progress = Callable[[float, str], None]

EMBEDDED_PIPELINES = {name: spec.folder for name, spec in PIPELINES.items()}

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
PREVIEWS = ("vae", "linear", "taesd")
# Latents up to this many cells per side make a full VAE decode cheap (tiny-shapes-sd, 16 x 16: about 30 ms for
# x_t and x0 together on one busy CPU core, a fifth of its guided U-Net step): such models preview through the VAE
# itself, exact, by default. Larger latents (Stable Diffusion's 64 x 64: over a minute per 512 x 512 decode on
# that core, benchmarks/diffusion_preview_bench.py --sd-vae) default to TAESD where there is one, else the
# linear matrix.
CHEAP_VAE_SIDE = 32
LINEAR_FIT_SCENES = 16        # drawn shapes scenes the linear matrix is fitted on
DISPLAY_SIDE = 256            # small images are shown and exported at least this many pixels per side
ATTENTION_SIDE = 16           # default cross-attention level: the finest with at most 16 x 16 cells (SD's 16 x 16,
                              # as prompt-to-prompt uses; tiny-shapes-sd's 8 x 8)
MAX_STEPS = 1000
MAX_GUIDANCE = 30.0
MAX_SIDE = 1024
MAX_SEED = 2**63 - 1

# ComfyUI's and A1111's latent-to-RGB factors for the SD 1.x/2.x VAE (rows: latent channels; columns: R, G, B).
SD_LATENT_RGB = [
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
]
SD_SCALING_FACTOR = 0.18215


def _quiet(fraction: float, message: str) -> None:
    return None


# ----------------------------------------------------------------------------------------------
# Data passed to the UI


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


# ----------------------------------------------------------------------------------------------
# 0. Loading


def load_pipeline(name: str, progress: Progress = _quiet) -> LoadedPipeline:
    """Load a Stable Diffusion pipeline once, through the shared model cache.

    `name`: "tiny-shapes-sd", a local diffusers pipeline folder, or a Hub id such as
    "stabilityai/sd-turbo" (only when the Hub can be reached or the model is cached).
    """
    path, kind = _resolve_pipeline(name)
    from playground.device import pick_device

    device = pick_device()
    dtype = _pipeline_dtype(device)
    return CACHE.get(("diffusion", kind, path, device, str(dtype)),
                     lambda: _load_pipeline(name, path, kind, device, dtype, progress))


def _resolve_pipeline(name: str) -> tuple[str, str]:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("model is empty: choose tiny-shapes-sd, a local pipeline folder, or a Hub id.")
    name = name.strip()
    public.check_model(name, always_allowed())
    if name in EMBEDDED_PIPELINES:
        folder = EMBEDDED_PIPELINES[name]
        if not (folder / "model_index.json").is_file():
            raise ValueError(
                f"{name} is not trained yet: {folder} holds no model_index.json. Train it with the script from "
                "the tiny-shapes-sd issue, or give a local diffusers pipeline folder or a Hub id instead."
            )
        return str(folder), "dir"
    folder = Path(name).expanduser()
    if is_local_folder(name):
        if not (folder / "model_index.json").is_file():
            raise ValueError(f"model folder {name!r} is not a diffusers pipeline: it has no model_index.json.")
        return str(folder.resolve()), "dir"
    if name.startswith(("/", ".", "~")) or "\\" in name:
        raise ValueError(f"model folder {name!r} does not exist.")
    if "/" not in name:
        raise ValueError(f"model {name!r} is neither tiny-shapes-sd, a local pipeline folder, nor a Hub id like "
                         "'stabilityai/sd-turbo'.")
    check_hub_id(name)
    if not _in_hub_cache(name):
        if hub_offline() or not hub_reachable():
            raise ValueError(f"{name!r} is not in the local Hugging Face cache and the Hub can't be reached; "
                             "use tiny-shapes-sd or a local pipeline folder.")
    return name, "hub"


def _in_hub_cache(hub_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(hub_id, "model_index.json"), str)


def _pipeline_dtype(device: str):
    """fp16 on CUDA GPUs (Stable Diffusion's usual setting), float32 on the CPU; PLAYGROUND_DTYPE overrides."""
    import torch

    from playground.device import pick_dtype

    if current().dtype:
        return pick_dtype(device)
    return torch.float16 if device.startswith("cuda") else pick_dtype(device)


def _load_pipeline(name: str, path: str, kind: str, device: str, dtype, progress: Progress):
    from diffusers import StableDiffusionPipeline

    progress(0.0, f"Loading the diffusion pipeline {name}")
    extra: dict[str, Any] = {}
    note = "the pipeline's own text encoder"
    if kind == "dir" and not _has_part(Path(path), "text_encoder"):
        encoder, note = _embedded_text_encoder(device, dtype, progress)
        extra["text_encoder"] = encoder
        if not _has_part(Path(path), "tokenizer"):
            from playground.models import load_tokenizer

            extra["tokenizer"] = load_tokenizer(DEFAULT_ENCODER).tokenizer
    try:
        pipe = StableDiffusionPipeline.from_pretrained(path, dtype=dtype, safety_checker=None,
                                                       feature_extractor=None, requires_safety_checker=False,
                                                       **public.weights_kwargs(), **extra)
    except (OSError, EnvironmentError, TypeError, KeyError) as error:
        raise ValueError(f"could not load the pipeline {name!r}: {error}".split("\n")[0]) from error
    progress(0.7, f"Moving {name} to {device}")
    pipe.unet.to(device)
    pipe.vae.to(device)
    if "text_encoder" not in extra:
        pipe.text_encoder.to(device)
    cross = pipe.unet.config.cross_attention_dim
    hidden = pipe.text_encoder.config.hidden_size
    if cross != hidden:
        raise ValueError(f"pipeline {name!r}: the U-Net expects text states of width {cross}, "
                         f"but its text encoder gives {hidden}.")
    pipe.unet.set_attn_processor(CapturingAttnProcessor())
    pipe.set_progress_bar_config(disable=True)
    vae_factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    unet_factor = 2 ** (len(pipe.unet.config.down_block_types) - 1)
    loaded = LoadedPipeline(
        name=name, pipe=pipe, path=path, device=device, dtype=dtype,
        native_size=int(pipe.unet.config.sample_size) * vae_factor,
        size_multiple=vae_factor * unet_factor,
        latent_channels=int(pipe.unet.config.in_channels),
        is_lcm=pipe.unet.config.time_cond_proj_dim is not None,
        text_encoder_note=note,
    )
    progress(1.0, f"Loaded {name}")
    modules = [pipe.unet, pipe.vae] + ([] if "text_encoder" in extra else [pipe.text_encoder])
    size = sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
    return loaded, size


def _has_part(folder: Path, part: str) -> bool:
    import json

    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    entry = index.get(part)
    return bool(entry) and entry[0] is not None and (folder / part).is_dir()


def _embedded_text_encoder(device: str, dtype, progress: Progress):
    """The embedded all-MiniLM-L6-v2, shared with the other tabs when the dtypes agree (always on the CPU)."""
    from playground.device import pick_dtype
    from playground.models import load_model

    if dtype == pick_dtype(device):
        return load_model(DEFAULT_ENCODER, progress).model, f"{DEFAULT_ENCODER} (the embedded BERT encoder)"
    from transformers import AutoModel

    from playground.catalog import resolve

    model = AutoModel.from_pretrained(resolve(DEFAULT_ENCODER).path, dtype=dtype, **public.weights_kwargs())
    model = model.to(device).eval()
    return model, f"{DEFAULT_ENCODER} (the embedded BERT encoder, in {dtype})"


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


# ----------------------------------------------------------------------------------------------
# Validation


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


# ----------------------------------------------------------------------------------------------
# The loop


def denoise(loaded: LoadedPipeline, settings: DenoiseSettings,
            callback_on_step_end: Callable[[Any, int, Any, dict], dict] | None = None) -> Iterator[DenoisingStep | Denoised]:
    """Run Stable Diffusion's loop, yielding a DenoisingStep per timestep, then the Denoised result.

    callback_on_step_end(pipe, i, t, {"latents": latents}) -> dict is diffusers' hook: return
    {"latents": new} to change the latents. To stop early, stop iterating (close the generator).
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    height, width = validate(loaded, settings)
    pipe = loaded.pipe
    device = loaded.device
    started = time.perf_counter()
    scheduler = make_scheduler(loaded, settings.scheduler)
    do_cfg = settings.guidance_scale > 1 and not loaded.is_lcm
    preview = _previewer(loaded, resolve_preview(loaded, settings.preview))

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
        shape = (1, loaded.latent_channels, height // pipe.vae_scale_factor, width // pipe.vae_scale_factor)
        latents = randn_tensor(shape, generator=generator, device=device, dtype=prompt_embeds.dtype)
        latents = latents * scheduler.init_noise_sigma
        extra_step_kwargs = _extra_step_kwargs(scheduler, generator)
        timestep_cond = _guidance_embedding(loaded, settings.guidance_scale, latents.dtype)

    # 4. The denoising loop
    alpha_bars = _alpha_bars(scheduler, len(timesteps))
    for i, t in enumerate(timesteps):
        step_started = time.perf_counter()
        capture: dict[int, list] | None = {} if settings.attention_step == i else None
        with torch.inference_mode():
            x_t = latents
            # 4a. U-Net: predict the noise in x_t, for the unconditional and the conditional prompt at once
            model_input = torch.cat([latents] * 2) if do_cfg else latents
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
            alpha_bar = alpha_bars[i]
            is_preview = i % settings.preview_every == 0 or i == len(timesteps) - 1
            guidance = attention = None
            x_t_image = x0_image = noise_image = None
            if is_preview or settings.guidance_step == i:
                vp = _to_vp(x_t, scheduler, alpha_bar)
                prediction_type = scheduler.config.prediction_type
                x0, eps = _split_prediction(vp, model_output, alpha_bar, prediction_type)
                if is_preview:
                    x_t_image, x0_image, *noise = preview(vp, x0, *([eps] if settings.show_noise else []))
                    noise_image = noise[0] if noise else None
                if settings.guidance_step == i and do_cfg:
                    guidance = _explain_guidance(i, float(t), settings.guidance_scale, vp, uncond, cond,
                                                 alpha_bar, prediction_type, preview)
            if capture is not None:
                attention = _attention_maps(i, float(t), capture, tokens, settings.attention_resolution,
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


def _extra_step_kwargs(scheduler, generator) -> dict:
    """eta = 0 and the generator, for the schedulers whose step takes them (as diffusers' pipeline does)."""
    accepted = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = 0.0
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs


def _guidance_embedding(loaded: LoadedPipeline, guidance_scale: float, dtype):
    """LCM U-Nets take the guidance scale as an embedding instead of doing classifier-free guidance."""
    if not loaded.is_lcm:
        return None
    import torch

    w = torch.tensor(guidance_scale - 1).repeat(1)
    embedding = loaded.pipe.get_guidance_scale_embedding(w, embedding_dim=loaded.pipe.unet.config.time_cond_proj_dim)
    return embedding.to(device=loaded.device, dtype=dtype)


def _is_sigma_space(scheduler) -> bool:
    """Euler, Euler ancestral and LMS keep latents as x0 + sigma * eps (variance exploding) instead of
    sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * eps; their first latents are scaled by sigma_max > 1."""
    return float(scheduler.init_noise_sigma) > 1.0 + 1e-6


def _alpha_bars(scheduler, count: int) -> list[float]:
    """alpha_bar at each loop step: from the scheduler's sigmas (sigma space) or its alphas_cumprod."""
    if _is_sigma_space(scheduler):
        sigmas = scheduler.sigmas.float().cpu().numpy()[:count]
        return [float(1.0 / (1.0 + s * s)) for s in sigmas]
    cumprod = scheduler.alphas_cumprod.float().cpu().numpy()
    return [float(cumprod[min(int(round(float(t))), len(cumprod) - 1)]) for t in scheduler.timesteps[:count]]


def _to_vp(latents, scheduler, alpha_bar: float):
    """x_t in the variance-preserving form sqrt(ab) x0 + sqrt(1 - ab) eps, whatever the scheduler keeps."""
    return latents * math.sqrt(alpha_bar) if _is_sigma_space(scheduler) else latents


def _split_prediction(vp, output, alpha_bar: float, prediction_type: str):
    """(x0, eps) implied by the model output at noise level alpha_bar."""
    a, s = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
    if prediction_type == "v_prediction":
        return a * vp - s * output, s * vp + a * output
    if prediction_type == "sample":
        return output, (vp - a * output) / s
    return (vp - s * output) / a, output


def _explain_guidance(i, t, scale, vp, uncond, cond, alpha_bar, prediction_type, preview) -> GuidanceExplained:
    guided = uncond + scale * (cond - uncond)
    parts = [_split_prediction(vp, output, alpha_bar, prediction_type) for output in (uncond, cond, guided)]
    difference = (cond - uncond).abs().mean(dim=1)[0].float().cpu().numpy()
    norm = float((cond - uncond).norm() / uncond.norm().clamp_min(1e-12))
    noises = preview(*(noise for _, noise in parts))
    x0s = preview(*(x0 for x0, _ in parts))
    return GuidanceExplained(
        step=i, timestep=t, scale=scale, uncond_noise=noises[0], cond_noise=noises[1], guided_noise=noises[2],
        uncond_x0=x0s[0], cond_x0=x0s[1], guided_x0=x0s[2],
        difference=difference.astype(np.float32), difference_norm=norm)


# ----------------------------------------------------------------------------------------------
# Tokens and cross-attention


def prompt_tokens(loaded: LoadedPipeline, prompt: str) -> PromptTokens:
    """The prompt as the text encoder sees it: cut to the tokenizer's model_max_length, padding left out."""
    tokenizer = loaded.pipe.tokenizer
    max_length = int(tokenizer.model_max_length)
    cut = tokenizer(prompt, padding="max_length", max_length=max_length, truncation=True)
    full = tokenizer(prompt)["input_ids"]
    ids, mask = cut["input_ids"], cut["attention_mask"]
    positions = [p for p, m in enumerate(mask) if m]
    truncated = len(full) > max_length
    dropped = tokenizer.decode(full[max_length - 1:-1]) if truncated else ""
    pieces = tokenizer.convert_ids_to_tokens([ids[p] for p in positions])
    return PromptTokens(tokens=list(pieces), positions=positions, max_length=max_length,
                        truncated=truncated, dropped=dropped)


class CapturingAttnProcessor:
    """diffusers' AttnProcessor2_0 (the output is computed by it, so images don't change), which also keeps
    the cross-attention probabilities softmax(QK^T / sqrt(d)) of the conditional prompt when given a
    `capture` dict through cross_attention_kwargs: capture[h*w] gets one (T,) map per query per layer."""

    def __init__(self):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.inner = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 capture: dict | None = None):
        if capture is not None and attn.is_cross_attention and encoder_hidden_states is not None:
            self._capture(attn, hidden_states, encoder_hidden_states, capture)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)

    @staticmethod
    def _capture(attn, hidden_states, encoder_hidden_states, capture: dict) -> None:
        states = hidden_states
        if states.ndim == 4:
            b, c, h, w = states.shape
            states = states.view(b, c, h * w).transpose(1, 2)
        if attn.group_norm is not None:
            states = attn.group_norm(states.transpose(1, 2)).transpose(1, 2)
        context = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states
        # the conditional prompt is the last batch item (the first is the unconditional one under guidance)
        query = attn.to_q(states[-1:]).float()
        key = attn.to_k(context[-1:]).float()
        heads = attn.heads
        head_dim = key.shape[-1] // heads
        query = query.view(1, -1, heads, head_dim).transpose(1, 2)      # (1, heads, HW, d)
        key = key.view(1, -1, heads, head_dim).transpose(1, 2)          # (1, heads, T, d)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        probs = (query @ key.transpose(-1, -2) * head_dim ** -0.5).softmax(dim=-1)  # (1, heads, HW, T)
        capture.setdefault(probs.shape[2], []).append(probs[0].mean(dim=0).cpu().numpy())  # (HW, T)


def _attention_maps(i, t, capture: dict, tokens: PromptTokens, resolution: int | None, latent_hw) -> CrossAttentionMaps:
    """Mean over heads and layers at one level. By default the finest level of at most ATTENTION_SIDE cells per
    side: there a word's map follows its object (tiny-shapes-sd at 8 x 8: "red" lights the red circle, "blue" the
    blue square), where the coarser 4 x 4 level lights whole quarters of the picture."""
    lh, lw = int(latent_hw[0]), int(latent_hw[1])
    levels = {}
    for hw, maps in capture.items():
        factor = math.isqrt(lh * lw // hw)
        levels[(lh // factor, lw // factor)] = maps
    if not levels:
        raise ValueError("this U-Net has no cross-attention layers to show.")
    resolutions = sorted(levels, reverse=True)
    if resolution is None:
        fine_enough = [r for r in resolutions if r[0] <= ATTENTION_SIDE]
        chosen = fine_enough[0] if fine_enough else resolutions[-1]
    else:
        matches = [r for r in resolutions if r[0] == resolution]
        if not matches:
            raise ValueError(f"attention resolution {resolution} is not one of the U-Net's levels: "
                             f"{', '.join(str(r[0]) for r in resolutions)}.")
        chosen = matches[0]
    mean = np.mean(levels[chosen], axis=0)                               # (HW, T_all)
    maps = mean[:, tokens.positions].T.reshape(len(tokens.positions), *chosen)  # (T, h, w)
    return CrossAttentionMaps(step=i, timestep=t, tokens=tokens, resolution=chosen, maps=maps.astype(np.float32),
                              layers=len(levels[chosen]), resolutions=resolutions)


# ----------------------------------------------------------------------------------------------
# Previews


def _previewer(loaded: LoadedPipeline, kind: str) -> Callable[..., list[np.ndarray]]:
    """A function from VP-scale latents, each (1, C, h, w), to one (H, W, 3) uint8 image each. They are decoded
    as one batch: x_t and x0 together cost the VAE about 1.4 times one decode on a CPU, not twice."""
    import torch
    import torch.nn.functional as F

    pipe = loaded.pipe
    if kind == "vae":
        def decode(*latents):
            return _to_uint8(pipe.vae.decode(torch.cat(latents) / pipe.vae.config.scaling_factor, return_dict=False)[0])
        return decode
    if kind == "taesd":
        taesd = load_taesd(loaded)

        def decode_tiny(*latents):
            return _to_uint8(taesd.decode(torch.cat(latents).to(taesd.dtype), return_dict=False)[0])
        return decode_tiny
    linear = linear_preview(loaded)
    weights = torch.from_numpy(linear.weights).to(loaded.device, torch.float32)

    def project(*latents):
        flat = torch.cat(latents).float().permute(0, 2, 3, 1)            # (N, h, w, C)
        rgb = flat @ weights[:-1] + weights[-1]                          # (N, h, w, 3) in about [-1, 1]
        rgb = F.interpolate(rgb.permute(0, 3, 1, 2), scale_factor=pipe.vae_scale_factor, mode="bilinear",
                            align_corners=False)
        return _to_uint8(rgb)
    return project


def _to_uint8(images) -> list[np.ndarray]:
    """(N, 3, H, W) in [-1, 1] -> N (H, W, 3) uint8 images."""
    import torch

    images = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round()
    return list(images.permute(0, 2, 3, 1).to("cpu", dtype=torch.uint8).numpy())


def linear_preview(loaded: LoadedPipeline) -> LinearPreview:
    """The latent-to-RGB matrix: SD 1.x/2.x's known factors, or a least-squares fit against this VAE."""
    return CACHE.get(("diffusion-linear", loaded.path, loaded.device, str(loaded.dtype)),
                     lambda: (_linear_preview(loaded), 1024))


def _linear_preview(loaded: LoadedPipeline) -> LinearPreview:
    if _is_sd_vae(loaded.latent_channels, loaded.pipe.vae.config.scaling_factor) and loaded.native_size >= 256:
        weights = np.vstack([np.array(SD_LATENT_RGB, np.float32), np.zeros((1, 3), np.float32)])
        return LinearPreview(weights=weights, source="SD 1.x factors", r2=None)
    return fit_linear_preview(loaded)


def _is_sd_vae(latent_channels: int, scaling_factor: float) -> bool:
    """Stable Diffusion 1.x/2.x's VAE (or one that shares its latent space, as TAESD and the SD factors need)."""
    return latent_channels == 4 and abs(scaling_factor - SD_SCALING_FACTOR) < 1e-6


def fit_linear_preview(loaded: LoadedPipeline, samples: int = LINEAR_FIT_SCENES, seed: int = 0) -> LinearPreview:
    """Fit RGB ~ latents @ W + b by least squares on the model's own latents of drawn scenes (playground.shapes:
    flat colours on plain backgrounds), with each decoded image averaged down to the latent grid (one latent cell
    covers vae_scale_factor^2 pixels). Latents of pictures, not random ones: a VAE turns random latents into
    nothing like its pictures, and a matrix fitted there explains little of what a run shows (tiny-shapes-sd:
    10% of the pixel variance with random latents, 40% with its own: still too little, see preview_options)."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from playground import shapes

    pipe = loaded.pipe
    factor = pipe.vae_scale_factor
    scale = pipe.vae.config.scaling_factor
    size = loaded.native_size
    drawn = shapes.render_batch(shapes.sample_scenes(samples, seed))                 # (N, 64, 64, 3) uint8
    if size != drawn.shape[1]:
        drawn = np.stack([np.asarray(Image.fromarray(d).resize((size, size), Image.Resampling.BICUBIC)) for d in drawn])
    with torch.inference_mode():
        pixels = torch.from_numpy(drawn).to(loaded.device).permute(0, 3, 1, 2).to(loaded.dtype) / 127.5 - 1
        # sampled from the posterior, as the U-Net's training latents are: a channel the decoder ignores is noise
        # there, and the fit learns to ignore it too
        generator = torch.Generator(device=loaded.device).manual_seed(seed)
        latents = torch.cat([pipe.vae.encode(p[None]).latent_dist.sample(generator) * scale for p in pixels])
        images = torch.cat([pipe.vae.decode(z[None] / scale, return_dict=False)[0] for z in latents])
        images = F.avg_pool2d(images.float().clamp(-1, 1), factor)                 # (N, 3, h, w)
    x = latents.float().permute(0, 2, 3, 1).reshape(-1, loaded.latent_channels).cpu().numpy()
    x = np.hstack([x, np.ones((len(x), 1), np.float32)])                            # (N*h*w, C + 1)
    y = images.permute(0, 2, 3, 1).reshape(-1, 3).cpu().numpy()                     # (N*h*w, 3)
    weights, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = ((x @ weights - y) ** 2).sum()
    total = ((y - y.mean(axis=0)) ** 2).sum()
    return LinearPreview(weights=weights.astype(np.float32), source="least-squares fit",
                         r2=float(1 - residual / total) if total > 0 else None)


def preview_options(model: str | LoadedPipeline) -> PreviewOptions:
    """The preview decoders that work for a model, and its sensible default, from its config files alone (a
    model name loads no weights), so the page can offer them as soon as a model is picked:
      vae     always: the model's own decoder, exact; the default where it is cheap (latents up to CHEAP_VAE_SIDE)
      linear  Stable Diffusion's VAE only, whose latent-to-RGB factors are known. Other VAEs need not be linear in
              colour: tiny-shapes-sd's is not (a matrix fitted to it explains 40% of its pixel variance and draws
              its red circle black), so no matrix is offered for them
      taesd   where there is one: a taesd/ folder in the pipeline, or SD's own when cached or the Hub is reachable

        >>> preview_options("tiny-shapes-sd")
        PreviewOptions(choices=['vae'], default='vae', latent_side=16)
    """
    if isinstance(model, LoadedPipeline):
        config = model.pipe.vae.config
        channels, scale = int(config.latent_channels), float(config.scaling_factor)
        side, native, folder = model.native_size // model.pipe.vae_scale_factor, model.native_size, model.path
    else:
        path, kind = _resolve_pipeline(model)
        configs = _read_configs(path, kind)
        if configs is None:   # a Hub checkpoint not downloaded yet: Stable Diffusion's layout
            channels, scale, side, native = 4, SD_SCALING_FACTOR, 64, 512
        else:
            vae, unet = configs
            channels, scale, side = int(vae["latent_channels"]), float(vae["scaling_factor"]), int(unet["sample_size"])
            native = side * 2 ** (len(vae["block_out_channels"]) - 1)
        folder = path
    sd = _is_sd_vae(channels, scale) and native >= 256
    offered = {"vae": True, "linear": sd,
               "taesd": (Path(folder) / "taesd").is_dir() or (sd and (_in_hub_cache_file("madebyollin/taesd")
                                                                     or hub_reachable()))}
    if side <= CHEAP_VAE_SIDE:
        default = "vae"
    else:
        default = next(kind for kind in ("taesd", "linear", "vae") if offered[kind])
    choices = [default] + [kind for kind in PREVIEWS if kind != default and offered[kind]]
    return PreviewOptions(choices=choices, default=default, latent_side=side)


def resolve_preview(loaded: LoadedPipeline, preview: str | None) -> str:
    """The decoder a run uses: the one asked for, or the model's default when none is."""
    if preview is None or preview == "":
        return preview_options(loaded).default
    if preview not in PREVIEWS:
        raise ValueError(f"unknown preview decoder {preview!r}: choose one of {', '.join(PREVIEWS)}.")
    return preview


def _read_configs(path: str, kind: str) -> tuple[dict, dict] | None:
    """(vae config, unet config) of a pipeline folder, or of a Hub checkpoint in the local cache (else None)."""
    import json

    if kind == "dir":
        return tuple(json.loads((Path(path) / part / "config.json").read_text(encoding="utf-8"))
                     for part in ("vae", "unet"))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = [try_to_load_from_cache(path, f"{part}/config.json") for part in ("vae", "unet")]
    if not all(isinstance(f, str) for f in found):
        return None
    return tuple(json.loads(Path(f).read_text(encoding="utf-8")) for f in found)


def load_taesd(loaded: LoadedPipeline):
    """TAESD (diffusers' AutoencoderTiny): from the pipeline folder's taesd/ subfolder, or madebyollin/taesd
    for SD 1.x/2.x checkpoints when it is cached or the Hub can be reached."""
    def load():
        from diffusers import AutoencoderTiny

        local = Path(loaded.path) / "taesd"
        if local.is_dir():
            source = str(local)
        elif "taesd" in preview_options(loaded).choices:
            source = "madebyollin/taesd"
        else:
            offered = " or ".join(preview_options(loaded).choices)
            raise ValueError(f"no TAESD decoder is available for {loaded.name}: choose the {offered} preview.")
        model = AutoencoderTiny.from_pretrained(source, dtype=loaded.dtype, **public.weights_kwargs())
        model = model.to(loaded.device).eval()
        return model, sum(p.numel() * p.element_size() for p in model.parameters())
    return CACHE.get(("diffusion-taesd", loaded.path, loaded.device, str(loaded.dtype)), load)


def _in_hub_cache_file(hub_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(hub_id, "config.json"), str)


# ----------------------------------------------------------------------------------------------
# Schedule, forward diffusion, comparisons, exports


def noise_schedule(loaded: LoadedPipeline, scheduler: str, steps: int) -> NoiseSchedule:
    """sigma and alpha_bar at every loop step of `scheduler` with `steps` steps (what the plot shows)."""
    validate(loaded, DenoiseSettings(steps=steps, scheduler=scheduler))
    instance = make_scheduler(loaded, scheduler)
    instance.set_timesteps(steps, device="cpu")
    count = len(instance.timesteps)
    alpha_bars = _alpha_bars(instance, count)
    return NoiseSchedule(scheduler=scheduler, timesteps=[float(t) for t in instance.timesteps],
                         sigmas=[math.sqrt((1 - a) / a) for a in alpha_bars], alpha_bars=alpha_bars)


def load_image(source: Any) -> np.ndarray:
    """An uploaded or picked image (path, bytes, PIL image or array) as (H, W, 3) uint8; ValueError otherwise."""
    from PIL import Image, UnidentifiedImageError

    if source is None:
        raise ValueError("no image: pick an example or upload a PNG or JPEG.")
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        if array.ndim != 3 or array.shape[-1] not in (3, 4) or min(array.shape[:2]) < 1:
            raise ValueError(f"image array has shape {array.shape}: expected (H, W, 3).")
        return np.ascontiguousarray(array[..., :3]).astype(np.uint8)
    try:
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(source))
        else:
            image = Image.open(str(source))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"that file is not an image Pillow can read ({type(error).__name__}): "
                         "upload a PNG, JPEG, GIF or WebP.") from error
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def forward_diffusion(loaded: LoadedPipeline, image: Any, timesteps: list[int], seed: int = 0,
                      preview: str = "vae") -> ForwardDiffusion:
    """q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) in the model's latent space, decoded.

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
    decode = _previewer(loaded, preview)
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


def filmstrip(loaded: LoadedPipeline, settings: DenoiseSettings, vary: str, values: list, columns: int = 6,
              progress: Progress = _quiet, stop: threading.Event | None = None) -> Filmstrip:
    """Run the loop once per value of `vary` ("guidance", "scheduler" or "seed"), keeping the predicted x0
    at `columns - 1` evenly spaced steps plus the final image: one row per value."""
    fields = {"guidance": "guidance_scale", "scheduler": "scheduler", "seed": "seed"}
    if vary not in fields:
        raise ValueError(f"vary must be one of {', '.join(fields)}, got {vary!r}.")
    if not values:
        raise ValueError(f"give at least one {vary} value to compare.")
    if len(values) > 8:
        raise ValueError(f"compare at most 8 {vary} values at once, got {len(values)}.")
    public.check("filmstrip_rows", len(values), f"number of {vary} values")
    if not 2 <= columns <= 12:
        raise ValueError(f"a filmstrip has 2 to 12 columns, got {columns}.")
    rows, labels, column_labels = [], [], []
    for r, value in enumerate(values):
        run = DenoiseSettings(**{**settings.__dict__, fields[vary]: value, "preview_every": 1,
                                 "guidance_step": None, "attention_step": None, "show_noise": False})
        validate(loaded, run)
        progress(r / len(values), f"Filmstrip row {r + 1} of {len(values)}: {vary} = {value}")
        steps, result = generate(loaded, run)
        picks = np.unique(np.linspace(0, len(steps) - 1, columns - 1).round().astype(int))
        frames = [steps[p].x0 for p in picks] + [result.image]
        rows.append(np.stack(frames))
        labels.append(f"{vary} = {value}")
        column_labels = [f"step {p + 1}/{len(steps)}" for p in picks] + ["final"]
        if stop is not None and stop.is_set():
            break
    progress(1.0, "Filmstrip done")
    widths = {row.shape[0] for row in rows}
    if len(widths) > 1:  # schedulers with extra warm-up steps can give fewer distinct picks
        width = min(widths)
        rows = [row[np.unique(np.linspace(0, row.shape[0] - 1, width).round().astype(int))] for row in rows]
        column_labels = column_labels[-width:] if len(column_labels) > width else column_labels
    return Filmstrip(vary=vary, row_labels=labels, column_labels=column_labels, frames=np.stack(rows))


def export_gif(frames: list[np.ndarray], path: str | Path, milliseconds: int = 120, hold_last: int = 6) -> Path:
    """Write frames ((H, W, 3) uint8 each) as a looping animated GIF; the last frame is held a little."""
    from PIL import Image

    if not frames:
        raise ValueError("nothing to export yet: run the denoising loop first.")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    durations = [milliseconds] * (len(images) - 1) + [milliseconds * hold_last]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    return path


def upscale(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Nearest-neighbour upscale by a whole factor until the longer side is at least `side` pixels, so that a
    small model's pixels stay crisp blocks on a projector and in exports; a larger image is returned as it is.

        >>> upscale(np.zeros((64, 48, 3), np.uint8)).shape
        (256, 192, 3)
        >>> upscale(np.zeros((512, 512, 3), np.uint8)).shape
        (512, 512, 3)
    """
    factor = math.ceil(side / max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


def grid_image(frames: np.ndarray, row_labels: list[str] | None = None, column_labels: list[str] | None = None,
               scale: int | None = None, pad: int = 6) -> np.ndarray:
    """(R, C, H, W, 3) uint8 frames -> one (H', W', 3) uint8 grid with labels above columns and left of rows.
    `scale`: whole-number nearest-neighbour factor; by default enough for tiles of at least DISPLAY_SIDE pixels.
    Labels are drawn in a font about a fourteenth of a tile high, so they read at the size the tiles do."""
    from PIL import Image, ImageDraw, ImageFont

    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 5:
        raise ValueError(f"grid frames must be (rows, columns, H, W, 3), got shape {frames.shape}.")
    rows, cols, h, w, _ = frames.shape
    if scale is None:
        scale = max(1, math.ceil(DISPLAY_SIDE / max(h, w)))
    h, w = h * scale, w * scale
    font = ImageFont.load_default(size=max(12, min(h, w) // 14))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = int(max((measure.textlength(label, font=font) for label in row_labels or []), default=0))
    left = left + 2 * pad if row_labels else 0
    top = int(font.size * 1.6) if column_labels else 0
    canvas = Image.new("RGB", (left + cols * (w + pad) + pad, top + rows * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(column_labels or []):
        draw.text((left + pad + c * (w + pad), top // 2), label, fill="black", font=font, anchor="lm")
    for r in range(rows):
        y = top + pad + r * (h + pad)
        if row_labels:
            draw.text((pad, y + h // 2), row_labels[r], fill="black", font=font, anchor="lm")
        for c in range(cols):
            tile = Image.fromarray(frames[r, c]).resize((w, h), Image.Resampling.NEAREST)
            canvas.paste(tile, (left + pad + c * (w + pad), y))
    return np.asarray(canvas)


def export_grid_png(strip: Filmstrip, path: str | Path, scale: int | None = None) -> Path:
    """The filmstrip as one labelled PNG: a row per value, the steps left to right (a file may be as wide as it
    needs; the page, which scrolls down, shows the values side by side); tiles at least DISPLAY_SIDE pixels."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(grid_image(strip.frames, strip.row_labels, strip.column_labels, scale)).save(path)
    return path


def export_filmstrip_gif(strip: Filmstrip, path: str | Path, milliseconds: int = 400) -> Path:
    """The filmstrip animated: one frame per step, the values side by side in it, labelled."""
    frames = [grid_image(strip.frames[None, :, c], [strip.column_labels[c]], strip.row_labels)
              for c in range(strip.frames.shape[1])]
    return export_gif(frames, path, milliseconds=milliseconds)


def attention_overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.75) -> np.ndarray:
    """An (h, w) attention map, stretched from its own minimum to maximum, as warm colour over a grey
    copy of the (H, W, 3) image, so that where a token's attention gathers stands out."""
    from PIL import Image

    heat = np.asarray(heat, dtype=np.float32)
    span = float(heat.max() - heat.min())
    heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    big = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize(image.shape[1::-1], Image.Resampling.BILINEAR),
                     dtype=np.float32)[..., None] / 255
    # A dimmed grey image under a bright warm yellow: attention is brighter than any pixel of the image,
    # so the map keeps its meaning in grayscale and for colour-blind viewers.
    grey = image.astype(np.float32).mean(axis=-1, keepdims=True) * 0.5
    warm = np.array([255, 200, 0], np.float32)
    out = grey * (1 - strength * big) + warm * strength * big
    return out.clip(0, 255).astype(np.uint8)


__all__ = [name for name in dir() if not name.startswith("_") and name not in {"annotations", "field"}]
