"""Filmstrips: the loop run once per guidance scale, scheduler or seed, the predicted x0 at a few steps per row.

    >>> from playground.diffusion.loading import load_pipeline
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> strip = filmstrip(loaded, DenoiseSettings(prompt="a red circle", steps=4), "seed", [0, 1], columns=3)
    >>> strip.row_labels, strip.column_labels, strip.frames.shape      # (R, Cols, H, W, 3) uint8
    (['seed = 0', 'seed = 1'], ['step 1/4', 'step 4/4', 'final'], (2, 3, 64, 64, 3))
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from playground import public
from playground.diffusion.images import export_gif, grid_image
from playground.diffusion.loop import generate
from playground.diffusion.records import DenoiseSettings, Filmstrip, LoadedPipeline
from playground.diffusion.schedules import validate
from playground.progress import Progress, no_progress

__all__ = ["filmstrip", "export_grid_png", "export_filmstrip_gif"]


def filmstrip(loaded: LoadedPipeline, settings: DenoiseSettings, vary: str, values: list, columns: int = 6,
              progress: Progress = no_progress, stop: threading.Event | None = None) -> Filmstrip:
    """Run the loop once per value of `vary` ("guidance", "scheduler" or "seed"), keeping the predicted x0
    at `columns - 1` evenly spaced steps plus the final image: one row per value."""
    fields = {"guidance": "guidance_scale", "scheduler": "scheduler", "seed": "seed"}
    if vary not in fields:
        raise ValueError(f"vary must be one of {', '.join(fields)}, got {vary!r}.")
    if not values:
        raise ValueError(f"give at least one {vary} value to compare.")
    if len(values) > 8:
        raise ValueError(f"compare at most 8 {vary} values at once, got {len(values)}.")
    public.check("filmstrip_rows", len(values), f"number of {vary} values")
    if not 2 <= columns <= 12:
        raise ValueError(f"a filmstrip has 2 to 12 columns, got {columns}.")
    rows, labels, column_labels = [], [], []
    for r, value in enumerate(values):
        run = DenoiseSettings(**{**settings.__dict__, fields[vary]: value, "preview_every": 1,
                                 "guidance_step": None, "attention_step": None, "show_noise": False})
        validate(loaded, run)
        progress(r / len(values), f"Filmstrip row {r + 1} of {len(values)}: {vary} = {value}")
        steps, result = generate(loaded, run)
        picks = np.unique(np.linspace(0, len(steps) - 1, columns - 1).round().astype(int))
        frames = [steps[p].x0 for p in picks] + [result.image]
        rows.append(np.stack(frames))
        labels.append(f"{vary} = {value}")
        column_labels = [f"step {p + 1}/{len(steps)}" for p in picks] + ["final"]
        if stop is not None and stop.is_set():
            break
    progress(1.0, "Filmstrip done")
    widths = {row.shape[0] for row in rows}
    if len(widths) > 1:  # schedulers with extra warm-up steps can give fewer distinct picks
        width = min(widths)
        rows = [row[np.unique(np.linspace(0, row.shape[0] - 1, width).round().astype(int))] for row in rows]
        column_labels = column_labels[-width:] if len(column_labels) > width else column_labels
    return Filmstrip(vary=vary, row_labels=labels, column_labels=column_labels, frames=np.stack(rows))


def export_grid_png(strip: Filmstrip, path: str | Path, scale: int | None = None) -> Path:
    """The filmstrip as one labelled PNG: a row per value, the steps left to right (a file may be as wide as it
    needs; the page, which scrolls down, shows the values side by side); tiles at least DISPLAY_SIDE pixels."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(grid_image(strip.frames, strip.row_labels, strip.column_labels, scale)).save(path)
    return path


def export_filmstrip_gif(strip: Filmstrip, path: str | Path, milliseconds: int = 400) -> Path:
    """The filmstrip animated: one frame per step, the values side by side in it, labelled."""
    frames = [grid_image(strip.frames[None, :, c], [strip.column_labels[c]], strip.row_labels)
              for c in range(strip.frames.shape[1])]
    return export_gif(frames, path, milliseconds=milliseconds)
