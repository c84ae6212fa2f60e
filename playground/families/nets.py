"""What the five families share: small MLPs, minibatches from the data set, seeded generators, grids of the plane.

Only the family modules import this (they are imported when a family is first trained), so torch loads
then and not when the app starts.

    >>> import torch
    >>> net = mlp([2, 16, 1], seed=0)
    >>> net(torch.zeros(5, 2)).shape
    torch.Size([5, 1])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from playground.families.data import PLANE

HIDDEN = 128


def generator(seed: int, stream: int) -> torch.Generator:
    """A CPU torch.Generator for one purpose (`stream`) of a run seeded with `seed`."""
    return torch.Generator().manual_seed(int(seed) * 1000 + stream)


def mlp(sizes: list[int], seed: int, activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """Linear layers of `sizes` with `activation` between them, initialised from `seed`."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    net = nn.Sequential(*layers)
    init = generator(seed, 99)  # nn.Linear initialises from torch's global generator: overwrite it from ours
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)  # nn.Linear's own default range
                layer.weight.uniform_(-bound, bound, generator=init)
                layer.bias.uniform_(-bound, bound, generator=init)
    return net


class Batches:
    """Minibatches of the training points, drawn with a seeded numpy Generator."""

    def __init__(self, train: np.ndarray, size: int, seed: int):
        self.train = torch.from_numpy(np.ascontiguousarray(train, np.float32))  # (n, 2)
        self.size = size
        self.rng = np.random.default_rng([seed, 10])

    def next(self) -> torch.Tensor:
        return self.train[self.rng.integers(len(self.train), size=self.size)]  # (size, 2)


def plane_grid(cells: int, reach: float = PLANE) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres along one axis (cells,) and the grid's points (cells * cells, 2), x fastest."""
    ticks = np.linspace(-reach, reach, cells, dtype=np.float32)
    xx, yy = np.meshgrid(ticks, ticks)
    return ticks, np.stack([xx.ravel(), yy.ravel()], 1)


def grid_lines(lines: int, points: int, reach: float) -> np.ndarray:
    """Lines of a square grid on [-reach, reach]^2: (2 * lines, points, 2), horizontal lines then vertical."""
    ticks = np.linspace(-reach, reach, lines, dtype=np.float32)
    along = np.linspace(-reach, reach, points, dtype=np.float32)
    horizontal = np.stack([np.broadcast_to(along, (lines, points)), np.broadcast_to(ticks[:, None], (lines, points))], -1)
    return np.concatenate([horizontal, horizontal[..., ::-1]], 0)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)
