"""What a preview decoder costs and how faithful it is, on the embedded tiny-shapes-sd (or any pipeline).

    python benchmarks/diffusion_preview_bench.py                      # tiny-shapes-sd, this machine's threads
    python benchmarks/diffusion_preview_bench.py --threads 1 --repeats 30 --sd-vae

Prints, best of --repeats (a shared machine's load only ever adds time):
  one decode of a latent at the model's native size, and two in one batch (x_t and x0, as a run decodes them),
  per offered decoder (and the linear matrix, offered or not)
  a 20-step DDIM run with guidance 5: previews (x_t and x0) on every step against previews on the last step only
  fidelity: mean |last step's x0 preview - final image| (0-255) per decoder, and the linear fit's R^2
  --sd-vae: one decode of a 64 x 64 x 4 latent by Stable Diffusion's VAE architecture (random weights: the cost
            of a 512 x 512 decode, which is why SD programs preview with a linear map or TAESD)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "a small red circle above a large blue square on a white background"


def best_seconds(run, repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny-shapes-sd")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sd-vae", action="store_true", help="also time Stable Diffusion's VAE at 512 x 512")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from playground import diffusion as D

    loaded = D.load_pipeline(args.model)
    options = D.preview_options(loaded)
    print(f"model: {args.model}, device: {loaded.device}, torch threads: {torch.get_num_threads()}, "
          f"best of {args.repeats}; offered decoders: {', '.join(options.choices)} (default {options.default})")
    side = options.latent_side
    latent = torch.randn((1, loaded.latent_channels, side, side), generator=torch.Generator().manual_seed(0))
    latent = latent.to(loaded.device, loaded.dtype)
    with torch.inference_mode():
        for kind in dict.fromkeys(options.choices + ["linear"]):
            decode = D.previewer(loaded, kind)
            decode(latent, latent)
            one = best_seconds(lambda: decode(latent), args.repeats)
            two = best_seconds(lambda: decode(latent, latent), args.repeats)
            print(f"  {kind}: one decode of a {side} x {side} latent {one * 1000:.2f} ms, x_t and x0 in one batch "
                  f"{two * 1000:.2f} ms")

    base = D.DenoiseSettings(prompt=PROMPT, steps=20, guidance_scale=5.0, seed=0, scheduler="DDIM")
    runs = max(3, args.repeats // 4)
    plain, every = [], []
    for _ in range(runs):  # taking turns, so a shared machine's load falls on both alike
        plain.append(best_seconds(lambda: D.generate(loaded, D.DenoiseSettings(**{**base.__dict__,
                                                                                  "preview_every": 10**6})), 1))
        every.append(best_seconds(lambda: D.generate(loaded, base), 1))
    plain, every = min(plain), min(every)
    print(f"  20-step run (best of {runs}): previews on the last step only {plain:.2f} s, x_t and x0 every step "
          f"through the {options.default} {every:.2f} s ({every / plain:.2f}x)")

    for kind in dict.fromkeys(options.choices + ["linear"]):
        steps, result = D.generate(loaded, D.DenoiseSettings(**{**base.__dict__, "preview": kind}))
        difference = np.abs(steps[-1].x0.astype(int) - result.image.astype(int))
        print(f"  {kind}: last step's x0 preview vs the final image, mean |difference| {difference.mean():.2f} "
              f"of 255 (max {difference.max()})")
    print(f"  linear matrix: {D.linear_preview(loaded).source}, R^2 {D.linear_preview(loaded).r2}")

    if args.sd_vae:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            sample_size=512).eval()
        big = torch.randn((1, 4, 64, 64), generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            seconds = best_seconds(lambda: vae.decode(big), 2)
        print(f"  Stable Diffusion's VAE architecture, one 64 x 64 latent -> 512 x 512 decode: {seconds:.2f} s")


if __name__ == "__main__":
    main()
