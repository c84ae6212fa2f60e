"""Shapes: the procedural dataset tiny-shapes-sd learns from, and the detector that grades its images.

Every scene is drawn from a seed, so nothing is downloaded and the same seed gives the same images:

    >>> scenes = sample_scenes(3, seed=0)
    >>> scenes[0].caption
    'a large blue diamond to the left of a small purple circle on a black background'
    >>> image = render(scenes[0])                      # (64, 64, 3) uint8
    >>> score(scenes[0], image).colour                 # the detector reads the renderer's own image back
    1.0

A caption names one object and its place on a 3 x 3 grid, or two objects and how they sit relative
to each other ("a small red circle above a large blue square on a white background"). Captions whose
hash falls in the held-out fifth of the space never appear in training: `split="heldout"` draws them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SIZE = 64                       # pixels per side
SUPERSAMPLE = 4                 # draw at 4x and shrink, for smooth edges

SHAPES = ("circle", "square", "triangle", "star", "diamond")
COLOURS = {
    "red": (220, 30, 35), "orange": (255, 140, 0), "yellow": (245, 215, 0),
    "green": (30, 160, 60), "blue": (35, 85, 230), "purple": (140, 50, 190),
}
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0), "gray": (128, 128, 128)}
RADII = {"small": (8.0, 9.5), "large": (13.0, 15.0)}          # circumradius range in pixels
CELLS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
CELL_PHRASES = {"top left": "in the top left", "top": "at the top", "top right": "in the top right",
                "left": "on the left", "center": "in the center", "right": "on the right",
                "bottom left": "in the bottom left", "bottom": "at the bottom", "bottom right": "in the bottom right"}
RELATIONS = ("above", "below", "to the left of", "to the right of")
HELDOUT_BUCKETS = 20            # 1 caption in 20 (by hash) is held out of training


@dataclass(frozen=True)
class Shape:
    shape: str                  # one of SHAPES
    colour: str                 # one of COLOURS
    size: str                   # "small" or "large"
    x: float                    # centre, pixels from the left
    y: float                    # centre, pixels from the top
    radius: float               # circumradius in pixels


@dataclass(frozen=True)
class Scene:
    objects: tuple[Shape, ...]  # one or two
    background: str             # one of BACKGROUNDS
    cell: str | None            # one object: where it sits on the 3 x 3 grid
    relation: str | None        # two objects: how the first sits relative to the second
    caption: str


@dataclass(frozen=True)
class Detection:
    colour: str
    shape: str
    x: float                    # centroid, pixels
    y: float
    area: int                   # pixels


@dataclass(frozen=True)
class Score:
    colour: float               # share of the caption's objects found with the right colour
    shape: float                # ... with the right shape
    position: float             # ... in the right cell (one object) or relation (two objects)
    detections: tuple[Detection, ...]


# ----------------------------------------------------------------------------------------------
# Captions and the held-out split


def describe(obj: Shape) -> str:
    return f"a {obj.size} {obj.colour} {obj.shape}"


def caption_for(objects: tuple[Shape, ...], background: str, cell: str | None, relation: str | None) -> str:
    if len(objects) == 1:
        return f"{describe(objects[0])} {CELL_PHRASES[cell]} on a {background} background"
    return f"{describe(objects[0])} {relation} {describe(objects[1])} on a {background} background"


def is_heldout(caption: str) -> bool:
    digest = hashlib.sha256(caption.encode("utf-8")).digest()
    return digest[0] % HELDOUT_BUCKETS == 0


# ----------------------------------------------------------------------------------------------
# Sampling scenes


def cell_of(x: float, y: float) -> str:
    column = min(int(x // (SIZE / 3)), 2)
    row = min(int(y // (SIZE / 3)), 2)
    return CELLS[row * 3 + column]


def relation_of(a: tuple[float, float], b: tuple[float, float]) -> str:
    """How a sits relative to b, by the larger of the two displacements."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if abs(dy) >= abs(dx):
        return "above" if dy > 0 else "below"
    return "to the left of" if dx > 0 else "to the right of"


def _sample_object(rng: np.random.Generator, background: str, avoid: str | None = None) -> tuple[str, str, str, float]:
    colours = [c for c in COLOURS if c != avoid]
    shape = SHAPES[rng.integers(len(SHAPES))]
    colour = colours[rng.integers(len(colours))]
    size = ("small", "large")[rng.integers(2)]
    radius = float(rng.uniform(*RADII[size]))
    return shape, colour, size, radius


def _sample_single(rng: np.random.Generator, background: str) -> Scene:
    shape, colour, size, radius = _sample_object(rng, background)
    cell = CELLS[rng.integers(len(CELLS))]
    row, column = divmod(CELLS.index(cell), 3)
    third, margin = SIZE / 3, 2.0

    def coordinate(index: int) -> float:
        low = max(index * third + margin, radius + 1)
        high = min((index + 1) * third - margin, SIZE - radius - 1)
        return float(rng.uniform(low, high))

    obj = Shape(shape, colour, size, coordinate(column), coordinate(row), radius)
    return Scene((obj,), background, cell, None, caption_for((obj,), background, cell, None))


