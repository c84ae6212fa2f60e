"""Grade tiny-shapes-sd on held-out captions with the renderer's own detector, and draw sample images.

    python scripts/evaluate_tiny_shapes.py                       # 200 held-out prompts, 25 steps
    python scripts/evaluate_tiny_shapes.py --samples assets/tiny-shapes-samples.png

Prints colour, shape and position accuracy (goals: 85%, 70%, 70%), the VAE's reconstruction error and
the time for one image; writes the figures to evaluation.json in the pipeline folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from playground import shapes  # noqa: E402
from training.tiny_shapes import PIPELINE_FOLDER, evaluate  # noqa: E402

GOALS = {"colour": 0.85, "shape": 0.70, "position": 0.70}


def save_samples(path: Path, scenes: list[shapes.Scene], images: np.ndarray, columns: int = 8) -> None:
    """Two rows per group of captions: the renderer's drawing above, the model's image below, 3x enlarged."""
    from PIL import Image

    drawn = shapes.render_batch(scenes)
    blank = np.full_like(drawn[0], 255)
    rows = []
    for begin in range(0, len(scenes), columns):
        for source in (drawn, images):
            tiles = list(source[begin:begin + columns])
            rows.append(np.concatenate(tiles + [blank] * (columns - len(tiles)), axis=1))
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.Resampling.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=PIPELINE_FOLDER)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--samples", type=Path, default=None, help="write a PNG of 16 captions, drawn and generated")
    args = parser.parse_args()
    if not (args.model / "model_index.json").is_file():
        sys.exit(f"{args.model} holds no model_index.json: train it first with scripts/train_tiny_shapes.py")
    report, images = evaluate(args.model, args.prompts, args.steps, args.guidance, args.seed)
    print(f"{report.prompts} held-out prompts, {report.steps} steps of {report.scheduler}, "
          f"guidance {report.guidance_scale}, on {report.device}")
    for name, goal in GOALS.items():
        value = getattr(report, name)
        print(f"  {name:9s} {value:6.1%}   goal {goal:.0%}  {'met' if value >= goal else 'MISSED'}")
    for kind, figures in report.by_kind.items():
        print(f"  {kind} ({figures['prompts']} prompts): colour {figures['colour']:.1%}, "
              f"shape {figures['shape']:.1%}, position {figures['position']:.1%}")
    print(f"  VAE reconstruction: MSE {report.vae_mse:.5f} (PSNR {report.vae_psnr:.1f} dB)")
    print(f"  one image, {report.steps} steps with guidance: {report.seconds_per_image:.2f} s")
    (args.model / "evaluation.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    if args.samples:
        scenes = shapes.sample_scenes(args.prompts, seed=args.seed, split="heldout")
        picks = [i for i, s in enumerate(scenes) if len(s.objects) == 1][:8] + \
                [i for i, s in enumerate(scenes) if len(s.objects) == 2][:8]
        save_samples(args.samples, [scenes[i] for i in picks], images[picks])
        print(f"  samples: {args.samples}")
        for i in picks:
            print(f"    {scenes[i].caption}")


if __name__ == "__main__":
    main()
