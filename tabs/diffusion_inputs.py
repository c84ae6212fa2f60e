"""The Diffusion tab's inputs, read once for the run, the API and the filmstrips: numbers and text from the page
or from an API caller (which may send anything), checked, as playground.diffusion.DenoiseSettings.

    >>> settings = read_settings("a red circle", 20, 5, 7, "DDIM", "", guidance_step=5)
    >>> settings.guidance_scale, settings.seed, settings.guidance_step
    (5.0, 7, 4)
    >>> read_settings("a red circle", 2.5, 5, 7, "DDIM", "")
    Traceback (most recent call last):
    ...
    ValueError: steps must be a whole number, got '2.5'.
"""

from __future__ import annotations

import numpy as np

from playground.diffusion import DenoiseSettings


def read_settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt, size=None, preview=None,
                  every=1, show_noise=False, guidance_step=None, attention_step=None) -> DenoiseSettings:
    """The page's (or the API's) inputs as DenoiseSettings; a bad one is a ValueError that names it. Steps are
    counted from 1 on the page, from 0 in the settings."""
    def number(value, label, whole=True):
        """A number from the page or the API (which may send anything); empty means the default."""
        if value is None or value == "":
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError
            parsed = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{label} must be a number, got {str(value)[:40]!r}.") from None
        if not np.isfinite(parsed) or (whole and not parsed.is_integer()):
            kind = "a whole number" if whole else "a finite number"
            raise ValueError(f"{label} must be {kind}, got {str(value)[:40]!r}.")
        return int(parsed) if whole else parsed

    def text(value, label):
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError(f"{label} must be text, got {str(value)[:40]!r}.")
        return value

    guidance = number(guidance_scale, "guidance scale", whole=False)
    guidance_at, attention_at = number(guidance_step, "guidance step"), number(attention_step, "attention step")
    return DenoiseSettings(
        prompt=text(prompt, "prompt"), negative_prompt=text(negative_prompt, "negative prompt"),
        steps=number(steps, "steps"), guidance_scale=7.5 if guidance is None else guidance,
        seed=number(seed, "seed") or 0, scheduler=text(scheduler, "scheduler"),
        height=number(size, "image size") or None, width=number(size, "image size") or None, preview=preview or None,
        preview_every=number(every, "preview every") or 1, show_noise=bool(show_noise),
        guidance_step=None if guidance_at is None else guidance_at - 1,
        attention_step=None if attention_at is None else attention_at - 1)