def _sample_pair(rng: np.random.Generator, background: str) -> Scene:
    first = _sample_object(rng, background)
    second = _sample_object(rng, background, avoid=first[1])   # two colours, so each object is findable
    relation = RELATIONS[rng.integers(len(RELATIONS))]
    ra, rb = first[3], second[3]
    # Lay the pair out along an axis: a before b for "above" / "to the left of", b before a otherwise.
    lead, follow = (ra, rb) if relation in ("above", "to the left of") else (rb, ra)
    gap = float(rng.uniform(2.0, SIZE - 2 - 2 * (lead + follow)))
    start = float(rng.uniform(1.0, SIZE - 1 - (2 * (lead + follow) + gap)))
    along_lead = start + lead
    along_follow = along_lead + lead + gap + follow
    spread = 0.5 * (along_follow - along_lead)           # keeps the relation unambiguous
    centre = float(rng.uniform(max(lead, follow) + 1, SIZE - max(lead, follow) - 1))
    across_lead = float(np.clip(centre + rng.uniform(-spread, spread) / 2, lead + 1, SIZE - lead - 1))
    across_follow = float(np.clip(centre + rng.uniform(-spread, spread) / 2, follow + 1, SIZE - follow - 1))
    if relation in ("above", "below"):
        lead_xy, follow_xy = (across_lead, along_lead), (across_follow, along_follow)
    else:
        lead_xy, follow_xy = (along_lead, across_lead), (along_follow, across_follow)
    a_xy, b_xy = (lead_xy, follow_xy) if relation in ("above", "to the left of") else (follow_xy, lead_xy)
    a = Shape(first[0], first[1], first[2], a_xy[0], a_xy[1], ra)
    b = Shape(second[0], second[1], second[2], b_xy[0], b_xy[1], rb)
    return Scene((a, b), background, None, relation, caption_for((a, b), background, None, relation))


