"""VAE: an encoder maps a point to a Gaussian in a 2D latent plane; a decoder maps a latent point back.

Training maximises the ELBO, log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || N(0, I)), with z drawn by the
reparameterization trick, z = mean + sigma * epsilon, epsilon ~ N(0, I), so the gradient flows through mean
and sigma. The decoder is a Gaussian around its mean with one learned standard deviation. `beta` weighs the KL
term (beta-VAE, Higgins et al., 2017); the likelihood bound reported is always the plain ELBO (beta = 1).
Samples are the decoder's mean at z ~ N(0, I).

    >>> from playground.families.data import make_dataset
    >>> vae = VAE(make_dataset("ring8"), {"beta": 1.0, "lr": 1e-3}, seed=0)
    >>> reconstruction, kl = vae.step()
    >>> vae.sample(4, seed=0).shape
    (4, 2)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from playground.families.data import Dataset
from playground.families.nets import HIDDEN, Batches, generator, grid_lines, mlp, to_numpy
from playground.families.settings import BATCH
from playground.families.views import VaeView

LATENT = 2
SHOWN = 120          # data points whose encodings are drawn
ELBO_DRAWS = 16      # epsilon draws per point when the ELBO is measured


class VAE:
    loss_names = ("reconstruction", "KL")
    likelihood = "bound"

    def __init__(self, data: Dataset, settings: dict, seed: int):
        self.data = data
        self.beta = settings["beta"]
        self.encoder = mlp([2, HIDDEN, HIDDEN, 2 * LATENT], seed=seed * 10 + 1)
        self.decoder = mlp([LATENT, HIDDEN, HIDDEN, 2], seed=seed * 10 + 2)
        self.log_sd = torch.nn.Parameter(torch.tensor(0.0))   # the decoder's standard deviation, learned
        params = [*self.encoder.parameters(), *self.decoder.parameters(), self.log_sd]
        self.opt = torch.optim.Adam(params, lr=settings["lr"])
        self.batches = Batches(data.train, BATCH, seed)
        self.epsilon = generator(seed, 1)
        shown = np.random.default_rng([seed, 20]).choice(len(data.train), SHOWN, replace=False)
        self.shown = torch.from_numpy(data.train[shown])
        self.shown_labels = data.labels[shown]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_sd = self.encoder(x).chunk(2, dim=1)   # (n, LATENT) each
        return mean, log_sd.clamp(-8, 4)

    def _terms(self, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Per point: -log p(x | z) at one reparameterized z, and KL(q(z | x) || N(0, I)); (n,) each."""
        mean, log_sd = self.encode(x)
        z = mean + log_sd.exp() * torch.randn(mean.shape, generator=gen)
        sd = self.log_sd.exp()
        reconstruction = (((x - self.decoder(z)) / sd) ** 2 / 2).sum(1) + 2 * (self.log_sd + 0.5 * math.log(2 * math.pi))
        kl = 0.5 * (mean ** 2 + (2 * log_sd).exp() - 1 - 2 * log_sd).sum(1)
        return reconstruction, kl

    def step(self) -> tuple[float, float]:
        reconstruction, kl = self._terms(self.batches.next(), self.epsilon)
        loss = (reconstruction + self.beta * kl).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return reconstruction.mean().item(), kl.mean().item()

    @torch.no_grad()
    def sample(self, n: int, seed: int, settings: dict | None = None) -> np.ndarray:
        return to_numpy(self.decoder(torch.randn(n, LATENT, generator=generator(seed, 50))))

    @torch.no_grad()
    def log_likelihood(self, points: np.ndarray, seed: int = 0) -> float:
        """The ELBO (beta = 1), a lower bound on log p(x), averaged over the points: nats per point."""
        x = torch.from_numpy(np.asarray(points, np.float32)).repeat(ELBO_DRAWS, 1)
        reconstruction, kl = self._terms(x, generator(seed, 60))
        return float(-(reconstruction + kl).mean())

    @torch.no_grad()
    def decode(self, z: np.ndarray) -> np.ndarray:
        return to_numpy(self.decoder(torch.from_numpy(np.asarray(z, np.float32).reshape(-1, LATENT))))

    @torch.no_grad()
    def view(self, settings: dict, seed: int) -> VaeView:
        epsilon_seed = int(settings.get("epsilon_seed", 0))
        mean, log_sd = self.encode(self.shown)
        sigma = log_sd.exp()
        z = mean + sigma * torch.randn(mean.shape, generator=generator(epsilon_seed, 61))
        latent_grid = grid_lines(9, 41, 2.5)
        decoded = self.decode(latent_grid.reshape(-1, LATENT)).reshape(latent_grid.shape)
        probe = settings.get("probe")
        probe = None if probe is None else np.asarray(probe, np.float32).reshape(LATENT)
        return VaeView(to_numpy(self.shown), self.shown_labels, to_numpy(mean), to_numpy(sigma), to_numpy(z),
                       to_numpy(self.decoder(z)), epsilon_seed, latent_grid, decoded, float(self.log_sd.exp()),
                       probe, None if probe is None else self.decode(probe)[0])
