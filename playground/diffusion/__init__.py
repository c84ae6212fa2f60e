"""Diffusion: Stable Diffusion's denoising loop run in the open, one numbered step at a time.

A worked example with the embedded `tiny-shapes-sd` (any diffusers Stable Diffusion folder or Hub checkpoint
loads the same way):

    >>> loaded = load_pipeline("tiny-shapes-sd")                     # 64 x 64 images, 16 x 16 x 4 latents
    >>> settings = DenoiseSettings(prompt="a red circle", steps=4, guidance_scale=7.5, seed=0, scheduler="DDIM")
    >>> steps, result = generate(loaded, settings)                   # `denoise` yields them one by one
    >>> [(s.index, s.timestep, round(s.alpha_bar, 3)) for s in steps]
    [(0, 999.0, 0.0), (1, 749.0, 0.003), (2, 499.0, 0.079), (3, 249.0, 0.524)]
    >>> steps[0].x0.shape, result.image.shape, result.image.dtype   # previews and image: (H, W, 3) uint8
    ((64, 64, 3), (64, 64, 3), dtype('uint8'))

`denoise` is a generator: it yields one DenoisingStep per scheduler timestep (so a UI can stream and stop),
then one Denoised with the final image, the pixels StableDiffusionPipeline gives for the same settings.
Everything that leaves the package is a frozen dataclass of numpy arrays and lists.

The package, along its seams: `records` (what comes back), `loading` (pipelines, once, through the shared
cache), `schedules` (schedulers by name, the settings' checks, alpha_bar per step), `attention` (the prompt's
tokens, cross-attention capture), `previews` (VAE, TAESD or linear decoders), `loop` (the numbered steps, for one run or a batch of rows), `together` (a class asking at once:
identical runs shared, compatible ones batched),
`forward` (the noise schedule and forward diffusion), `filmstrips` (rows of runs, exported) and `images`
(uploads in, grids, GIFs and overlays out).
"""

from playground.diffusion.attention import ATTENTION_SIDE, CapturingAttnProcessor, attention_maps, prompt_tokens
from playground.diffusion.filmstrips import export_filmstrip_gif, export_grid_png, filmstrip
from playground.diffusion.forward import forward_diffusion, noise_schedule
from playground.diffusion.images import DISPLAY_SIDE, attention_overlay, export_gif, grid_image, load_image, upscale
from playground.diffusion.loading import (DEFAULT_PIPELINE, EMBEDDED_PIPELINES, build_pipeline, in_hub_cache,
                                          load_pipeline, resolve_pipeline)
from playground.diffusion.loop import batch_key, denoise, denoise_rows, generate, run_threads, split_prediction
from playground.diffusion.previews import (CHEAP_VAE_SIDE, LINEAR_FIT_SCENES, PREVIEWS, SD_LATENT_RGB,
                                           SD_SCALING_FACTOR, build_linear_preview, fit_linear_preview,
                                           linear_preview, load_taesd, preview_options, previewer, resolve_preview)
from playground.diffusion.records import (CrossAttentionMaps, Denoised, DenoiseSettings, DenoisingStep, Filmstrip,
                                          ForwardDiffusion, GuidanceExplained, LinearPreview, LoadedPipeline,
                                          NoiseSchedule, PreviewOptions, PromptTokens)
from playground.diffusion.schedules import (MAX_GUIDANCE, MAX_SEED, MAX_SIDE, MAX_STEPS, SCHEDULERS, alpha_bars,
                                            is_sigma_space, make_scheduler, validate)
from playground.diffusion.together import CROWD, RUNS, denoise_together, generate_together
from playground.progress import Progress

__all__ = [
    # what comes back
    "LoadedPipeline", "PromptTokens", "GuidanceExplained", "CrossAttentionMaps", "DenoisingStep", "Denoised",
    "DenoiseSettings", "NoiseSchedule", "ForwardDiffusion", "Filmstrip", "LinearPreview", "PreviewOptions",
    "Progress",
    # loading
    "DEFAULT_PIPELINE", "EMBEDDED_PIPELINES", "load_pipeline", "resolve_pipeline", "build_pipeline", "in_hub_cache",
    # schedulers and settings
    "SCHEDULERS", "MAX_STEPS", "MAX_GUIDANCE", "MAX_SIDE", "MAX_SEED", "make_scheduler", "validate",
    "is_sigma_space", "alpha_bars",
    # tokens and cross-attention
    "ATTENTION_SIDE", "prompt_tokens", "CapturingAttnProcessor", "attention_maps",
    # previews
    "PREVIEWS", "CHEAP_VAE_SIDE", "LINEAR_FIT_SCENES", "SD_LATENT_RGB", "SD_SCALING_FACTOR", "previewer",
    "linear_preview", "build_linear_preview", "fit_linear_preview", "preview_options", "resolve_preview",
    "load_taesd",
    # the loop
    "denoise", "denoise_rows", "batch_key", "generate", "split_prediction", "run_threads",
    # a class at once: shared identical runs, batched compatible ones
    "RUNS", "CROWD", "denoise_together", "generate_together",
    # schedules, forward diffusion, filmstrips
    "noise_schedule", "forward_diffusion", "filmstrip", "export_grid_png", "export_filmstrip_gif",
    # images
    "DISPLAY_SIDE", "load_image", "upscale", "grid_image", "export_gif", "attention_overlay",
]
