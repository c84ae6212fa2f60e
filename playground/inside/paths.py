"""Integrated gradients' path integral, computed adaptively.

IG_i = (x_i - x'_i) * integral over a in [0, 1] of dF/dx_i at x' + a (x - x'), and the IG scores add up to
F(x) - F(x') ("completeness"). On a language model F often changes in a few short stretches of the path
(the context "clicks" at some a), and a fixed rule (Captum's Gauss-Legendre points, evenly spread)
misses them: on SmolLM2, 64 evenly spread points gave completeness errors of 5-20%.

Here the path is cut into intervals whose ends are evaluated by forward passes alone (cheap), so the
exact change of F over every interval is known. Each interval's midpoint gradient estimates that change;
the intervals where the estimate misses most are cut in three (the middle third keeps its midpoint, so
its gradient is reused) until the gradient budget is spent or the estimates are within 0.5% of F(x) - F(x').
This is the adaptive midpoint rule, steered by the one error we can measure exactly.

    >>> import torch
    >>> weights = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    >>> forward = lambda e: torch.tanh(5 * (e * weights).sum(dim=(1, 2)) - 2)        # sharp, like an LM
    >>> inputs, baseline = torch.ones(1, 2, 2), torch.zeros(1, 2, 2)
    >>> path = integrate(forward, inputs, baseline, steps=40, intervals=8)
    >>> round(path.error, 4) < 0.005, path.steps <= 40
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
    cuts: np.ndarray         # (intervals + 1,) where the path was cut, for plots and tests


def path_values(forward: Callable, baseline: Any, difference: Any, alphas: Any) -> Any:
    """F(baseline + a * difference) for each a in `alphas`: (A,) float64, forward passes only."""
    import torch

    step = max(1, BATCH_TOKENS // difference.shape[1])
    values = []
    with torch.inference_mode():
        for start in range(0, len(alphas), step):
            chunk = alphas[start:start + step].to(difference.dtype)[:, None, None]
            values.append(forward(baseline + chunk * difference).double())
    return torch.cat(values) if values else torch.zeros(0, dtype=torch.float64)


def path_gradients(forward: Callable, baseline: Any, difference: Any, alphas: Any) -> Any:
    """(A, T): at each a in `alphas`, the gradient of F at baseline + a * difference dotted with `difference`
    per position (the integrand of IG, per token)."""
    import torch

    step = max(1, BATCH_TOKENS // difference.shape[1])
    rows = []
    for start in range(0, len(alphas), step):
        chunk = alphas[start:start + step].to(difference.dtype)[:, None, None]
        embeds = (baseline + chunk * difference).detach().requires_grad_(True)
        grads, = torch.autograd.grad(forward(embeds).sum(), embeds)                 # (chunk, T, d)
        rows.append((grads.double() * difference.double()).sum(dim=-1))
    return torch.cat(rows).cpu()


def integrate(forward: Callable, inputs: Any, baseline: Any, steps: int, intervals: int,
              progress: Progress = no_progress) -> PathIntegral:
    """Integrated gradients of `forward` ((B, T, d) -> (B,)) at `inputs` (1, T, d) from `baseline` (1, T, d),
    with at most `steps` gradients: one at the middle of each of `intervals` even intervals, then two more
    per interval cut in three (see the module's docstring)."""
    import torch

    if steps < intervals:
        raise ValueError(f"steps must be at least {intervals}, one per interval of the path, got {steps}.")
    difference = inputs - baseline
    cuts = torch.linspace(0, 1, intervals + 1, dtype=torch.float64)
    ends = path_values(forward, baseline, difference, cuts)                           # F at the cuts
    mids = (cuts[:-1] + cuts[1:]) / 2
    # per interval: its two ends, F there, and its width times the integrand at its middle (T,)
    lo, hi = cuts[:-1].tolist(), cuts[1:].tolist()
    f_lo, f_hi = ends[:-1].tolist(), ends[1:].tolist()
    parts = list((path_gradients(forward, baseline, difference, mids) * (cuts[1:] - cuts[:-1])[:, None]).unbind())
    used = intervals
    gap = float(ends[-1] - ends[0])
    while True:
        misses = np.array([float(part.sum()) - (b - a) for part, a, b in zip(parts, f_lo, f_hi)])
        if abs(misses.sum()) <= TOLERANCE * abs(gap) and np.abs(misses).sum() <= 2 * TOLERANCE * abs(gap):
            break
        count = min((steps - used) // 2, 8)
        if count < 1:
            break
        progress(used / steps, f"Integrated gradients: {used} of at most {steps} steps")
        worst = sorted(np.argsort(-np.abs(misses))[:count].tolist(), reverse=True)
        thirds = [lo[j] + (hi[j] - lo[j]) * k / 3 for j in worst for k in (1, 2)]
        new_ends = path_values(forward, baseline, difference, torch.tensor(thirds, dtype=torch.float64))
        outer = [lo[j] + (hi[j] - lo[j]) * k / 6 for j in worst for k in (1, 5)]
        new_parts = path_gradients(forward, baseline, difference, torch.tensor(outer, dtype=torch.float64))
        for n, j in enumerate(worst):                                                  # right to left
            a, b, fa, fb, third = lo[j], hi[j], f_lo[j], f_hi[j], (hi[j] - lo[j]) / 3
            f1, f2 = float(new_ends[2 * n]), float(new_ends[2 * n + 1])
            lo[j:j + 1], hi[j:j + 1] = [a, a + third, a + 2 * third], [a + third, a + 2 * third, b]
            f_lo[j:j + 1], f_hi[j:j + 1] = [fa, f1, f2], [f1, f2, fb]
            parts[j:j + 1] = [new_parts[2 * n] * third, parts[j] / 3, new_parts[2 * n + 1] * third]
        used += 2 * len(worst)
    scores = torch.stack(parts).sum(dim=0).numpy()
    error = abs(float(scores.sum()) - gap) / abs(gap) if gap else 0.0
    return PathIntegral(scores, float(ends[-1]), float(ends[0]), error, used, np.array([*lo, 1.0]))
