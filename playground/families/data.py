"""The 2D data sets every family trains on: named, seeded, in the same square of the plane.

    >>> data = make_dataset("ring8", seed=0)
    >>> data.train.shape, data.heldout.shape, data.centres.shape, data.mode_sd
    ((10000, 2), (1000, 2), (8, 2), 0.05)
    >>> float(np.abs(np.linalg.norm(data.centres, axis=1) - 2.0).max()) < 1e-6    # a circle of radius 2
    True
    >>> parse_points("0, 0\\n1,1\\n-1.5,2")
    array([[ 0. ,  0. ],
           [ 1. ,  1. ],
           [-1.5,  2. ]], dtype=float32)

Besides the names, a data set can be points a user drew or pasted (x,y per line): each becomes the centre of a
small Gaussian, so the families learn the shape the points make rather than memorising a handful of points.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

PLANE = 3.0                 # every data set lies in the square [-PLANE, PLANE]^2, and every plot shows it
DATASETS = ("ring8", "grid25", "two_moons", "spiral", "checkerboard")
DRAWN = "drawn"             # the tab's name for the user's own points
TRAIN_POINTS = 10_000
HELDOUT_POINTS = 1_000
MODE_SD = 0.05              # ring8 and grid25
DRAWN_SD = 0.05             # the Gaussian around each drawn point
MIN_POINTS = 3
MAX_POINTS = 10_000
FIT = 2.5                   # pasted points larger than the plane are scaled to fit in [-FIT, FIT]^2
_NUMBER = re.compile(r"[,;\s]+")


@dataclass(frozen=True)
class Dataset:
    name: str                           # one of DATASETS, or DRAWN
    train: np.ndarray                   # (10000, 2) float32: what the families train on
    heldout: np.ndarray                 # (1000, 2) float32: drawn apart, for the measurements
    centres: np.ndarray | None          # (num_modes, 2) for ring8 and grid25; None where modes aren't defined
    mode_sd: float | None               # the standard deviation of each mode, with centres
    labels: np.ndarray                  # (10000,) int: the mode (or region) each training point came from
    note: str = ""                      # for drawn points: how many, and how they were scaled


def make_dataset(name: str, seed: int = 0, points: np.ndarray | None = None) -> Dataset:
    """The data set `name` drawn with `seed`; for DRAWN, `points` (n, 2) are the user's points."""
    if name == DRAWN:
        if points is None:
            raise ValueError("dataset 'drawn' needs points: draw them on the pad or paste them as x,y lines.")
        return _drawn(np.asarray(points, np.float32), seed)
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is unknown: choose one of {', '.join(DATASETS)}, or give points "
                         "as CSV text (x,y per line).")
    rng = np.random.default_rng([seed, 1])
    train, labels, centres = _DRAW[name](rng, TRAIN_POINTS)
    heldout, _, _ = _DRAW[name](np.random.default_rng([seed, 2]), HELDOUT_POINTS)
    return Dataset(name, train, heldout, centres, MODE_SD if centres is not None else None, labels)


def _gaussians(rng: np.random.Generator, n: int, centres: np.ndarray, sd: float):
    labels = rng.integers(len(centres), size=n)
    points = centres[labels] + rng.normal(0.0, sd, size=(n, 2))
    return points.astype(np.float32), labels, centres.astype(np.float32)


def _ring8(rng, n):
    angles = 2 * np.pi * np.arange(8) / 8
    return _gaussians(rng, n, 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1), MODE_SD)


def _grid25(rng, n):
    ticks = np.arange(-2.0, 2.5, 1.0)
    return _gaussians(rng, n, np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2), MODE_SD)


def _two_moons(rng, n):
    """scikit-learn's make_moons (noise 0.1), centred and scaled by 1.5."""
    labels = rng.integers(2, size=n)
    t = rng.uniform(0, np.pi, n)
    outer = np.stack([np.cos(t), np.sin(t)], 1)
    inner = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    points = np.where(labels[:, None] == 0, outer, inner) + rng.normal(0, 0.1, (n, 2))
    return (1.5 * (points - [0.5, 0.25])).astype(np.float32), labels, None


