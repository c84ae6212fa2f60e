"""The latent space of images: tiny-shapes-sd's VAE encodes a 64 x 64 picture into 4 x 16 x 16 numbers.

Scenes come from captions in the shapes renderer's own words (playground/shapes.py), or from uploads:

    >>> scene = scene_from_caption("a small blue star in the top left on a black background")
    >>> [(obj.size, obj.colour, obj.shape) for obj in scene.objects], scene.background
    ([('small', 'blue', 'star')], 'black')
    >>> scene_from_caption("red circle").caption          # what is left out takes a default
    'a large red circle in the center on a white background'
    >>> expected_caption("a red circle", "a red square", "a blue square")
    'a large blue circle in the center on a white background'

Then, with the VAE (playground.diffusion.load_pipeline("tiny-shapes-sd").pipe.vae): interpolation between two
scenes in latent space, beside a cross-fade in pixel space; latent arithmetic A - B + C beside the same sum of
pixels; the four latent channels of a scene.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from playground import shapes

_OBJECT = (rf"(?:an? )?(?:({'|'.join(shapes.RADII)}) )?({'|'.join(shapes.COLOURS)}) ({'|'.join(shapes.SHAPES)})")
_CAPTION = re.compile(
    rf"^{_OBJECT}(?: ({'|'.join(shapes.CELL_PHRASES.values())}))?"
    rf"(?: ({'|'.join(shapes.RELATIONS)}) {_OBJECT})?(?: on an? ({'|'.join(shapes.BACKGROUNDS)}) background)?$")
GAP = 6.0                   # pixels between the two objects of a pair
MAX_STEPS = 16


@dataclass(frozen=True)
class Interpolation:
    alphas: np.ndarray          # (S,) from 0 (scene A) to 1 (scene B)
    latent: np.ndarray          # (S, 64, 64, 3) uint8: decode((1 - alpha) z_A + alpha z_B)
    pixel: np.ndarray           # (S, 64, 64, 3) uint8: (1 - alpha) A + alpha B
    ends: np.ndarray            # (2, 64, 64, 3) uint8: the two scenes as drawn


@dataclass(frozen=True)
class Arithmetic:
    inputs: np.ndarray          # (3, 64, 64, 3) uint8: A, B, C as drawn
    latent: np.ndarray          # (64, 64, 3) uint8: decode(z_A - z_B + z_C)
    pixel: np.ndarray           # (64, 64, 3) uint8: A - B + C, clipped to 0..255
    expected: np.ndarray | None  # (64, 64, 3) uint8: the renderer's drawing of the expected caption
    expected_caption: str | None
    latent_error: float | None  # mean squared pixel error (0..1 scale) of each result against the expected drawing
    pixel_error: float | None
    latent_reads: str           # what the shapes detector finds in each result ("a blue circle", ...)
    pixel_reads: str


@dataclass(frozen=True)
class Channels:
    image: np.ndarray           # (64, 64, 3) uint8: the scene
    latents: np.ndarray         # (4, 16, 16) float32: the VAE encoder's mean
    reconstruction: np.ndarray  # (64, 64, 3) uint8: decode(latents)


def _parse(caption: str) -> re.Match:
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("a caption is empty: describe a scene, such as 'a large red circle in the center on a "
                         "white background', or upload an image.")
    found = _CAPTION.match(" ".join(caption.lower().strip().rstrip(".").split()))
    if found is None:
        raise ValueError(
            f"caption {caption[:80]!r} is not a scene the shapes renderer draws: write '[a] [small|large] <colour> "
            f"<shape> [place] [on a <background> background]' or two objects with a relation between them "
            f"('a red circle above a blue square'); colours: {', '.join(shapes.COLOURS)}; shapes: "
            f"{', '.join(shapes.SHAPES)}; places: {', '.join(shapes.CELL_PHRASES.values())}.")
    return found


def _object(size: str | None, colour: str, shape: str) -> tuple[str, str, str, float]:
    size = size or "large"
    return shape, colour, size, float(np.mean(shapes.RADII[size]))


def scene_from_caption(caption: str) -> shapes.Scene:
    """The scene a caption describes, laid out the same way every time: one object at the centre of its grid
    cell, or two objects centred along the axis of their relation. Left out: large, in the center, white."""
    size, colour, shape, phrase, relation, size2, colour2, shape2, background = _parse(caption).groups()
    background = background or "white"
    first = _object(size, colour, shape)
    if relation is None:
        cell = next((c for c, p in shapes.CELL_PHRASES.items() if p == phrase), "center")
        row, column = divmod(shapes.CELLS.index(cell), 3)
        third = shapes.SIZE / 3
        obj = shapes.Shape(*first[:3], (column + 0.5) * third, (row + 0.5) * third, first[3])
        return shapes.Scene((obj,), background, cell, None, shapes.caption_for((obj,), background, cell, None))
    if phrase is not None:
        raise ValueError(f"caption {caption[:80]!r}: give a place ({phrase}) or a relation ({relation}), not both.")
    second = _object(size2, colour2, shape2)
    half = shapes.SIZE / 2
    offset = (first[3] + second[3] + GAP) / 2
    sign = -1 if relation in ("above", "to the left of") else 1     # where the first object goes
    a_along, b_along = half + sign * offset, half - sign * offset
    vertical = relation in ("above", "below")
    a_xy = (half, a_along) if vertical else (a_along, half)
    b_xy = (half, b_along) if vertical else (b_along, half)
    a = shapes.Shape(*first[:3], *a_xy, first[3])
    b = shapes.Shape(*second[:3], *b_xy, second[3])
    return shapes.Scene((a, b), background, None, relation, shapes.caption_for((a, b), background, None, relation))


def expected_caption(a: str, b: str, c: str) -> str | None:
    """For one-object captions, the caption A - B + C stands for: each attribute in which B and C differ, A
    takes C's where it had B's. None when there is no such analogy (two objects, or nothing to change)."""
    scenes = [scene_from_caption(text) for text in (a, b, c)]
    if any(len(scene.objects) != 1 for scene in scenes):
        return None
    (sa, sb, sc) = scenes
    oa, ob, oc = (scene.objects[0] for scene in scenes)
    attributes = {"size": (oa.size, ob.size, oc.size), "colour": (oa.colour, ob.colour, oc.colour),
                  "shape": (oa.shape, ob.shape, oc.shape), "cell": (sa.cell, sb.cell, sc.cell),
                  "background": (sa.background, sb.background, sc.background)}
    result, changed = {}, False
    for name, (va, vb, vc) in attributes.items():
        if vb != vc:
            if va != vb:
                return None  # A doesn't have what is taken away
            result[name], changed = vc, True
        else:
            result[name] = va
    if not changed:
        return None
    obj = f"a {result['size']} {result['colour']} {result['shape']} {shapes.CELL_PHRASES[result['cell']]}"
    return f"{obj} on a {result['background']} background"


def scene_image(source: Any) -> np.ndarray:
    """A (64, 64, 3) uint8 picture from a caption (drawn by the renderer) or an uploaded image (resized)."""
    from PIL import Image

    from playground.diffusion import load_image

    if isinstance(source, str) and not source.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp")):
        return shapes.render(scene_from_caption(source))
    image = Image.fromarray(load_image(source)).resize((shapes.SIZE, shapes.SIZE), Image.Resampling.BICUBIC)
    return np.asarray(image, np.uint8)


def encode(vae, images: np.ndarray) -> Any:
    """(B, 64, 64, 3) uint8 -> (B, 4, 16, 16) latents: the encoder's mean (no sampling), as a torch tensor."""
    import torch

    parameter = next(vae.parameters())
    pixels = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2).to(parameter.device, parameter.dtype) / 127.5 - 1
    with torch.inference_mode():
        return vae.encode(pixels).latent_dist.mean


