"""The Diffusion tab's forward-diffusion examples: scenes from tiny-shapes-sd's own world, drawn by the renderer
it was trained on (playground/shapes.py: six colours, five shapes, white, black or gray backgrounds), so that the
VAE round trip at t = 0 shows the picture itself and the noise is all that changes with t.

    .venv/bin/python scripts/make_diffusion_examples.py      # writes assets/examples/diffusion/<caption>.png

Each file is named after its caption, with hyphens for spaces; the tab shows the caption.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playground import shapes  # noqa: E402 (after the path above)

FOLDER = ROOT / "assets" / "examples" / "diffusion"


def example_scenes() -> list[shapes.Scene]:
    """The default prompt's scene first, then one object on black and a pair on gray."""
    def scene(objects, background, cell=None, relation=None):
        objects = tuple(shapes.Shape(*obj) for obj in objects)
        return shapes.Scene(objects, background, cell, relation, shapes.caption_for(objects, background, cell, relation))

    return [
        scene([("circle", "red", "small", 32.0, 17.0, 9.0), ("square", "blue", "large", 32.0, 44.0, 14.0)],
              "white", relation="above"),
        scene([("star", "green", "large", 32.0, 32.0, 14.5)], "black", cell="center"),
        scene([("triangle", "yellow", "small", 17.0, 34.0, 9.0), ("diamond", "purple", "large", 44.0, 32.0, 14.0)],
              "gray", relation="to the left of"),
    ]


def main() -> None:
    from PIL import Image

    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.glob("*.png"):
        old.unlink()
    for scene in example_scenes():
        path = FOLDER / (scene.caption.replace(" ", "-") + ".png")
        Image.fromarray(shapes.render(scene)).save(path)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
