"""The procedural shapes data: seeded scenes, captions that say what is drawn, a held-out split, and a
detector that reads the renderer's own images back (the evaluator's ground truth)."""

from __future__ import annotations

import numpy as np
import pytest

from playground import shapes


def test_the_same_seed_draws_the_same_scenes_and_images():
    a, b = shapes.sample_scenes(20, seed=3), shapes.sample_scenes(20, seed=3)
    assert a == b
    assert np.array_equal(shapes.render_batch(a), shapes.render_batch(b))
    assert shapes.sample_scenes(20, seed=4) != a
    assert shapes.render(a[0]).shape == (64, 64, 3) and shapes.render(a[0]).dtype == np.uint8


def test_captions_name_what_is_drawn_where():
    for scene in shapes.sample_scenes(300, seed=0):
        for obj in scene.objects:
            assert f"{obj.size} {obj.colour} {obj.shape}" in scene.caption
            assert obj.radius + 0.5 <= obj.x <= shapes.SIZE - obj.radius - 0.5
            assert obj.radius + 0.5 <= obj.y <= shapes.SIZE - obj.radius - 0.5
        assert scene.caption.endswith(f"on a {scene.background} background")
        if len(scene.objects) == 1:
            assert shapes.cell_of(scene.objects[0].x, scene.objects[0].y) == scene.cell
        else:
            a, b = scene.objects
            assert shapes.relation_of((a.x, a.y), (b.x, b.y)) == scene.relation
            assert a.colour != b.colour
            assert np.hypot(a.x - b.x, a.y - b.y) >= a.radius + b.radius   # they never overlap


def test_held_out_captions_never_appear_in_training():
    train = {s.caption for s in shapes.sample_scenes(2000, seed=0)}
    heldout = {s.caption for s in shapes.sample_scenes(200, seed=1, split="heldout")}
    assert train.isdisjoint(heldout) and len(heldout) > 150
    assert all(shapes.is_heldout(c) for c in heldout) and not any(shapes.is_heldout(c) for c in train)
    with pytest.raises(ValueError, match="split"):
        shapes.sample_scene(np.random.default_rng(0), split="test")


def test_the_detector_scores_the_renderers_own_images_near_100_percent():
    scenes = shapes.sample_scenes(200, seed=7, split="heldout")
    scores = [shapes.score(scene, shapes.render(scene)) for scene in scenes]
    for name in ("colour", "shape", "position"):
        assert np.mean([getattr(s, name) for s in scores]) >= 0.98, name


def test_the_detector_is_not_fooled_by_a_wrong_image():
    scene = shapes.sample_scenes(1, seed=11)[0]
    blank = np.full((64, 64, 3), 255, np.uint8)
    assert shapes.score(scene, blank) == shapes.Score(0.0, 0.0, 0.0, ())
    # The same caption drawn with every object moved and recoloured scores lower.
    other = [s for s in shapes.sample_scenes(50, seed=12) if len(s.objects) == len(scene.objects)
             and all(o.colour != p.colour for o, p in zip(s.objects, scene.objects))][0]
    assert shapes.score(scene, shapes.render(other)).colour < 1.0


@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_each_shape_is_told_apart_at_both_sizes(shape):
    for size, (low, high) in shapes.RADII.items():
        obj = shapes.Shape(shape, "blue", size, 30.3, 33.6, (low + high) / 2)
        scene = shapes.Scene((obj,), "white", "center", None, shapes.caption_for((obj,), "white", "center", None))
        (found,) = shapes.detect(shapes.render(scene))
        assert (found.shape, found.colour) == (shape, "blue")
        assert abs(found.x - obj.x) < 1 and abs(found.y - obj.y) < 1.5