def decode(vae, latents) -> np.ndarray:
    """(B, 4, 16, 16) latents -> (B, 64, 64, 3) uint8."""
    import torch

    with torch.inference_mode():
        pixels = vae.decode(latents).sample
    return ((pixels.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def interpolate(vae, a: Any, b: Any, steps: int = 7) -> Interpolation:
    """`steps` pictures from scene A to scene B, through the latent space and through pixel space."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 2 <= steps <= MAX_STEPS:
        raise ValueError(f"interpolation steps = {steps!r} must be a whole number from 2 to {MAX_STEPS}.")
    ends = np.stack([scene_image(a), scene_image(b)])
    z = encode(vae, ends)
    alphas = np.linspace(0, 1, steps, dtype=np.float32)
    weights = z.new_tensor(alphas)[:, None, None, None]
    latent = decode(vae, (1 - weights) * z[0:1] + weights * z[1:2])
    mix = alphas[:, None, None, None]
    pixel = ((1 - mix) * ends[0:1].astype(np.float32) + mix * ends[1:2]).round().astype(np.uint8)
    return Interpolation(alphas, latent, pixel, ends)


def _reads(image: np.ndarray) -> str:
    found = shapes.detect(image)
    return ", ".join(f"a {d.colour} {d.shape}" for d in found) or "nothing"


def arithmetic(vae, a: Any, b: Any, c: Any) -> Arithmetic:
    """A - B + C in latent space (decoded) and in pixel space, with the renderer's drawing of the caption it
    stands for when A, B and C are one-object captions."""
    inputs = np.stack([scene_image(a), scene_image(b), scene_image(c)])
    z = encode(vae, inputs)
    latent = decode(vae, z[0:1] - z[1:2] + z[2:3])[0]
    values = inputs.astype(np.float32)
    pixel = (values[0] - values[1] + values[2]).clip(0, 255).round().astype(np.uint8)
    captions = all(isinstance(x, str) and not x.lower().endswith((".png", ".jpg", ".jpeg")) for x in (a, b, c))
    caption = expected_caption(a, b, c) if captions else None
    expected = shapes.render(scene_from_caption(caption)) if caption else None

    def error(image: np.ndarray) -> float | None:
        return None if expected is None else float(((image / 255.0 - expected / 255.0) ** 2).mean())

    return Arithmetic(inputs, latent, pixel, expected, caption, error(latent), error(pixel), _reads(latent),
                      _reads(pixel))


def channels(vae, source: Any) -> Channels:
    image = scene_image(source)
    z = encode(vae, image[None])
    return Channels(image, z[0].float().cpu().numpy(), decode(vae, z)[0])
