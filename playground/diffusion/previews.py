"""Previews: what a latent looks like, decoded by the model's own VAE, by TAESD, or by a linear matrix.

    >>> import torch
    >>> from playground.diffusion.loading import load_pipeline
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> preview_options(loaded)                 # from the configs: which decoders work, and the default
    PreviewOptions(choices=['vae'], default='vae', latent_side=16)
    >>> decode = previewer(loaded, "vae")       # VP-scale latents, each (1, C, h, w) -> (H, W, 3) uint8 each
    >>> [image.shape for image in decode(torch.zeros(1, 4, 16, 16), torch.ones(1, 4, 16, 16))]
    [(64, 64, 3), (64, 64, 3)]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

from playground import public
from playground.cache import CACHE
from playground.catalog import hub_reachable
from playground.diffusion.loading import in_hub_cache, resolve_pipeline
from playground.diffusion.records import LinearPreview, LoadedPipeline, PreviewOptions

__all__ = ["PREVIEWS", "CHEAP_VAE_SIDE", "LINEAR_FIT_SCENES", "SD_LATENT_RGB", "SD_SCALING_FACTOR", "previewer",
           "linear_preview", "build_linear_preview", "fit_linear_preview", "preview_options", "resolve_preview",
           "load_taesd"]

PREVIEWS = ("vae", "linear", "taesd")
# Latents up to this many cells per side make a full VAE decode cheap (tiny-shapes-sd, 16 x 16: about 30 ms for
# x_t and x0 together on one busy CPU core, a fifth of its guided U-Net step): such models preview through the VAE
# itself, exact, by default. Larger latents (Stable Diffusion's 64 x 64: over a minute per 512 x 512 decode on
# that core, benchmarks/diffusion_preview_bench.py --sd-vae) default to TAESD where there is one, else the
# linear matrix.
CHEAP_VAE_SIDE = 32
LINEAR_FIT_SCENES = 16        # drawn shapes scenes the linear matrix is fitted on

# ComfyUI's and A1111's latent-to-RGB factors for the SD 1.x/2.x VAE (rows: latent channels; columns: R, G, B).
SD_LATENT_RGB = [
    [0.3512, 0.2297, 0.3227],
    [0.3250, 0.4974, 0.2350],
    [-0.2829, 0.1762, 0.2721],
    [-0.2120, -0.2616, -0.7177],
]
SD_SCALING_FACTOR = 0.18215


def previewer(loaded: LoadedPipeline, kind: str) -> Callable[..., list[np.ndarray]]:
    """A function from VP-scale latents, each (N, C, h, w), to one (H, W, 3) uint8 image per row. They are
    decoded as one batch: x_t and x0 together cost the VAE about 1.4 times one decode on a CPU, not twice."""
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
    """The latent-to-RGB matrix of a model, built once (cached)."""
    return CACHE.get(("diffusion-linear", loaded.path, loaded.device, str(loaded.dtype)),
                     lambda: (build_linear_preview(loaded), 1024))


def build_linear_preview(loaded: LoadedPipeline) -> LinearPreview:
    """SD 1.x/2.x's known factors for its VAE, else a least-squares fit against this VAE."""
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
        path, kind = resolve_pipeline(model)
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
               "taesd": (Path(folder) / "taesd").is_dir() or (sd and (in_hub_cache("madebyollin/taesd", "config.json")
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
