"""Train tiny-shapes-sd from nothing and write it to assets/models/tiny-shapes-sd/.

    python scripts/train_tiny_shapes.py                  # the CPU setting: about an hour on 2 cores
    python scripts/train_tiny_shapes.py --preset gpu     # a larger run, minutes on one GPU
    python scripts/train_tiny_shapes.py --preset smoke --workdir /tmp/s --out /tmp/s/model   # seconds

Stopping and running the same command again resumes from the last checkpoint in --workdir.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.tiny_shapes import PIPELINE_FOLDER, PRESETS, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--workdir", type=Path, default=Path(".cache/tiny-shapes-run"),
                        help="checkpoints and the latent pool (default: .cache/tiny-shapes-run)")
    parser.add_argument("--out", type=Path, default=PIPELINE_FOLDER, help="the pipeline folder to write")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best there is)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--unet-steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    settings = PRESETS[args.preset]
    overrides = {key: value for key, value in (("seed", args.seed), ("unet_steps", args.unet_steps),
                                               ("threads", args.threads)) if value is not None}
    settings = replace(settings, **overrides)
    record = train(settings, args.workdir, args.out, args.device)
    print(f"done in {record['seconds_this_run']} s: VAE mse {record['vae_mse_last_50']:.4f}, "
          f"U-Net loss {record['unet_loss_last_100']:.4f}")


if __name__ == "__main__":
    main()