def sample_scene(rng: np.random.Generator, split: str = "train", pair_share: float = 0.5) -> Scene:
    """One random scene whose caption belongs to `split` ("train" or "heldout")."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', not {split!r}.")
    while True:
        background = tuple(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
        scene = _sample_pair(rng, background) if rng.random() < pair_share else _sample_single(rng, background)
        if is_heldout(scene.caption) == (split == "heldout"):
            return scene


def sample_scenes(count: int, seed: int, split: str = "train", pair_share: float = 0.5) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, split, pair_share) for _ in range(count)]


# ----------------------------------------------------------------------------------------------
# Drawing


def outline(shape: str, x: float, y: float, radius: float) -> list[tuple[float, float]] | None:
    """The polygon of a shape (None for a circle), in the same units as x, y and radius."""
    if shape == "circle":
        return None
    if shape == "square":
        half = radius / math.sqrt(2)
        return [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    if shape == "diamond":
        return [(x, y - radius), (x + radius, y), (x, y + radius), (x - radius, y)]
    if shape == "triangle":
        return [(x + radius * math.cos(a), y - radius * math.sin(a))
                for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3)]
    if shape == "star":
        points = []
        for k in range(10):
            r = radius if k % 2 == 0 else radius * 0.45
            a = math.pi / 2 + k * math.pi / 5
            points.append((x + r * math.cos(a), y - r * math.sin(a)))
        return points
    raise ValueError(f"unknown shape {shape!r}: choose one of {', '.join(SHAPES)}.")


def _draw(draw, shape: str, x: float, y: float, radius: float, fill) -> None:
    s = SUPERSAMPLE
    polygon = outline(shape, x * s, y * s, radius * s)
    if polygon is None:
        draw.ellipse([x * s - radius * s, y * s - radius * s, x * s + radius * s, y * s + radius * s], fill=fill)
    else:
        draw.polygon(polygon, fill=fill)


def render(scene: Scene) -> np.ndarray:
    """The scene as a (64, 64, 3) uint8 image."""
    from PIL import Image, ImageDraw

    big = Image.new("RGB", (SIZE * SUPERSAMPLE,) * 2, BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(big)
    for obj in scene.objects:
        _draw(draw, obj.shape, obj.x, obj.y, obj.radius, COLOURS[obj.colour])
    return np.asarray(big.resize((SIZE, SIZE), Image.Resampling.BOX))


def render_batch(scenes: list[Scene]) -> np.ndarray:
    """(B, 64, 64, 3) uint8."""
    return np.stack([render(scene) for scene in scenes])


# ----------------------------------------------------------------------------------------------
# Detecting what an image shows


@lru_cache(maxsize=None)
def _template(shape: str, radius: float, dx: float, dy: float) -> np.ndarray:
    """A (64, 64) bool mask of the shape centred at (32 + dx, 32 + dy)."""
    from PIL import Image, ImageDraw

    big = Image.new("L", (SIZE * SUPERSAMPLE,) * 2, 0)
    _draw(ImageDraw.Draw(big), shape, SIZE / 2 + dx, SIZE / 2 + dy, radius, 255)
    return np.asarray(big.resize((SIZE, SIZE), Image.Resampling.BOX)) >= 128


@lru_cache(maxsize=None)
def _area_per_radius2(shape: str) -> float:
    return float(_template(shape, 20.0, 0.0, 0.0).sum()) / 400.0


def classify_shape(mask: np.ndarray) -> str:
    """The shape whose drawn mask, at the same centre and area, overlaps `mask` best (intersection over union)."""
    ys, xs = np.nonzero(mask)
    cx, cy, area = xs.mean(), ys.mean(), len(xs)
    best, best_iou = SHAPES[0], -1.0
    for shape in SHAPES:
        radius = round(math.sqrt(area / _area_per_radius2(shape)) * 2) / 2      # half-pixel steps, for the cache
        for ddx in (-0.5, 0.0, 0.5):
            for ddy in (-0.5, 0.0, 0.5):
                dx = round((cx - SIZE / 2 + ddx) * 2) / 2
                dy = round((cy - SIZE / 2 + ddy) * 2) / 2
                template = _template(shape, radius, dx, dy)
                iou = (template & mask).sum() / max((template | mask).sum(), 1)
                if iou > best_iou:
                    best, best_iou = shape, float(iou)
    return best


def nearest_colour(rgb: np.ndarray) -> str:
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((palette - rgb) ** 2).sum(axis=1)))]


def detect(image: np.ndarray, min_area: int = 15) -> list[Detection]:
    """The coloured objects in an image, largest first.

    The background is the median colour of the border; a pixel belongs to an object when it is far from
    it; touching pixels form one object, split in two when they hold two palette colours.
    """
    from scipy import ndimage

    pixels = np.asarray(image, dtype=np.float32)[..., :3]
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    foreground = np.sqrt(((pixels - background) ** 2).sum(axis=-1)) > 60
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float32)
    nearest = np.argmin(((pixels[:, :, None, :] - palette) ** 2).sum(axis=-1), axis=-1)   # (64, 64)
    labels, count = ndimage.label(foreground, structure=np.ones((3, 3)))
    found: list[Detection] = []
    for label in range(1, count + 1):
        component = labels == label
        if component.sum() < min_area:
            continue
        # Colours are read from the core: the blended rim of a red shape on white can look orange.
        core = ndimage.binary_erosion(component)
        core = core if core.sum() >= min_area else component
        counts = np.bincount(nearest[core], minlength=len(names))
        colours = [i for i in range(len(names)) if counts[i] >= max(min_area, 0.2 * core.sum())]
        if len(colours) <= 1:
            parts = [(component, core)]
        else:
            restricted = np.array(colours)[np.argmin(((pixels[:, :, None, :] - palette[colours]) ** 2).sum(-1), -1)]
            parts = [(component & (restricted == i), core & (restricted == i)) for i in colours]
        for mask, inner in parts:
            mask = ndimage.binary_fill_holes(mask)
            ys, xs = np.nonzero(mask)
            found.append(Detection(nearest_colour(pixels[inner].mean(axis=0)), classify_shape(mask),
                                   float(xs.mean()), float(ys.mean()), int(mask.sum())))
    return sorted(found, key=lambda d: -d.area)


def score(scene: Scene, image: np.ndarray) -> Score:
    """How well an image shows its caption: per-object colour, shape and position, each in [0, 1]."""
    found = detect(image)
    wanted = scene.objects
    if len(wanted) == 1:
        obj = wanted[0]
        if not found:
            return Score(0.0, 0.0, 0.0, ())
        # The object the caption describes is the largest one of its colour, else simply the largest.
        pick = next((d for d in found if d.colour == obj.colour), found[0])
        return Score(float(pick.colour == obj.colour), float(pick.shape == obj.shape),
                     float(cell_of(pick.x, pick.y) == scene.cell), tuple(found))
    a, b = wanted
    da = next((d for d in found if d.colour == a.colour), None)
    db = next((d for d in found if d.colour == b.colour), None)
    colour = (da is not None) + (db is not None)
    shape = (da is not None and da.shape == a.shape) + (db is not None and db.shape == b.shape)
    both = da is not None and db is not None
    position = both and relation_of((da.x, da.y), (db.x, db.y)) == scene.relation    # one relation, both objects
    return Score(colour / 2, shape / 2, float(position), tuple(found))
