"""A class asking at once: identical runs computed once, compatible runs through the U-Net in one batch.

    >>> from playground.diffusion.loading import load_pipeline
    >>> from playground.diffusion.loop import generate
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> settings = DenoiseSettings(prompt="a red circle", steps=3, seed=5)
    >>> steps, result = generate_together(loaded, settings)
    >>> bool((result.image == generate(loaded, settings)[1].image).all())     # the lone run's pixels
    True

`denoise_together(loaded, settings)` yields what `denoise` yields, for the same settings, but:

1. identical settings (model, prompt, negative prompt, steps, guidance, seed, scheduler, size, preview options)
   share one run (`RUNS`, playground.shared): everyone who asks while it runs follows it from its first step, and
   a finished run is replayed from a bounded cache;
2. runs that differ only in prompt, negative prompt, seed or guidance scale (`batch_key`) and arrive within
   `CROWD.gather_seconds` of each other go through the U-Net as one batch (`CROWD`, playground.crowd:
   `denoise_rows`), each row with its own seeded generator and scheduler, so with its lone run's latents.

Each asker reads their own steps (their previews) at their own pace, and closing the generator (Stop) ends only
their reading: the run goes on for the others, and stops when nobody reads it any more.
"""

from __future__ import annotations

from typing import Iterator

from playground.crowd import Crowd
from playground.diffusion.loop import batch_key, collect, denoise_rows
from playground.diffusion.previews import resolve_preview
from playground.diffusion.records import Denoised, DenoiseSettings, DenoisingStep, LoadedPipeline
from playground.diffusion.schedules import validate
from playground.shared import SharedRuns

__all__ = ["RUNS", "CROWD", "RUN_BYTES", "denoise_together", "generate_together"]

RUN_BYTES = 256 * 2**20          # the finished runs kept for replay hold at most this many bytes of pictures
# lookahead 2: a run is computed as its furthest reader takes it, as the lone loop was (Stop lands mid-run)
RUNS = SharedRuns(max_runs=64, max_bytes=RUN_BYTES, size_of=lambda items: sum(_size(item) for item in items),
                  lookahead=2)
CROWD = Crowd(gather_seconds=0.05, slots=1)   # one batch computes at a time: two loops at once only share cores


def denoise_together(loaded: LoadedPipeline, settings: DenoiseSettings) -> Iterator[DenoisingStep | Denoised]:
    """`denoise(loaded, settings)`, shared with everyone asking the same and batched with everyone asking
    something compatible (see the module's docstring)."""
    validate(loaded, settings)        # a bad request fails here, alone, before it joins anything
    settings = DenoiseSettings(**{**settings.__dict__, "preview": resolve_preview(loaded, settings.preview),
                                  "seed": int(settings.seed), "steps": int(settings.steps),
                                  "guidance_scale": float(settings.guidance_scale)})
    key = (loaded.path, loaded.device, str(loaded.dtype), settings)
    stream = RUNS.stream(key, lambda: _crowd_run(loaded, settings))
    for item in stream:
        if isinstance(item, Denoised):
            for _ in stream:      # the run ends right after its result: wait for that, so that it is kept for
                pass              # replay even when every reader stops reading at the result (as the tab does)
        yield item


def generate_together(loaded: LoadedPipeline, settings: DenoiseSettings) -> tuple[list[DenoisingStep], Denoised]:
    """Run `denoise_together` to the end: (steps, result)."""
    return collect(denoise_together(loaded, settings))


def _crowd_run(loaded: LoadedPipeline, settings: DenoiseSettings) -> Iterator[DenoisingStep | Denoised]:
    def run(members):
        yield from denoise_rows(loaded, list(members))

    yield from CROWD.stream(batch_key(loaded, settings), settings, run, lambda items, index: items[index])


def _size(item) -> int:
    """Bytes of the pictures an item holds (steps: previews, guidance and attention panels; results: the image)."""
    arrays = [getattr(item, name, None) for name in ("x_t", "x0", "noise", "image", "latents")]
    for panel in (getattr(item, "guidance", None), getattr(item, "attention", None)):
        if panel is not None:
            arrays += [value for value in panel.__dict__.values() if hasattr(value, "nbytes")]
    return sum(int(a.nbytes) for a in arrays if a is not None) + 256
