"""The diffusion lesson asks only for what tiny-shapes-sd can draw, and says only what its screen shows
(the sentences that depend on a run are checked in tests/test_e2e_diffusion.py)."""

from __future__ import annotations

from pathlib import Path

from playground import shapes
from playground.lessons import parse_lesson

LESSON = Path(__file__).resolve().parents[1] / "assets" / "lessons" / "diffusion.md"


def lesson():
    return parse_lesson(LESSON.read_text(encoding="utf-8"), LESSON.name)


def test_every_prompt_names_only_colours_shapes_and_backgrounds_the_model_was_trained_on():
    """Objects in six colours, backgrounds in three: "a black star" is noise to this model."""
    import re

    for step in lesson().steps:
        for key, text in step.settings:
            if key not in ("prompt", "negative_prompt"):
                continue
            for colour, noun in re.findall(r"\b(black|white|gray|grey)\b\s*(\w*)", text):
                assert colour in shapes.BACKGROUNDS and noun == "background", (step.title, text)
            for colour, noun in re.findall(r"\b(\w+) (circle|square|triangle|star|diamond)\b", text):
                assert colour in shapes.COLOURS or colour in ("small", "large"), (step.title, text)
            assert not {"pink", "brown", "cyan", "magenta", "violet"} & set(text.split()), (step.title, text)


def test_the_lesson_no_longer_promises_a_slow_vae_or_a_black_star():
    text = LESSON.read_text(encoding="utf-8")
    assert "much slower" not in text and "black star" not in text
    assert "Every preview here goes through the VAE's own decoder" in text
    assert "preview: " not in text          # the default preview is the VAE: no step needs to set one
