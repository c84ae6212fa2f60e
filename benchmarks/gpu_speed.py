"""The speed half of benchmarks/gpu_check.py, in the app's dtype on the run's device (float32 on the CPU):
  sampling      tokens per second of the batched loop (step details recorded, as the tab does) with 1, 4 and 16
                rows, and of model.generate greedy, on SmolLM2-135M-, Gemma-3-270M- and 1B-sized decoders
  attention     the first heatmap's data (run_attention, one head) at 512 tokens / a bare eager forward
  diffusion     a Stable Diffusion 1.5-sized U-Net at 512 x 512: steps per second of our loop without previews and
                with linear / TAESD / full-VAE previews of x_t and x0 every step, and of StableDiffusionPipeline
                without and with a VAE-decoding callback_on_step_end; our image against the pipeline's; one
                guided U-Net call for 1 image and for 16 at once (what batching a class's requests would cost)
Each figure is the fastest of the run's repeats after one short warm-up, the variants taking turns, with the
device synchronised around every timed call.

    >>> rows_label(1), rows_label(16)
    ('1 row', '16 rows')
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from benchmarks.gpu_correctness import (CHECK_DECODERS, app_settings, diffusers_image, generate_new, pixels_match,
                                        reference_pipeline, sync, words)
from playground import attention as A
from playground import diffusion as D
from playground import sampling as S
from playground.models import load_model

if TYPE_CHECKING:
    from benchmarks.gpu_check import Run

SPEED_DECODERS = ("smollm2-135m", "gemma-3-270m", "llama-1b")
SD_PROMPT = "a lighthouse on a cliff at sunset, oil painting"
FOUR = [{"name": "greedy"}, {"name": "top_k", "k": 50}, {"name": "top_p", "p": 0.9}, {"name": "min_p", "min_p": 0.1}]
ROWS = {1: (FOUR[:1], 1), 4: (FOUR, 1), 16: (FOUR, 5)}  # rows -> (strategies, samples per sampling strategy)


def rows_label(rows: int) -> str:
    return f"{rows} row{'s' if rows > 1 else ''}"


def best_of_turns(variants: dict[Any, Callable[[int], None]], full: int, warm: int, repeats: int,
                  device: str) -> dict[Any, float]:
    """Fastest wall time of each variant at size `full`, after one warm-up at size `warm`; the variants take
    turns so that any other load hits them alike."""
    for run in variants.values():
        run(warm)
    best = {name: math.inf for name in variants}
    for _ in range(repeats):
        for name, run in variants.items():
            sync(device)
            started = time.perf_counter()
            run(full)
            sync(device)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def vae_callback(pipe, i, t, kwargs):
    """How step previews are usually made with diffusers: VAE-decode the latents in callback_on_step_end."""
    image = pipe.vae.decode(kwargs["latents"] / pipe.vae.config.scaling_factor, return_dict=False)[0]
    pipe.image_processor.postprocess(image, output_type="np")
    return {}


def time_sampling(run: Run) -> None:
    size = run.sizes
    for name in SPEED_DECODERS:
        if not run.has_time(40 if not run.quick else 3, f"sampling speed, {name}"):
            continue
        folder = run.decoder(name)
        with app_settings(run.device, run.app_dtype):
            lm = load_model(folder)
            ids = tuple(lm.tokenizer(words(lm.tokenizer, size.prompt_tokens, 3))["input_ids"])

            def ours(rows: int) -> Callable[[int], None]:
                strategies, samples = ROWS[rows]
                parsed = S.parse_strategies(strategies)

                def go(n: int) -> None:
                    steps = sum(1 for _ in S.sample_steps(lm, ids, parsed, n, 0, samples=samples, stop_at_end=False))
                    assert steps == n
                return go

            def generate(n: int) -> None:
                new = generate_new(lm, ids, n, do_sample=False, min_new_tokens=n)
                assert len(new) == n

            variants = {rows_label(rows): ours(rows) for rows in ROWS}
            variants["model.generate"] = generate
            best = best_of_turns(variants, size.speed_tokens, min(8, size.speed_tokens), size.repeats, run.device)
        n = size.speed_tokens
        setting = f"{n} new tokens per row, prompt {len(ids)} tokens, {run.app_dtype}, best of {size.repeats}"
        for rows in ROWS:
            seconds = best[rows_label(rows)]
            run.figure("sampling", f"{name}: {rows_label(rows)}", rows * n / seconds, "tokens/s",
                       f"{seconds:.3f} s; {setting}")
        run.figure("sampling", f"{name}: model.generate greedy", n / best["model.generate"], "tokens/s",
                   f"{best['model.generate']:.3f} s; {setting}")
        run.figure("sampling", f"{name}: 16 rows / 1 row, time", best["16 rows"] / best["1 row"], "x",
                   "one batched loop: 16 rows cost this many times 1 row")
        run.figure("sampling", f"{name}: our greedy / model.generate, time", best["1 row"] / best["model.generate"],
                   "x", "our loop records every step's candidates (goal on the CPU: at most 1.10)")


def time_attention(run: Run) -> None:
    tokens = run.sizes.attention_tokens
    for name in CHECK_DECODERS:
        folder = run.decoder(name)
        with app_settings(run.device, run.app_dtype):
            loaded = load_model(folder, attn_implementation="eager")
            text = words(loaded.tokenizer, tokens, 4)
            ids = torch.tensor([loaded.tokenizer(text)["input_ids"]], device=loaded.device)

            def forward(_: int) -> None:
                with torch.inference_mode():
                    loaded.model(input_ids=ids, output_attentions=True)

            def first_map(_: int) -> None:
                A.RESULTS.clear()
                A.select_weights(A.run_attention(text, folder), 0, 0)

            best = best_of_turns({"forward": forward, "first map": first_map}, 0, 0, max(3, 2 * run.sizes.repeats),
                                 run.device)
        setting = f"{tokens} tokens, {run.app_dtype}, fastest of {max(3, 2 * run.sizes.repeats)} taking turns"
        run.figure("attention", f"{name}: bare eager forward", best["forward"] * 1000, "ms", setting)
        run.figure("attention", f"{name}: first heatmap (run_attention)", best["first map"] * 1000, "ms",
                   "one forward with every weight copied to the CPU as float32, and one head picked")
        run.figure("attention", f"{name}: first heatmap / forward", best["first map"] / best["forward"], "x",
                   "goal at most 1.2 (the Plotly figure, built on the CPU, is not included)")


def time_diffusion(run: Run) -> None:
    folder = run.sd_pipeline()
    steps = run.sizes.diffusion_steps
    dtype = run.diffusion_dtype
    with app_settings(run.device, dtype):
        loaded = D.load_pipeline(folder)
        reference = reference_pipeline(loaded)
        D.linear_preview(loaded)     # made once per model (SD 1.x factors, or a fit for the toy VAE): not per step
        D.load_taesd(loaded)
        base = D.DenoiseSettings(prompt=SD_PROMPT, steps=steps, guidance_scale=7.5, seed=0, scheduler="DDIM")
        images: dict[str, np.ndarray] = {}
        latents: dict[str, np.ndarray] = {}
        reported: dict[str, float] = {}

        def ours(preview: str, every: int, key: str) -> Callable[[int], None]:
            def go(n: int) -> None:
                results, final = D.generate(loaded, dataclasses.replace(base, steps=n, preview=preview,
                                                                        preview_every=every))
                images[key], latents[key] = final.image, final.latents
                reported[key] = sum(s.seconds + s.preview_seconds for s in results) / n
            return go

        def theirs(callback, key: str) -> Callable[[int], None]:
            def go(n: int) -> None:
                images[key] = diffusers_image(reference, loaded, "DDIM", 0, callback, prompt=SD_PROMPT,
                                              num_inference_steps=n, guidance_scale=7.5)
            return go

        variants = {
            "diffusers pipeline": theirs(None, "diffusers"),
            "diffusers + VAE callback": theirs(vae_callback, "diffusers + VAE"),
            "ours, no previews": ours("linear", 10**6, "ours"),
            "ours, linear every step": ours("linear", 1, "linear"),
            "ours, TAESD every step": ours("taesd", 1, "taesd"),
            "ours, full VAE every step": ours("vae", 1, "vae"),
        }
        best = best_of_turns(variants, steps, 2, run.sizes.repeats, run.device)
        side = loaded.native_size
        unet_calls = time_unet_batches(run, loaded)
    passed, detail = pixels_match(images["ours"], images["diffusers"], latents["ours"], dtype)
    run.check("diffusion", "loop = pipeline (DDIM, SD 1.5 size)", "sd15-random", dtype, passed, detail)
    setting = f"{side} x {side}, {steps} DDIM steps, guidance 7.5 (U-Net batch 2), {dtype}, best of {run.sizes.repeats}"
    for name, seconds in best.items():
        run.figure("diffusion", f"SD 1.5 U-Net: {name}", steps / seconds, "steps/s",
                   f"{1000 * seconds / steps:.1f} ms/step; {setting}")
    run.figure("diffusion", "ours, no previews / diffusers, time",
               best["ours, no previews"] / best["diffusers pipeline"], "x",
               f"the loop's own per-step timing says {1000 * reported['ours']:.1f} ms/step")
    run.figure("diffusion", "linear every step / no previews, time",
               best["ours, linear every step"] / best["ours, no previews"], "x", "goal at most 1.10")
    for name in ("linear", "TAESD", "full VAE"):
        run.figure("diffusion", f"{name} every step / diffusers + VAE callback, time",
                   best[f"ours, {name} every step"] / best["diffusers + VAE callback"], "x",
                   "ours previews x_t and x0 (2 decodes a step), the callback decodes the latents once")
    for users, seconds in unet_calls.items():
        run.figure("diffusion", f"SD 1.5 U-Net call, {users} user{'s' if users > 1 else ''} (batch {2 * users})",
                   1000 * seconds, "ms", f"one guided step of {users} images at once, {side} x {side}, {dtype}")
    run.figure("diffusion", "U-Net call, 16 users in one batch / 1 user, time", unet_calls[16] / unet_calls[1], "x",
               "what batching a class's diffusion requests would cost per step (16 separate calls: 16 x)")


def time_unet_batches(run: Run, loaded: Any) -> dict[int, float]:
    """Seconds of one U-Net call with classifier-free guidance for 1 and for 16 images at once (batch 2 and 32)."""
    unet = loaded.pipe.unet
    side = loaded.native_size // loaded.pipe.vae_scale_factor
    generator = torch.Generator(loaded.device).manual_seed(0)
    inputs = {}
    for users in (1, 16):
        latents = torch.randn((2 * users, loaded.latent_channels, side, side), generator=generator,
                              device=loaded.device, dtype=loaded.dtype)
        text = torch.randn((2 * users, 77, unet.config.cross_attention_dim), generator=generator,
                           device=loaded.device, dtype=loaded.dtype)
        inputs[users] = (latents, text)

    def call(users: int) -> Callable[[int], None]:
        def go(_: int) -> None:
            latents, text = inputs[users]
            with torch.inference_mode():
                unet(latents, 500, encoder_hidden_states=text, return_dict=False)
        return go

    return best_of_turns({users: call(users) for users in inputs}, 0, 0, max(3, 2 * run.sizes.repeats), run.device)


