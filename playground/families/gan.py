"""GAN: a generator G maps 2D noise to points; a discriminator D judges real against generated.

One training step: `d_steps` updates of D on a batch of real and a batch of generated points, then one update
of G through D. Losses (D's first, then G's):

- non-saturating (Goodfellow et al., 2014): D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); G minimises
  BCE(D(G(z)), 1).
- least-squares (LSGAN, Mao et al., 2017): (D(x) - 1)^2 + D(G(z))^2; G: (D(G(z)) - 1)^2.
- wasserstein-gp (Gulrajani et al., 2017): a critic C minimises C(G(z)) - C(x) + 10 (|grad C(x_mix)| - 1)^2;
  G minimises -C(G(z)). The penalty keeps the critic's slopes informative everywhere, so G is pulled towards
  every mode instead of the one D is weakest at: it counters mode collapse.

Noise is 2D, so the generator's image of a grid of noise (its "manifold") can be drawn on the plane.

    >>> from playground.families.data import make_dataset
    >>> gan = GAN(make_dataset("ring8"), {"loss": "least-squares", "lr_g": 1e-3, "lr_d": 1e-3, "d_steps": 1}, seed=0)
    >>> d_loss, g_loss = gan.step()
    >>> gan.sample(3, seed=0).shape
    (3, 2)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from playground.families.data import Dataset
from playground.families.nets import HIDDEN, Batches, generator, grid_lines, mlp, plane_grid, to_numpy
from playground.families.settings import BATCH
from playground.families.views import GanView

NOISE = 2
GP_WEIGHT = 10.0
VERDICT_CELLS = 48
ARROWS = 100


class GAN:
    loss_names = ("discriminator", "generator")
    likelihood = None  # a GAN has no density to evaluate

    def __init__(self, data: Dataset, settings: dict, seed: int):
        self.settings = settings
        self.loss = settings["loss"]
        self.G = mlp([NOISE, HIDDEN, HIDDEN, HIDDEN, 2], seed=seed * 10 + 1, activation=torch.nn.LeakyReLU)
        self.D = mlp([2, HIDDEN, HIDDEN, HIDDEN, 1], seed=seed * 10 + 2, activation=torch.nn.LeakyReLU)
        betas = (0.0, 0.9) if self.loss == "wasserstein-gp" else (0.5, 0.999)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=settings["lr_g"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=settings["lr_d"], betas=betas)
        self.batches = Batches(data.train, BATCH, seed)
        self.noise = generator(seed, 1)

    def _noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, NOISE, generator=gen or self.noise)  # (n, NOISE)

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        d_real, d_fake = self.D(real), self.D(fake)  # (B, 1) each
        if self.loss == "non-saturating":
            return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                    + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        if self.loss == "least-squares":
            return ((d_real - 1) ** 2).mean() + (d_fake ** 2).mean()
        mix = torch.rand(len(real), 1, generator=self.noise)
        between = (mix * real + (1 - mix) * fake).requires_grad_(True)
        grad, = torch.autograd.grad(self.D(between).sum(), between, create_graph=True)
        return d_fake.mean() - d_real.mean() + GP_WEIGHT * ((grad.norm(dim=1) - 1) ** 2).mean()

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """Mean generator loss over a batch of D's outputs on generated points, (B, 1)."""
        if self.loss == "non-saturating":
            return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        if self.loss == "least-squares":
            return ((d_fake - 1) ** 2).mean()
        return -d_fake.mean()

    def step(self) -> tuple[float, float]:
        for _ in range(self.settings["d_steps"]):
            real = self.batches.next()
            with torch.no_grad():
                fake = self.G(self._noise(len(real)))
            d_loss = self._d_loss(real, fake)
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()
        g_loss = self._g_loss(self.D(self.G(self._noise(BATCH))))
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        return d_loss.item(), g_loss.item()

    @torch.no_grad()
    def sample(self, n: int, seed: int, settings: dict | None = None) -> np.ndarray:
        return to_numpy(self.G(self._noise(n, generator(seed, 50))))  # (n, 2)

    def verdict(self, points: torch.Tensor) -> torch.Tensor:
        """What the discriminator says about points (n, 2): P(real) for the non-saturating loss, the raw
        score (1 = real, 0 = fake) for least squares, the critic's value for wasserstein-gp."""
        out = self.D(points)[:, 0]
        return torch.sigmoid(out) if self.loss == "non-saturating" else out

    def view(self, settings: dict, seed: int, n: int = ARROWS) -> GanView:
        ticks, grid = plane_grid(VERDICT_CELLS)
        with torch.no_grad():
            verdict = to_numpy(self.verdict(torch.from_numpy(grid))).reshape(VERDICT_CELLS, VERDICT_CELLS)
            lines = torch.from_numpy(grid_lines(9, 41, 2.5))  # noise grid, +-2.5 standard deviations
            manifold = to_numpy(self.G(lines.reshape(-1, NOISE))).reshape(*lines.shape[:2], 2)
            fake = self.G(self._noise(n, generator(seed, 51)))
        fake = fake.clone().requires_grad_(True)
        loss = self._g_loss(self.D(fake)) * len(fake)  # per-point gradients, not divided by the batch size
        push, = torch.autograd.grad(loss, fake)
        label = {"non-saturating": "P(real)", "least-squares": "score", "wasserstein-gp": "critic value"}[self.loss]
        return GanView(ticks, verdict, label, to_numpy(fake), -to_numpy(push), manifold)
