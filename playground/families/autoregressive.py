"""Autoregressive: one coordinate at a time, p(x, y) = p(x) p(y | x), over a discretized plane.

Each axis of the plane is cut into `bins` bins, so each coordinate is a token from a vocabulary of bins, as a
word is for a language model: p(x) is a softmax over bins, p(y | x) a softmax a small network computes from
x's bin. Training minimises the cross-entropy of both (the negative log-likelihood). Sampling draws x's bin,
then y's bin given it, each from the softmax of the logits divided by the temperature (as in the Sampling
tab), then a uniform point inside the chosen cell. The model's density is constant inside each cell, so its
log-likelihood is exact: log p(x bin) + log p(y bin | x bin) - log(cell area).

    >>> from playground.families.data import make_dataset
    >>> model = Autoregressive(make_dataset("ring8"), {"temperature": 1.0, "bins": 60, "lr": 3e-3}, seed=0)
    >>> nll_x, nll_y = model.step()
    >>> model.sample(4, seed=0).shape
    (4, 2)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from playground.families.data import PLANE, Dataset
from playground.families.nets import HIDDEN, Batches, generator, mlp, to_numpy
from playground.families.settings import BATCH
from playground.families.views import AutoregressiveView

EMBED = 32


class Autoregressive:
    loss_names = ("NLL of x", "NLL of y given x")
    likelihood = "exact"

    def __init__(self, data: Dataset, settings: dict, seed: int):
        self.settings = settings
        self.bins = settings["bins"]
        self.width = 2 * PLANE / self.bins
        self.x_logits = nn.Parameter(torch.zeros(self.bins))                  # p(x): a table of logits
        self.embed = nn.Embedding(self.bins, EMBED)
        with torch.no_grad():
            self.embed.weight.normal_(generator=generator(seed, 2))
        self.y_net = mlp([EMBED, HIDDEN, HIDDEN, self.bins], seed=seed * 10 + 1)   # p(y | x): a network of x's bin
        # Adam moves each parameter by about the learning rate a step, and p(x) is a table of one logit per bin that
        # must spread over several nats: it gets ten times the network's rate, or it would lag far behind p(y | x).
        self.opt = torch.optim.Adam([{"params": [self.x_logits], "lr": 10 * settings["lr"]},
                                     {"params": [*self.embed.parameters(), *self.y_net.parameters()]}],
                                    lr=settings["lr"])
        self.batches = Batches(data.train, BATCH, seed)

    def to_bins(self, points: torch.Tensor) -> torch.Tensor:
        """(n, 2) points -> (n, 2) bin indices; points off the plane go to the edge bins."""
        return ((points + PLANE) / self.width).floor().long().clamp(0, self.bins - 1)

    def y_logits(self, x_bins: torch.Tensor) -> torch.Tensor:
        return self.y_net(self.embed(x_bins))  # (n,) -> (n, bins)

    def _nll(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per point: -log p(x bin) and -log p(y bin | x bin), (n,) each."""
        bins = self.to_bins(points)
        nll_x = -torch.log_softmax(self.x_logits, 0)[bins[:, 0]]
        nll_y = -torch.log_softmax(self.y_logits(bins[:, 0]), 1).gather(1, bins[:, 1:]).squeeze(1)
        return nll_x, nll_y

    def step(self) -> tuple[float, float]:
        nll_x, nll_y = self._nll(self.batches.next())
        loss = (nll_x + nll_y).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return nll_x.mean().item(), nll_y.mean().item()

    @torch.no_grad()
    def sample(self, n: int, seed: int, settings: dict | None = None) -> np.ndarray:
        temperature = (settings or self.settings)["temperature"]
        gen = generator(seed, 50)
        x_bins = torch.multinomial(torch.softmax(self.x_logits / temperature, 0), n, replacement=True, generator=gen)
        y_bins = torch.multinomial(torch.softmax(self.y_logits(x_bins) / temperature, 1), 1, generator=gen)[:, 0]
        cells = torch.stack([x_bins, y_bins], 1).float()
        return to_numpy((cells + torch.rand(n, 2, generator=gen)) * self.width - PLANE)

    @torch.no_grad()
    def log_likelihood(self, points: np.ndarray, seed: int = 0) -> float:
        """Exact mean log-density (nats per point) of the model's piecewise-constant density."""
        nll_x, nll_y = self._nll(torch.from_numpy(np.asarray(points, np.float32)))
        return float(-(nll_x + nll_y).mean() - 2 * math.log(self.width))

    @torch.no_grad()
    def view(self, settings: dict, seed: int) -> AutoregressiveView:
        temperature = settings["temperature"]
        p_x = torch.softmax(self.x_logits / temperature, 0)
        p_y = torch.softmax(self.y_logits(torch.arange(self.bins)) / temperature, 1)  # (bins, bins) [x bin, y bin]
        point = self.sample(1, seed + 1, settings)[0]
        walk = self.to_bins(torch.from_numpy(point[None]))[0]
        edges = np.linspace(-PLANE, PLANE, self.bins + 1, dtype=np.float32)
        return AutoregressiveView(edges, to_numpy(p_x), to_numpy(p_y), temperature, int(walk[0]), int(walk[1]), point)
