"""Diffusion: learn to predict the noise added to the data; draw by removing noise step by step.

The same vocabulary as the Diffusion tab, in two dimensions: the forward process noises a point x0 to
x_t = sqrt(alpha-bar_t) x0 + sqrt(1 - alpha-bar_t) epsilon (diffusers' DDPMScheduler, 1,000 timesteps, DDPM's
linear betas); a small network epsilon_theta(x_t, t) learns to predict epsilon (mean squared error); sampling
starts from x_T ~ N(0, I) and takes a scheduler's steps (DDPM or DDIM, as many as asked) with the predicted noise.
The network sees t through sinusoidal features, as a U-Net does, and x through its own sines and cosines at a few
frequencies (Fourier features), which lets a small MLP make the modes sharp in a couple of thousand steps.
-epsilon_theta points from x_t towards the data: at small t it is the score, the direction of more density.

The likelihood reported is DDPM's variational bound (Ho et al., 2020, with the reverse variances set to the
posterior's beta-tilde and a Gaussian decoder of variance beta_1 at the first step), estimated by Monte Carlo over
timesteps: a lower bound on log p(x).

    >>> from playground.families.data import make_dataset
    >>> model = Diffusion(make_dataset("ring8"), {"sampler": "DDIM", "sampling_steps": 10, "field_t": 100, "lr": 1e-3}, 0)
    >>> noise_mse, = model.step()
    >>> model.sample(5, seed=0).shape
    (5, 2)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from playground.families.data import Dataset
from playground.families.nets import Batches, generator, mlp, plane_grid, to_numpy
from playground.families.settings import BATCH
from playground.families.views import DiffusionView

TIMESTEPS = 1000
HIDDEN = 64                         # 64 units covered the modes as well as 128, in half the time
EMBED = 16                          # sinusoidal features of t
FORWARD_SHOWN = (0, 50, 150, 400, 999)
FIELD_CELLS = 17
TRAJECTORIES = 16
SHOWN = 300
EXACT_FIRST = 32                    # the likelihood bound takes these first timesteps exactly ...
BOUND_DRAWS = 32                    # ... and draws this many of the others, per point
X_FREQUENCIES = 4                   # sin and cos of x at 1, 2, 4, 8 times: sharp modes learned in fewer steps
X_SCALES = 2.0 ** torch.arange(X_FREQUENCIES)


def embed_timesteps(t: torch.Tensor) -> torch.Tensor:
    """(n,) integer timesteps -> (n, EMBED) sines and cosines at geometric frequencies, as in the U-Net."""
    frequencies = torch.exp(-math.log(1000.0) * torch.arange(EMBED // 2) / (EMBED // 2))
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class Diffusion:
    loss_names = ("noise MSE",)
    likelihood = "bound"

    def __init__(self, data: Dataset, settings: dict, seed: int):
        from diffusers import DDPMScheduler

        self.settings = settings
        # clip_sample off: diffusers clips the predicted x0 to [-1, 1] by default, made for images, and these data reach 2.5
        self.train_scheduler = DDPMScheduler(num_train_timesteps=TIMESTEPS, beta_schedule="linear", clip_sample=False)
        self.net = mlp([2 + 4 * X_FREQUENCIES + EMBED, HIDDEN, HIDDEN, HIDDEN, 2], seed=seed * 10 + 1)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=settings["lr"])
        self.batches = Batches(data.train, BATCH, seed)
        self.noise = generator(seed, 1)
        self.data = data
        self.paths = np.zeros((0, 1, 2), np.float32)  # (M, steps + 1, 2) reverse paths of the last sample() call

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """epsilon_theta(x_t, t): (n, 2) and timesteps (n,), or one timestep () for all, -> (n, 2)."""
        angles = (x_t[:, :, None] * X_SCALES).flatten(1)                    # (n, 2 * X_FREQUENCIES)
        time = embed_timesteps(t.reshape(-1)).expand(len(x_t), -1)           # one row repeated when t is one
        return self.net(torch.cat([x_t, angles.sin(), angles.cos(), time], 1))

    def noised(self, x0: torch.Tensor, t: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t and the epsilon used, by the scheduler's own add_noise."""
        epsilon = torch.randn(x0.shape, generator=gen)
        return self.train_scheduler.add_noise(x0, epsilon, t), epsilon

    def step(self) -> tuple[float]:
        x0 = self.batches.next()
        t = torch.randint(0, TIMESTEPS, (len(x0),), generator=self.noise)
        x_t, epsilon = self.noised(x0, t, self.noise)
        loss = ((self.predict_noise(x_t, t) - epsilon) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return (loss.item(),)

    def _sampler(self, settings: dict):
        from diffusers import DDIMScheduler, DDPMScheduler

        kind = DDIMScheduler if settings["sampler"] == "DDIM" else DDPMScheduler
        scheduler = kind.from_config(self.train_scheduler.config)
        scheduler.set_timesteps(settings["sampling_steps"])
        return scheduler

    @torch.no_grad()
    def sample(self, n: int, seed: int, settings: dict | None = None) -> np.ndarray:
        """n samples (n, 2) by the scheduler's reverse steps; the paths of the first TRAJECTORIES are kept in
        self.paths (M, steps + 1, 2), x_T first, for the view."""
        scheduler = self._sampler(settings or self.settings)
        gen = generator(seed, 50)
        x = torch.randn(n, 2, generator=gen)
        path = [x[:TRAJECTORIES]]
        for t in scheduler.timesteps:
            epsilon = self.predict_noise(x, t)
            x = scheduler.step(epsilon, t, x, generator=gen, return_dict=False)[0]
            path.append(x[:TRAJECTORIES])
        self.paths = to_numpy(torch.stack(path, 1))
        return to_numpy(x)

    @torch.no_grad()
    def log_likelihood(self, points: np.ndarray, seed: int = 0) -> float:
        """DDPM's variational lower bound on log p(x), nats per point (see the module's docstring)."""
        s = self.train_scheduler
        betas, alphas, alpha_bars = s.betas.double(), s.alphas.double(), s.alphas_cumprod.double()
        x0 = torch.from_numpy(np.asarray(points, np.float64))
        gen = generator(seed, 60)
        # L_T: KL(q(x_T | x0) || N(0, I)), per coordinate
        a_T = alpha_bars[-1]
        prior = 0.5 * (a_T * x0 ** 2 + (1 - a_T) - 1 - torch.log(1 - a_T)).sum(1)
        # L_0: -log N(x0; mu_theta(x_1, 1), beta_1) at the first timestep
        x1, eps1 = self.noised(x0.float(), torch.zeros(len(x0), dtype=torch.long), gen)
        mean1 = (x1.double() - betas[0] / (1 - alpha_bars[0]).sqrt() * self.predict_noise(x1, torch.zeros(len(x0), dtype=torch.long)).double()) / alphas[0].sqrt()
        decoder = (((x0 - mean1) ** 2) / (2 * betas[0]) + 0.5 * torch.log(2 * math.pi * betas[0])).sum(1)
        # L_t for t >= 1: ||mu-tilde - mu_theta||^2 / (2 beta-tilde_t). The first EXACT_FIRST timesteps, whose terms
        # are the largest (beta-tilde is tiny there), are all taken; the rest are sampled, one timestep in each of
        # BOUND_DRAWS equal spans. Plain random timesteps made the estimate wander by 0.3 nats between seeds.
        first = torch.arange(1, EXACT_FIRST + 1).repeat_interleave(len(x0))
        span = (TIMESTEPS - 1 - EXACT_FIRST) / BOUND_DRAWS
        strata = torch.arange(BOUND_DRAWS, dtype=torch.float64).repeat_interleave(len(x0))
        later = EXACT_FIRST + 1 + ((strata + torch.rand(len(strata), generator=gen, dtype=torch.float64)) * span).long()
        t = torch.cat([first, later.clamp(max=TIMESTEPS - 1)])
        rows = x0.float().repeat(EXACT_FIRST + BOUND_DRAWS, 1)
        x_t, epsilon = self.noised(rows, t, gen)
        error = ((epsilon - self.predict_noise(x_t, t)).double() ** 2).sum(1)
        beta_tilde = (1 - alpha_bars[t - 1]) / (1 - alpha_bars[t]) * betas[t]
        terms = (betas[t] ** 2 / (alphas[t] * (1 - alpha_bars[t])) * error / (2 * beta_tilde)).view(-1, len(x0))
        middle = terms[:EXACT_FIRST].sum(0) + (TIMESTEPS - 1 - EXACT_FIRST) * terms[EXACT_FIRST:].mean(0)
        return float(-(prior + decoder + middle).mean())

    @torch.no_grad()
    def view(self, settings: dict, seed: int) -> DiffusionView:
        """The forward process, the noise field at field_t, and the paths of the last samples drawn."""
        alpha_bars = self.train_scheduler.alphas_cumprod
        shown = torch.from_numpy(self.data.train[:SHOWN])
        gen = generator(seed, 52)
        noised = np.stack([to_numpy(self.noised(shown, torch.full((SHOWN,), t), gen)[0]) for t in FORWARD_SHOWN])
        field_t = int(settings["field_t"])
        _, points = plane_grid(FIELD_CELLS, 2.8)
        field = to_numpy(self.predict_noise(torch.from_numpy(points), torch.tensor(field_t)))
        cloud = to_numpy(self.noised(shown, torch.full((SHOWN,), field_t), gen)[0])
        return DiffusionView(np.array(FORWARD_SHOWN), to_numpy(alpha_bars[list(FORWARD_SHOWN)]), noised, field_t,
                             float(alpha_bars[field_t]), points, field, cloud, self.paths, settings["sampler"],
                             int(settings["sampling_steps"]))
