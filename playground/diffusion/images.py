"""Pictures in and out: reading an uploaded image, showing small images large, labelled grids, GIFs, overlays.

Every picture here is an (H, W, 3) uint8 array:

    >>> image = load_image(np.zeros((40, 60), np.uint8))          # grey -> RGB
    >>> image.shape, upscale(image).shape                          # small images grow by a whole factor
    ((40, 60, 3), (200, 300, 3))
    >>> frames = np.zeros((2, 3, 32, 32, 3), np.uint8)             # (rows, columns, H, W, 3)
    >>> grid_image(frames, ["seed = 0", "seed = 1"], ["step 1", "step 2", "final"]).shape[2]
    3
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DISPLAY_SIDE", "load_image", "upscale", "grid_image", "export_gif", "attention_overlay"]

DISPLAY_SIDE = 256            # small images are shown and exported at least this many pixels per side


def load_image(source: Any) -> np.ndarray:
    """An uploaded or picked image (path, bytes, PIL image or array) as (H, W, 3) uint8; ValueError otherwise.
    Files and bytes are opened here (a text that names a URL is not fetched); diffusers' own `load_image` then
    turns the picture upright (EXIF orientation) and into RGB."""
    from diffusers.utils import load_image as diffusers_load_image
    from PIL import Image, UnidentifiedImageError

    if source is None:
        raise ValueError("no image: pick an example or upload a PNG or JPEG.")
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        if array.ndim != 3 or array.shape[-1] not in (3, 4) or min(array.shape[:2]) < 1:
            raise ValueError(f"image array has shape {array.shape}: expected (H, W, 3).")
        return np.ascontiguousarray(array[..., :3]).astype(np.uint8)
    try:
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, (bytes, bytearray)):
            image = Image.open(io.BytesIO(source))
        else:
            image = Image.open(str(source))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"that file is not an image Pillow can read ({type(error).__name__}): "
                         "upload a PNG, JPEG, GIF or WebP.") from error
    return np.asarray(diffusers_load_image(image), dtype=np.uint8)


def upscale(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Nearest-neighbour upscale by a whole factor until the longer side is at least `side` pixels, so that a
    small model's pixels stay crisp blocks on a projector and in exports; a larger image is returned as it is.

        >>> upscale(np.zeros((64, 48, 3), np.uint8)).shape
        (256, 192, 3)
        >>> upscale(np.zeros((512, 512, 3), np.uint8)).shape
        (512, 512, 3)
    """
    factor = math.ceil(side / max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


def grid_image(frames: np.ndarray, row_labels: list[str] | None = None, column_labels: list[str] | None = None,
               scale: int | None = None, pad: int = 6) -> np.ndarray:
    """(R, C, H, W, 3) uint8 frames -> one (H', W', 3) uint8 grid with labels above columns and left of rows.
    `scale`: whole-number nearest-neighbour factor; by default enough for tiles of at least DISPLAY_SIDE pixels.
    Labels are drawn in a font about a fourteenth of a tile high, so they read at the size the tiles do.
    (diffusers' `make_image_grid` pastes tiles edge to edge with neither gaps nor labels, which a filmstrip needs.)"""
    from PIL import Image, ImageDraw, ImageFont

    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim != 5:
        raise ValueError(f"grid frames must be (rows, columns, H, W, 3), got shape {frames.shape}.")
    rows, cols, h, w, _ = frames.shape
    if scale is None:
        scale = max(1, math.ceil(DISPLAY_SIDE / max(h, w)))
    h, w = h * scale, w * scale
    font = ImageFont.load_default(size=max(12, min(h, w) // 14))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = int(max((measure.textlength(label, font=font) for label in row_labels or []), default=0))
    left = left + 2 * pad if row_labels else 0
    top = int(font.size * 1.6) if column_labels else 0
    canvas = Image.new("RGB", (left + cols * (w + pad) + pad, top + rows * (h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(column_labels or []):
        draw.text((left + pad + c * (w + pad), top // 2), label, fill="black", font=font, anchor="lm")
    for r in range(rows):
        y = top + pad + r * (h + pad)
        if row_labels:
            draw.text((pad, y + h // 2), row_labels[r], fill="black", font=font, anchor="lm")
        for c in range(cols):
            tile = Image.fromarray(frames[r, c]).resize((w, h), Image.Resampling.NEAREST)
            canvas.paste(tile, (left + pad + c * (w + pad), y))
    return np.asarray(canvas)


def export_gif(frames: list[np.ndarray], path: str | Path, milliseconds: int = 120, hold_last: int = 6) -> Path:
    """Write frames ((H, W, 3) uint8 each) as a looping animated GIF; the last frame is held a little."""
    from PIL import Image

    if not frames:
        raise ValueError("nothing to export yet: run the denoising loop first.")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8)) for frame in frames]
    durations = [milliseconds] * (len(images) - 1) + [milliseconds * hold_last]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=False)
    return path


def attention_overlay(image: np.ndarray, heat: np.ndarray, strength: float = 0.75) -> np.ndarray:
    """An (h, w) attention map, stretched from its own minimum to maximum, as warm colour over a grey
    copy of the (H, W, 3) image, so that where a token's attention gathers stands out."""
    from PIL import Image

    heat = np.asarray(heat, dtype=np.float32)
    span = float(heat.max() - heat.min())
    heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    big = np.asarray(Image.fromarray((heat * 255).astype(np.uint8)).resize(image.shape[1::-1], Image.Resampling.BILINEAR),
                     dtype=np.float32)[..., None] / 255
    # A dimmed grey image under a bright warm yellow: attention is brighter than any pixel of the image,
    # so the map keeps its meaning in grayscale and for colour-blind viewers.
    grey = image.astype(np.float32).mean(axis=-1, keepdims=True) * 0.5
    warm = np.array([255, 200, 0], np.float32)
    out = grey * (1 - strength * big) + warm * strength * big
    return out.clip(0, 255).astype(np.uint8)