def _spiral(rng, n):
    """One arm, a turn and a half out to radius 2.5; even density along the arm (u -> sqrt u)."""
    u = np.sqrt(rng.uniform(0.02, 1.0, n))
    angle = 3 * np.pi * u
    points = 2.5 * u[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1) + rng.normal(0, 0.06, (n, 2))
    return points.astype(np.float32), (u * 3).astype(int), None


def _checkerboard(rng, n):
    """Eight filled squares of side 1 in a 4 x 4 board on [-2, 2]^2."""
    cells = np.array([(c, r) for r in range(4) for c in range(4) if (c + r) % 2 == 0])
    labels = rng.integers(len(cells), size=n)
    points = cells[labels] - 2.0 + rng.uniform(0, 1, (n, 2))
    return points.astype(np.float32), labels, None


_DRAW = {"ring8": _ring8, "grid25": _grid25, "two_moons": _two_moons, "spiral": _spiral,
         "checkerboard": _checkerboard}


def parse_points(text: str) -> np.ndarray:
    """Points from CSV text, x,y per line (commas, semicolons or spaces between; a header line and blank
    lines are skipped): (n, 2) float32. ValueError names the first bad line."""
    if not isinstance(text, str):
        raise ValueError(f"points must be text, x,y per line; got {type(text).__name__}.")
    lines = text.count("\n") + 1
    if lines > 2 * MAX_POINTS:  # refuse before splitting a pasted million lines
        raise ValueError(f"points: about {lines:,} lines pasted; at most {MAX_POINTS:,} points are accepted. "
                         "Paste a sample of them.")
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = [part for part in _NUMBER.split(line.strip()) if part]
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"points: line {number} ({line.strip()[:40]!r}) should be two numbers, x,y.")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            if not rows and number == 1:
                continue  # a header such as "x,y"
            raise ValueError(f"points: line {number} ({line.strip()[:40]!r}) is not two numbers x,y.") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"points: line {number} ({line.strip()[:40]!r}) is not a finite number; "
                             "remove NaN and infinite values.")
        rows.append((x, y))
    if len(rows) > MAX_POINTS:
        raise ValueError(f"points: {len(rows):,} given; at most {MAX_POINTS:,} are accepted. Paste a sample of them.")
    return np.array(rows, np.float32).reshape(-1, 2)


def _drawn(points: np.ndarray, seed: int) -> Dataset:
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (x, y) pairs; got an array of shape {points.shape}.")
    if len(points) < MIN_POINTS:
        raise ValueError(f"points: {len(points)} given; draw or paste at least {MIN_POINTS} points (x,y per line) "
                         "so there is a shape to learn.")
    if len(points) > MAX_POINTS:
        raise ValueError(f"points: {len(points):,} given; at most {MAX_POINTS:,} are accepted.")
    if not np.isfinite(points).all():
        raise ValueError("points: some are NaN or infinite; remove them.")
    note = f"{len(points)} points, each the centre of a Gaussian of standard deviation {DRAWN_SD}"
    reach = float(np.abs(points).max())
    if reach > PLANE:
        middle = (points.max(0) + points.min(0)) / 2
        scale = FIT / float(np.abs(points - middle).max())
        points = (points - middle) * scale
        note += f"; scaled by {scale:.3g} to fit the plane"
    rng = np.random.default_rng([seed, 1])
    labels = rng.integers(len(points), size=TRAIN_POINTS)
    train = points[labels] + rng.normal(0, DRAWN_SD, (TRAIN_POINTS, 2))
    held = np.random.default_rng([seed, 2])
    heldout = points[held.integers(len(points), size=HELDOUT_POINTS)] + held.normal(0, DRAWN_SD, (HELDOUT_POINTS, 2))
    return Dataset(DRAWN, train.astype(np.float32), heldout.astype(np.float32), None, None, labels, note + ".")
