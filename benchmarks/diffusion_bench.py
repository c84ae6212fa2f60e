"""Per-step time of our denoising loop against diffusers' StableDiffusionPipeline, and what previews cost.

    python benchmarks/diffusion_bench.py                       # a small random pipeline, 64 x 64 images
    python benchmarks/diffusion_bench.py --model PATH_OR_HUB_ID --steps 25 --repeats 3

Rows (median of --repeats runs, milliseconds per loop step, all with the same seed and settings):
  diffusers pipeline            StableDiffusionPipeline.__call__
  diffusers + VAE callback      the same with a callback_on_step_end that VAE-decodes the latents every step
                                (how step previews are usually made today)
  ours, no previews             our generator loop, previews only on the last step
  ours, linear every step       x_t and x0 previewed every step through the linear latent-to-RGB matrix
  ours, VAE every step          x_t and x0 previewed every step through the full VAE (two decodes per step)
Ratios are printed against "ours, no previews" and against the diffusers rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a diffusers pipeline folder or Hub id (default: a random small pipeline)")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scheduler", default="DDIM")
    parser.add_argument("--threads", type=int, help="torch CPU threads (on a busy shared CPU, 1 avoids thrashing)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from diffusers import StableDiffusionPipeline

    from playground import diffusion as D
    from tests.tiny_diffusion import build_tiny_pipeline

    model = args.model
    if model is None:
        model = str(build_tiny_pipeline(Path(tempfile.mkdtemp()) / "bench-sd", width=64, sample_size=32,
                                            vae_width=64))
        print("model: random pipeline, U-Net channels (64, 128), VAE channels (64, 128), 32 x 32 latents, "
              "64 x 64 images")
    loaded = D.load_pipeline(model)
    print(f"device: {loaded.device}, dtype: {loaded.dtype}, torch threads: {torch.get_num_threads()}, "
          f"steps: {args.steps}, scheduler: {args.scheduler}, guidance 7.5 (two U-Net passes per step)")
    prompt = "a small red circle above a large blue square"
    base = D.DenoiseSettings(prompt=prompt, steps=args.steps, guidance_scale=7.5, seed=0, scheduler=args.scheduler)

    extra = {} if loaded.text_encoder_note.startswith("the pipeline's own") else {"text_encoder": loaded.pipe.text_encoder}
    reference = StableDiffusionPipeline.from_pretrained(loaded.path, safety_checker=None, requires_safety_checker=False,
                                                        dtype=loaded.dtype, **extra).to(loaded.device)
    reference.set_progress_bar_config(disable=True)

    def diffusers_run(callback=None):
        reference.scheduler = D.make_scheduler(loaded, args.scheduler)
        reference(prompt, num_inference_steps=args.steps, guidance_scale=7.5, output_type="np",
                  generator=torch.Generator(loaded.device).manual_seed(0), callback_on_step_end=callback)

    def vae_callback(pipe, i, t, kwargs):
        latents = kwargs["latents"]
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
        pipe.image_processor.postprocess(image, output_type="np")
        return {}

    inside: dict[str, list[float]] = {}

    def ours(**change):
        steps, _ = D.generate(loaded, D.DenoiseSettings(**{**base.__dict__, **change}))
        key = change.get("preview", "none") if change.get("preview_every") == 1 else "none"
        inside.setdefault(key, []).append(sum(s.preview_seconds for s in steps) / sum(s.seconds for s in steps))

    D.linear_preview(loaded)  # the fit is made once per model; not part of the per-step cost
    rows = {
        "diffusers pipeline": lambda: diffusers_run(),
        "diffusers + VAE callback": lambda: diffusers_run(vae_callback),
        "ours, no previews": lambda: ours(preview_every=10**6),
        "ours, linear every step": lambda: ours(preview="linear", preview_every=1),
        "ours, VAE every step": lambda: ours(preview="vae", preview_every=1),
    }
    for run in rows.values():  # warm-up
        run()
    timings = {name: [] for name in rows}
    for _ in range(args.repeats):
        for name, run in rows.items():  # interleaved, so load from other processes hits every row alike
            if loaded.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            run()
            if loaded.device.startswith("cuda"):
                torch.cuda.synchronize()
            timings[name].append((time.perf_counter() - started) / args.steps * 1000)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    plain = medians["ours, no previews"]
    print(f"\n{'':28s} {'ms/step':>9s} {'vs ours plain':>14s} {'vs diffusers':>13s}")
    for name, value in medians.items():
        print(f"{name:28s} {value:9.2f} {value / plain:13.2f}x {value / medians['diffusers pipeline']:12.2f}x")
    print(f"\nlinear preview overhead: {100 * (medians['ours, linear every step'] / plain - 1):+.1f}% (goal: at most +10%)")
    for key in ("linear", "vae"):
        print(f"{key} previews timed inside the loop: {100 * statistics.median(inside[key]):.2f}% of the U-Net + "
              "scheduler time (x_t and x0 previewed every step)")
    print(f"linear previews vs a VAE-decoding callback: "
          f"{medians['ours, linear every step'] / medians['diffusers + VAE callback']:.2f}x the time")


if __name__ == "__main__":
    main()
