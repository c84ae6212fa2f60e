"""Integrated gradients' path integral, computed adaptively.

IG_i = (x_i - x'_i) * integral over a in [0, 1] of dF/dx_i at x' + a (x - x'), and the IG scores add up to
F(x) - F(x') ("completeness"). On a language model F often changes in a few short stretches of the path
(the context "clicks" at some a), and a fixed rule (Captum's Gauss-Legendre points, evenly spread)
misses them: on SmolLM2, 64 evenly spread points gave completeness errors of 5-20%.

Each gradient evaluation at a point of the path also gives F there (its forward pass), so for every
interval between two evaluated points both the trapezoid estimate of F's change (from the two gradients)
and its exact change (from the two values of F) are known. The intervals whose estimate misses most are
cut in half, a new gradient at each middle, until the budget is spent or the misses are within 0.5% of
F(x) - F(x'). This is the adaptive trapezoid rule, steered by the one error we can measure exactly; no
evaluation is wasted.

    >>> import torch
    >>> weights = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    >>> forward = lambda e: torch.tanh(5 * (e * weights).sum(dim=(1, 2)) - 2)        # sharp, like an LM
    >>> inputs, baseline = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    >>> path = integrate(forward, inputs, baseline, steps=48, intervals=8)
    >>> path.error < 0.005, path.steps <= 48
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from playground.progress import Progress, no_progress

BATCH_TOKENS = 2048        # tokens per forward or backward pass (points x prompt tokens)
TOLERANCE = 0.005          # stop refining once the estimates are this close to F(x) - F(x') (relative)


@dataclass(frozen=True)
class PathIntegral:
    scores: np.ndarray       # (T,) each position's integrated gradient, summed over the embedding
    value: float             # F(inputs)
    baseline_value: float    # F(baseline)
    error: float             # |sum(scores) - (value - baseline_value)| / |value - baseline_value|
    steps: int               # gradients computed
    cuts: np.ndarray         # (points,) where the gradients were taken along the path, for plots and tests


def path_points(forward: Callable, baseline: Any, difference: Any, alphas: Any) -> tuple[Any, Any]:
    """At each a in `alphas`: F(baseline + a * difference) (A,) float64, and the integrand of IG per position,
    the gradient there dotted with `difference` over the embedding (A, T) float64."""
    import torch

    step = max(1, BATCH_TOKENS // difference.shape[1])
    values, rows = [], []
    for start in range(0, len(alphas), step):
        chunk = alphas[start:start + step].to(difference.dtype)[:, None, None]
        embeds = (baseline + chunk * difference).detach().requires_grad_(True)
        value = forward(embeds)                                                        # (chunk,)
        grads, = torch.autograd.grad(value.sum(), embeds)                              # (chunk, T, d)
        values.append(value.detach().double().cpu())
        rows.append((grads.double() * difference.double()).sum(dim=-1).cpu())
    return torch.cat(values), torch.cat(rows)


def integrate(forward: Callable, inputs: Any, baseline: Any, steps: int, intervals: int,
              progress: Progress = no_progress) -> PathIntegral:
    """Integrated gradients of `forward` ((B, T, d) -> (B,)) at `inputs` (1, T, d) from `baseline` (1, T, d),
    with at most `steps` gradients: at the ends of `intervals` even intervals, then one more in the middle of
    each interval cut in half (see the module's docstring)."""
    import torch

    if steps < intervals + 1:
        raise ValueError(f"steps must be at least {intervals + 1}, the ends of {intervals} intervals of the path, "
                         f"got {steps}.")
    difference = inputs - baseline
    alphas = torch.linspace(0, 1, intervals + 1, dtype=torch.float64)
    values, integrand = path_points(forward, baseline, difference, alphas)
    points = alphas.tolist()                                             # sorted; F and the integrand alongside
    f, g = values.tolist(), list(integrand.unbind())
    gap = f[-1] - f[0]
    while True:
        widths = np.diff(points)
        parts = [(g[j] + g[j + 1]) * (widths[j] / 2) for j in range(len(widths))]       # (T,) per interval
        misses = np.array([float(part.sum()) - (f[j + 1] - f[j]) for j, part in enumerate(parts)])
        budget = steps - len(points)
        if budget < 1 or np.abs(misses).sum() <= TOLERANCE * abs(gap):
            break
        progress(len(points) / steps, f"Integrated gradients: {len(points)} of at most {steps} steps")
        worst = np.argsort(-np.abs(misses))[:min(budget, 8)]
        middles = torch.tensor(sorted((points[j] + points[j + 1]) / 2 for j in worst), dtype=torch.float64)
        new_values, new_integrand = path_points(forward, baseline, difference, middles)
        for a, value, row in zip(middles.tolist(), new_values.tolist(), new_integrand.unbind()):
            where = int(np.searchsorted(points, a))
            points.insert(where, a)
            f.insert(where, value)
            g.insert(where, row)
    scores = torch.stack(parts).sum(dim=0).numpy()
    error = abs(float(scores.sum()) - gap) / abs(gap) if gap else 0.0
    return PathIntegral(scores, f[-1], f[0], error, len(points), np.array(points))
