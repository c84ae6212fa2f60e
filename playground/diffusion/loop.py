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
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from playground.device import configured_threads, torch_threads
from playground.diffusion.attention import attention_maps, prompt_tokens
from playground.diffusion.previews import previewer, resolve_preview
from playground.diffusion.records import (Denoised, DenoiseSettings, DenoisingStep, GuidanceExplained,
                                          LoadedPipeline)
from playground.diffusion.schedules import alpha_bars, is_sigma_space, make_scheduler, validate

__all__ = ["denoise", "denoise_rows", "batch_key", "generate", "collect", "split_prediction", "run_threads",
           "TOKENIZING"]


# A fast tokenizer keeps its padding and truncation settings on the object, and encode_prompt changes them
# between its two calls: two threads encoding at once could get a prompt padded to another length (16 threads x
# 30 encode_prompt calls at once: 1 "Sizes of tensors must match"). Diffusion runs encode one at a time.
TOKENIZING = threading.Lock()

# Up to this many latent positions per image a run computes on one torch thread, above on torch's threads
# (playground.device.configured_threads). app.py sets OMP_WAIT_POLICY=PASSIVE, so torch's extra threads sleep
# between two operations and are woken for the next one; on small operations the waking costs more than the
# second core gives. The count depends on the image size, never on how many runs share the batch:
# convolutions round differently on one thread and on two (diffusers' own pipeline, tiny-shapes-sd, DDIM: one
# pixel off by one), and a run in a class's batch must give its lone run's pixels. Measured on the 2-core CPU,
# tiny-shapes-sd (16 x 16 latents), one thread against two: a lone 20-step run 0.73 s vs 1.59 s; 16 runs in one
# batch 6.15 s vs 5.34 s (U-Net on 2 rows 29 ms vs 78 ms, on 32 rows 187 ms vs 157 ms).
SMALL_LATENTS = 32 * 32


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
    for items in denoise_rows(loaded, [settings], callback_on_step_end):
        yield items[0]


def batch_key(loaded: LoadedPipeline, settings: DenoiseSettings) -> tuple:
    """What runs must share to go through the U-Net as one batch: the model and every setting but the prompt,
    negative prompt, seed and (without LCM) the guidance scale; whether guidance is on at all they share."""
    guidance = settings.guidance_scale if loaded.is_lcm else settings.guidance_scale > 1
    free = replace(settings, prompt="", negative_prompt="", seed=0, guidance_scale=guidance,
                   preview=resolve_preview(loaded, settings.preview))
    return loaded.path, loaded.device, str(loaded.dtype), free


