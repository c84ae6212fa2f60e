"""Normalizing flow: coupling layers (RealNVP, Dinh et al., 2017) bend a standard Gaussian into the data.

Each layer keeps one coordinate a and moves the other, b -> g(b; a), by a map whose parameters a small network
computes from a; layers take turns moving y and x. RealNVP's map is affine, g = b * exp(s(a)) + t(a); Neural
Spline Flows (Durkan et al., 2019) use a monotone rational-quadratic spline (splines.py), which can split one
bump into several, so a few layers make sharp separate modes where affine layers leave bridges between them.
Either way the layer is invertible whatever the network, and its Jacobian is triangular, so log |det| is the
log-slope of g: the density of a point is exact,
log p(x) = log N(f^-1(x); 0, I) + sum over layers of log |det d f^-1 / dx|.
Training maximises that exact log-likelihood.

    >>> from playground.families.data import make_dataset
    >>> flow = Flow(make_dataset("ring8"), {"layers": 4, "coupling": "spline", "lr": 1e-3}, seed=0)
    >>> x = np.array([[0.5, -1.0]], np.float32)
    >>> bool(np.allclose(flow.forward(flow.inverse(x)), x, atol=1e-5))      # invertible
    True
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from playground.families.data import Dataset
from playground.families.nets import Batches, generator, grid_lines, mlp, plane_grid, to_numpy
from playground.families.settings import BATCH
from playground.families.splines import spline
from playground.families.views import FlowView

SCALE_LIMIT = 3.0        # s = 3 tanh(raw): no layer stretches by more than e^3, so training stays stable
DENSITY_CELLS = 48
SHOWN = 300
STAGES = 5               # panels: the base, three intermediate layers, the data space
SPLINE_BINS = 12
HIDDEN = 64              # each layer's network: 64 units did as well as 128 here, at a third of the time
SPLINE_BOUND = 3.5       # the splines act on [-3.5, 3.5]; outside, the identity


class Coupling(nn.Module):
    """Keeps one coordinate and moves the other by a map whose parameters a small network computes from the kept
    one: affine (RealNVP) or a rational-quadratic spline (Neural Spline Flows)."""

    def __init__(self, moves: int, transform: str, seed: int):
        super().__init__()
        self.moves = moves                     # the coordinate this layer moves; the other conditions it
        self.transform = transform
        outputs = 2 if transform == "affine" else 3 * SPLINE_BINS - 1
        self.net = mlp([1, HIDDEN, HIDDEN, outputs], seed=seed)

    def _map(self, keep: torch.Tensor, value: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The moved coordinate (n,) mapped given the kept one (n, 1), and log |det| (n,)."""
        params = self.net(keep)
        if self.transform == "spline":
            return spline(value, params, SPLINE_BOUND, inverse)
        raw_scale, shift = params[:, 0], params[:, 1]
        scale = SCALE_LIMIT * torch.tanh(raw_scale / SCALE_LIMIT)
        if inverse:
            return (value - shift) * (-scale).exp(), -scale
        return value * scale.exp() + shift, scale

    def _apply(self, x: torch.Tensor, inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
        keep, move = x[:, 1 - self.moves:2 - self.moves], x[:, self.moves]
        moved, log_det = self._map(keep, move, inverse)
        out = torch.cat([keep, moved[:, None]], 1) if self.moves == 1 else torch.cat([moved[:, None], keep], 1)
        return out, log_det

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base -> data direction: (n, 2) -> (n, 2), and log |det| (n,)."""
        return self._apply(x, inverse=False)

    def inverse(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> base direction, and log |det| of that direction (n,)."""
        return self._apply(y, inverse=True)


class Flow:
    loss_names = ("negative log-likelihood",)
    likelihood = "exact"

    def __init__(self, data: Dataset, settings: dict, seed: int):
        count = settings["layers"]
        self.couplings = nn.ModuleList([Coupling((i + 1) % 2, settings["coupling"], seed * 100 + i) for i in range(count)])
        self.opt = torch.optim.Adam(self.couplings.parameters(), lr=settings["lr"])
        self.batches = Batches(data.train, BATCH, seed)

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) of points (n, 2): (n,)."""
        total = torch.zeros(len(x))
        for layer in reversed(self.couplings):
            x, log_det = layer.inverse(x)
            total = total + log_det
        return total - 0.5 * (x ** 2).sum(1) - math.log(2 * math.pi)

    def step(self) -> tuple[float]:
        loss = -self._log_prob(self.batches.next()).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return (loss.item(),)

    @torch.no_grad()
    def forward(self, z: np.ndarray) -> np.ndarray:
        """Base points (n, 2) through every layer: samples."""
        return self.stages(z, [len(self.couplings)])[0]

    @torch.no_grad()
    def stages(self, z: np.ndarray, after: list[int]) -> np.ndarray:
        """Base points (n, 2) as they are after each count of layers in `after`: (len(after), n, 2)."""
        x = torch.from_numpy(np.asarray(z, np.float32))
        kept = [x] if 0 in after else []
        for count, coupling in enumerate(self.couplings, 1):
            x, _ = coupling(x)
            if count in after:
                kept.append(x)
        return to_numpy(torch.stack(kept))

    @torch.no_grad()
    def inverse(self, x: np.ndarray) -> np.ndarray:
        z = torch.from_numpy(np.asarray(x, np.float32))
        for layer in reversed(self.couplings):
            z, _ = layer.inverse(z)
        return to_numpy(z)

    @torch.no_grad()
    def sample(self, n: int, seed: int, settings: dict | None = None) -> np.ndarray:
        return self.forward(to_numpy(torch.randn(n, 2, generator=generator(seed, 50))))

    @torch.no_grad()
    def log_likelihood(self, points: np.ndarray, seed: int = 0) -> float:
        return float(self._log_prob(torch.from_numpy(np.asarray(points, np.float32))).mean())

    @torch.no_grad()
    def view(self, settings: dict, seed: int) -> FlowView:
        count = len(self.couplings)
        stages = sorted({0, count, *np.linspace(0, count, STAGES).round().astype(int).tolist()})
        base_grid = grid_lines(9, 41, 2.5)
        base_points = to_numpy(torch.randn(SHOWN, 2, generator=generator(seed, 51)))
        moved = self.stages(np.concatenate([base_grid.reshape(-1, 2), base_points]), stages)  # (S, lines * points + n, 2)
        grids = moved[:, :-SHOWN].reshape(len(stages), *base_grid.shape)
        points = moved[:, -SHOWN:]
        labels = tuple("base N(0, I)" if k == 0 else "data space" if k == count else f"after layer {k}" for k in stages)
        ticks, cells = plane_grid(DENSITY_CELLS)
        log_density = to_numpy(self._log_prob(torch.from_numpy(cells))).reshape(DENSITY_CELLS, DENSITY_CELLS)
        colours = np.arctan2(base_points[:, 1], base_points[:, 0])
        return FlowView(labels, grids, points, colours, ticks, log_density)
