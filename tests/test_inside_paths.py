"""playground.inside.paths: the adaptive path integral on functions whose integrals are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.inside.paths import integrate

WEIGHTS = torch.tensor([[[1.0, -2.0], [3.0, 0.5]]])         # (1, T=2, d=2)


def sharp(embeds):
    """F rises from -1 to 1 in a short stretch of the path, as a language model's log-probability does."""
    return torch.tanh(40 * ((embeds * WEIGHTS).sum(dim=(1, 2)) - 1.4))


def test_completeness_on_a_sharp_path_where_even_points_fail():
    from captum.attr import IntegratedGradients

    inputs, baseline = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    exact = float(sharp(inputs) - sharp(baseline))
    path = integrate(sharp, inputs, baseline, steps=48, intervals=16)
    assert path.error < 0.005 and path.steps <= 48
    assert path.scores.sum() == pytest.approx(exact, rel=0.005)
    _, delta = IntegratedGradients(sharp).attribute(inputs, baselines=baseline, n_steps=48,
                                                   return_convergence_delta=True)
    assert abs(float(delta)) / abs(exact) > 0.05                 # 48 evenly spread points miss the rise
    assert np.diff(path.cuts).min() <= 1 / 16 / 4 + 1e-12         # the rise was cut finer
    # a linear F: the scores are its weights times the difference, exactly, with one gradient per interval
    linear = integrate(lambda e: (e * WEIGHTS).sum(dim=(1, 2)), inputs, baseline, steps=48, intervals=16)
    np.testing.assert_allclose(linear.scores, [-1.0, 3.5], atol=1e-9)
    assert linear.steps == 17 and linear.error < 1e-9


def test_the_error_shrinks_as_the_budget_grows():
    inputs, baseline = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    paths = {steps: integrate(sharp, inputs, baseline, steps=steps, intervals=8) for steps in (9, 32, 64, 128)}
    assert paths[9].error > 0.5                                  # 9 even points step over the rise
    assert paths[32].error < 0.05 and paths[64].error < 0.005 and paths[128].error < 0.005
    assert all(path.steps <= steps for steps, path in paths.items())
    assert paths[128].steps < 128                                # it stops once the misses are small


def test_too_few_steps_are_named():
    with pytest.raises(ValueError, match="steps must be at least 17, the ends of 16 intervals"):
        integrate(sharp, torch.ones(1, 2, 2), torch.zeros(1, 2, 2), steps=8, intervals=16)