def denoise_rows(loaded: LoadedPipeline, rows: Sequence[DenoiseSettings],
                 callback_on_step_end: Callable[[Any, int, Any, dict], dict] | None = None
                 ) -> Iterator[list[DenoisingStep] | list[Denoised]]:
    """`denoise` for several runs with one batch_key at once: one U-Net call per step for all of them, a list
    with one item per row at each step. Each row keeps its own seeded generator and its own scheduler (they
    keep state: DPM-Solver's history, PNDM's, the step index), so a row's latents are its lone run's."""
    import torch
    from diffusers import StableDiffusionPipeline

    if not rows:
        return
    keys = {batch_key(loaded, settings) for settings in rows}
    if len(keys) > 1:
        raise ValueError("denoise_rows runs rows that differ only in prompt, negative prompt, seed and guidance.")
    first = rows[0]
    height, width = validate(loaded, first)
    for settings in rows[1:]:
        validate(loaded, settings)
    n = len(rows)
    pipe = loaded.pipe
    device = loaded.device
    started = time.perf_counter()
    schedulers = [make_scheduler(loaded, first.scheduler) for _ in rows]
    views = [_RunView(pipe, scheduler) for scheduler in schedulers]
    do_cfg = first.guidance_scale > 1 and not loaded.is_lcm
    preview = previewer(loaded, resolve_preview(loaded, first.preview))
    threads = run_threads(loaded, height, width)

    with torch.inference_mode(), torch_threads(threads):
        # 1. Encode each prompt (and, for classifier-free guidance, its negative prompt) into text states
        with TOKENIZING:
            tokens = [prompt_tokens(loaded, settings.prompt) for settings in rows]
            encoded: dict[tuple[str, str], tuple] = {}
            for settings in rows:
                pair = (settings.prompt, settings.negative_prompt)
                if pair not in encoded:
                    encoded[pair] = pipe.encode_prompt(settings.prompt, device, 1, do_cfg,
                                                       settings.negative_prompt or None)
        conds = [encoded[(s.prompt, s.negative_prompt)][0] for s in rows]                    # (1, T, D) each
        prompt_embeds = torch.cat(conds)                                                      # (N, T, D)
        if do_cfg:
            uncond_embeds = torch.cat([encoded[(s.prompt, s.negative_prompt)][1] for s in rows])
            prompt_embeds = torch.cat([uncond_embeds, prompt_embeds])  # (2N, T, D): [uncond rows, cond rows]

        # 2. Prepare the timesteps (the same for every row: same scheduler and steps)
        for scheduler in schedulers:
            scheduler.set_timesteps(first.steps, device=device)
        timesteps = schedulers[0].timesteps

        # 3. Initial latents: Gaussian noise from each row's seeded generator, scaled to the first noise level
        generators = [torch.Generator(device=device).manual_seed(int(settings.seed)) for settings in rows]
        latents = StableDiffusionPipeline.prepare_latents(views[0], n, loaded.latent_channels, height, width,
                                                          prompt_embeds.dtype, device, generators)  # (N, C, h, w)
        extra_step_kwargs = [StableDiffusionPipeline.prepare_extra_step_kwargs(view, generator, 0.0)
                             for view, generator in zip(views, generators)]
        timestep_cond = _guidance_embedding(loaded, first.guidance_scale, latents.dtype, n)

    # 4. The denoising loop. A step's previews are decoded on a second thread while the U-Net computes the next
    # step (as AUTOMATIC1111's live previews are): on a CPU each keeps a core busy. A step is yielded once the
    # next one's U-Net call is done.
    bars = alpha_bars(schedulers[0], len(timesteps))
    cond_rows = list(range(n, 2 * n)) if do_cfg else list(range(n))

    def show(i, t, x_t, model_output, uncond, cond, capture, seconds) -> list[DenoisingStep]:
        # 4e. What this step shows: x_t, its predicted x0 and noise, decoded by the chosen previewer
        preview_started = time.perf_counter()
        alpha_bar = bars[i]
        is_preview = i % first.preview_every == 0 or i == len(timesteps) - 1
        with torch.inference_mode(), torch_threads(threads):
            guidance: list = [None] * n
            attention: list = [None] * n
            images: list = [(None, None, None)] * n
            if is_preview or first.guidance_step == i:
                vp = _to_vp(x_t, schedulers[0], alpha_bar)
                prediction_type = schedulers[0].config.prediction_type
                x0, eps = split_prediction(vp, model_output, alpha_bar, prediction_type)
                if is_preview:
                    images = _previews(preview, vp, x0, eps if first.show_noise else None, first.show_x_t)
                if first.guidance_step == i and do_cfg:
                    guidance = [_explain_guidance(i, float(t), settings.guidance_scale, vp[r:r + 1], uncond[r:r + 1],
                                                  cond[r:r + 1], alpha_bar, prediction_type, preview)
                                for r, settings in enumerate(rows)]
            if capture is not None:
                attention = [attention_maps(i, float(t), {hw: [maps[r] for maps in level] for hw, level in capture.items()},
                                            tokens[r], first.attention_resolution, x_t.shape[-2:])
                             for r in range(n)]                                           # (HW, T) per layer per row
        preview_seconds = time.perf_counter() - preview_started
        return [DenoisingStep(index=i, total=len(timesteps), timestep=float(t),
                              sigma=math.sqrt((1 - alpha_bar) / alpha_bar), alpha_bar=alpha_bar,
                              x_t=images[r][0], x0=images[r][1], noise=images[r][2], seconds=seconds,
                              preview_seconds=preview_seconds, guidance=guidance[r], attention=attention[r])
                for r in range(n)]

    with ThreadPoolExecutor(1, thread_name_prefix="previews") as previewing:
        shown = None                    # the previous step's previews, being decoded
        for i, t in enumerate(timesteps):
            step_started = time.perf_counter()
            capture: dict[int, list] | None = {} if first.attention_step == i else None
            uncond = cond = None
            with torch.inference_mode(), torch_threads(threads):
                x_t = latents                                                                # (N, C, h, w)
                # 4a. U-Net: predict the noise in x_t, for the unconditional and the conditional prompts at once
                model_input = torch.cat([scheduler.scale_model_input(latents[r:r + 1], t)
                                         for r, scheduler in enumerate(schedulers)])
                model_input = torch.cat([model_input] * 2) if do_cfg else model_input         # (2N, C, h, w) under CFG
                kwargs = {"capture": capture, "capture_rows": cond_rows} if capture is not None else None
                model_output = pipe.unet(model_input, t, encoder_hidden_states=prompt_embeds,
                                         timestep_cond=timestep_cond, cross_attention_kwargs=kwargs,
                                         return_dict=False)[0]
                # 4b. Classifier-free guidance: push each row's prediction away from its unconditional one
                if do_cfg:
                    uncond, cond = model_output.chunk(2)                                     # (N, C, h, w) each
                    model_output = torch.cat([uncond[r:r + 1] + settings.guidance_scale * (cond[r:r + 1] - uncond[r:r + 1])
                                              for r, settings in enumerate(rows)])
                # 4c. Each row's scheduler turns its prediction into its next, less noisy, latents
                latents = torch.cat([scheduler.step(model_output[r:r + 1], t, latents[r:r + 1], **extra_step_kwargs[r],
                                                    return_dict=False)[0] for r, scheduler in enumerate(schedulers)])
                # 4d. diffusers' hook
                if callback_on_step_end is not None:
                    outputs = callback_on_step_end(pipe, i, t, {"latents": latents}) or {}
                    latents = outputs.pop("latents", latents)
                seconds = time.perf_counter() - step_started
            showing = previewing.submit(show, i, t, x_t, model_output, uncond, cond, capture, seconds)
            if shown is not None:
                yield shown.result()
            shown = showing
        if shown is not None:
            yield shown.result()

    # 5. Decode the final latents with the VAE, one row at a time (a lone run's batch, so its pixels)
    done = []
    with torch.inference_mode(), torch_threads(threads):
        for r, settings in enumerate(rows):
            decoded = pipe.vae.decode(latents[r:r + 1] / pipe.vae.config.scaling_factor, return_dict=False,
                                      generator=generators[r])[0]
            image = pipe.image_processor.postprocess(decoded, output_type="np")[0]  # (H, W, 3) float in [0, 1]
            done.append(Denoised(image=(image * 255).round().astype(np.uint8),
                                 latents=latents[r].float().cpu().numpy(), timesteps=[float(t) for t in timesteps],
                                 tokens=tokens[r], scheduler=settings.scheduler,
                                 seconds=time.perf_counter() - started))
    yield done


