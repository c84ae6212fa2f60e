"""Loading a Stable Diffusion pipeline once, through the shared model cache, with our attention processor.

    >>> loaded = load_pipeline("tiny-shapes-sd")     # the embedded model: 64 x 64 images, 16 x 16 x 4 latents
    >>> loaded.native_size, loaded.size_multiple, loaded.latent_channels, loaded.is_lcm
    (64, 16, 4, False)
    >>> loaded.text_encoder_note
    'all-minilm-l6-v2 (the embedded BERT encoder)'
    >>> load_pipeline("tiny-shapes-sd") is loaded   # loaded once, shared by every tab and user
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playground import public
from playground.cache import CACHE
from playground.catalog import check_hub_id, hub_offline, hub_reachable, is_local_folder
from playground.diffusion.attention import CapturingAttnProcessor
from playground.diffusion.records import LoadedPipeline
from playground.progress import Progress, no_progress
from playground.registry import DEFAULT_ENCODER, DEFAULT_PIPELINE, PIPELINES, always_allowed
from playground.settings import current

__all__ = ["DEFAULT_PIPELINE", "EMBEDDED_PIPELINES", "load_pipeline", "resolve_pipeline", "build_pipeline",
           "in_hub_cache"]

EMBEDDED_PIPELINES = {name: spec.folder for name, spec in PIPELINES.items()}


def load_pipeline(name: str, progress: Progress = no_progress) -> LoadedPipeline:
    """Load a Stable Diffusion pipeline once, through the shared model cache.

    `name`: "tiny-shapes-sd", a local diffusers pipeline folder, or a Hub id such as
    "stabilityai/sd-turbo" (only when the Hub can be reached or the model is cached).
    """
    path, kind = resolve_pipeline(name)
    from playground.device import pick_device

    device = pick_device()
    dtype = _pipeline_dtype(device)
    return CACHE.get(("diffusion", kind, path, device, str(dtype)),
                     lambda: build_pipeline(name, path, kind, device, dtype, progress))


def resolve_pipeline(name: str) -> tuple[str, str]:
    """(path, kind) of a model name: kind "dir" for a pipeline folder, "hub" for a Hub id; ValueError naming
    what is wrong otherwise (public mode's policy applies)."""
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
    if not in_hub_cache(name):
        if hub_offline() or not hub_reachable():
            raise ValueError(f"{name!r} is not in the local Hugging Face cache and the Hub can't be reached; "
                             "use tiny-shapes-sd or a local pipeline folder.")
    return name, "hub"


def in_hub_cache(hub_id: str, filename: str = "model_index.json") -> bool:
    """Whether `filename` of the Hub repository `hub_id` is in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(hub_id, filename), str)


def _pipeline_dtype(device: str):
    """fp16 on CUDA GPUs (Stable Diffusion's usual setting), float32 on the CPU; PLAYGROUND_DTYPE overrides."""
    import torch

    from playground.device import pick_dtype

    if current().dtype:
        return pick_dtype(device)
    return torch.float16 if device.startswith("cuda") else pick_dtype(device)


def build_pipeline(name: str, path: str, kind: str, device: str, dtype, progress: Progress = no_progress):
    """(LoadedPipeline, bytes of weights): what load_pipeline keeps in the cache. Loads safetensors only in
    public mode; a folder without a text encoder (tiny-shapes-sd) gets the embedded MiniLM."""
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
