"""Monotone rational-quadratic splines (Durkan et al., 2019, "Neural Spline Flows"): the one-dimensional map a
spline coupling layer applies to the coordinate it moves.

On [-bound, bound] the map is K pieces, each a ratio of two quadratics, meeting at knots whose widths, heights
and slopes come from a network; outside it is the identity (slope 1 at the ends, so the two join smoothly).
Monotone by construction, so invertible in closed form (a quadratic equation per point), with an exact
derivative for log |det|.

    >>> import torch
    >>> params = torch.randn(5, 3 * 8 - 1, generator=torch.Generator().manual_seed(0))
    >>> x = torch.linspace(-4, 4, 5)
    >>> y, log_det = spline(x, params, bound=3.0)
    >>> back, inverse_log_det = spline(y, params, bound=3.0, inverse=True)
    >>> bool(torch.allclose(back, x, atol=1e-4)), bool(torch.allclose(log_det, -inverse_log_det, atol=1e-4))
    (True, True)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MIN_WIDTH = 1e-3
MIN_SLOPE = 1e-3


def spline(x: torch.Tensor, params: torch.Tensor, bound: float, inverse: bool = False):
    """x (n,) through the spline with params (n, 3K - 1): K widths, K heights, K - 1 inner slopes (unnormalised).
    Returns y (n,) and log |dy/dx| (n,) (for inverse=True, the inverse map and its own log |det|).
    Written with few tensor operations: at this size each costs more in overhead than in arithmetic."""
    n, bins = len(x), (params.shape[-1] + 1) // 3
    inside = (x > -bound) & (x < bound)
    sizes = MIN_WIDTH + (1 - MIN_WIDTH * bins) * torch.softmax(params[:, :2 * bins].view(n, 2, bins), -1)  # (n, 2, K)
    knots = F.pad(torch.cumsum(sizes, -1), (1, 0)) * (2 * bound) - bound       # (n, 2, K + 1): x knots, y knots
    slopes = F.pad(MIN_SLOPE + F.softplus(params[:, 2 * bins:]), (1, 1), value=1.0)   # (n, K + 1), 1 at the ends
    value = x.clamp(-bound, bound)
    index = torch.searchsorted(knots[:, int(inverse), 1:-1].contiguous(), value[:, None])   # (n, 1): each bin
    table = torch.cat([knots, F.pad(sizes, (0, 1)) * (2 * bound), slopes[:, None]], 1)        # (n, 5, K + 1)
    x0, y0, width, height, d0 = table.gather(2, index[:, None].expand(n, 5, 1))[..., 0].unbind(1)
    d1 = slopes.gather(1, index + 1)[:, 0]
    delta = height / width
    if inverse:
        offset = value - y0
        a = offset * (d0 + d1 - 2 * delta) + height * (delta - d0)
        b = height * d0 - offset * (d0 + d1 - 2 * delta)
        c = -delta * offset
        theta = (2 * c) / (-b - torch.sqrt((b * b - 4 * a * c).clamp(min=0)))
        out = theta * width + x0
    else:
        theta = (value - x0) / width
    mix = theta * (1 - theta)
    denominator = delta + (d0 + d1 - 2 * delta) * mix
    if not inverse:
        out = y0 + height * (delta * theta ** 2 + d0 * mix) / denominator
    log_det = torch.log(delta ** 2 * (d1 * theta ** 2 + 2 * delta * mix + d0 * (1 - theta) ** 2) / denominator ** 2)
    if inverse:
        log_det = -log_det
    return torch.where(inside, out, x), torch.where(inside, log_det, torch.zeros_like(log_det))