def run_threads(loaded: LoadedPipeline, height: int, width: int) -> int:
    """torch's intra-op threads for a run at this size (SMALL_LATENTS), whatever the batch.

        >>> from playground.diffusion.loading import load_pipeline
        >>> run_threads(load_pipeline("tiny-shapes-sd"), 64, 64)     # 16 x 16 latents
        1
    """
    factor = loaded.pipe.vae_scale_factor
    return 1 if (height // factor) * (width // factor) <= SMALL_LATENTS else configured_threads()


def _previews(preview, vp, x0, eps, with_x_t: bool = True) -> list[tuple]:
    """(x_t or None, x0, noise or None) images per row, every row's latents decoded in one batch (the VAE's and
    TAESD's convolutions give each image the pixels of its lone run's batch: tests/test_diffusion_crowd.py checks it)."""
    n = x0.shape[0]
    parts = ([vp] if with_x_t else []) + [x0] + ([eps] if eps is not None else [])
    images = preview(*parts)                              # (K N, H, W, 3): x_t rows, x0 rows, noise rows, as asked
    rows = [list(images[k * n:(k + 1) * n]) for k in range(len(parts))]
    x_t = rows.pop(0) if with_x_t else [None] * n
    x0s = rows.pop(0)
    noise = rows.pop(0) if eps is not None else [None] * n
    return list(zip(x_t, x0s, noise))


def generate(loaded: LoadedPipeline, settings: DenoiseSettings) -> tuple[list[DenoisingStep], Denoised]:
    """Run `denoise` to the end: (steps, result)."""
    return collect(denoise(loaded, settings))


def collect(items: Iterable[DenoisingStep | Denoised]) -> tuple[list[DenoisingStep], Denoised]:
    """A denoising stream read to its end: (its steps, its result)."""
    steps: list[DenoisingStep] = []
    for item in items:
        if isinstance(item, Denoised):
            return steps, item
        steps.append(item)
    raise RuntimeError("denoise ended without a result")


def _guidance_embedding(loaded: LoadedPipeline, guidance_scale: float, dtype, rows: int = 1):
    """LCM U-Nets take the guidance scale as an embedding instead of doing classifier-free guidance."""
    if not loaded.is_lcm:
        return None
    import torch

    w = torch.tensor(guidance_scale - 1).repeat(rows)
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
