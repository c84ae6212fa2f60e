"""The five families on known cases: exact densities that integrate to one, log-determinants against autograd,
DDPM's bound against a Gaussian whose true density and optimal noise predictor are known, the GAN's arrows
against a finite difference, and seeded training that doesn't depend on how the steps are cut."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from playground.families.autoregressive import Autoregressive
from playground.families.data import Dataset, make_dataset
from playground.families.diffusion import Diffusion
from playground.families.flow import Flow
from playground.families.gan import GAN
from playground.families.settings import defaults
from playground.families.splines import spline
from playground.families.training import Run
from playground.families.vae import VAE

RING = make_dataset("ring8", seed=0)


def _trained(cls, family, steps=30, data=RING, **settings):
    model = cls(data, {**defaults(family), **settings}, seed=0)
    for _ in range(steps):
        model.step()
    return model


def test_spline_is_monotone_and_its_log_det_is_the_log_slope():
    params = torch.randn(200, 3 * 8 - 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = torch.linspace(-3.4, 3.4, 200, dtype=torch.float64).requires_grad_(True)
    y, log_det = spline(x, params, bound=3.5)
    slope, = torch.autograd.grad(y.sum(), x)       # each y depends on its own x only
    assert (slope > 0).all()
    assert torch.allclose(log_det, slope.log(), atol=1e-9)
    one = params[:1].expand(200, -1)               # one spline along the line: increasing
    along, _ = spline(x.detach(), one, bound=3.5)
    assert (along.diff() > 0).all()
    outside = torch.tensor([-5.0, 4.0])
    same, zero = spline(outside, params[:2], bound=3.5)
    assert torch.equal(same, outside) and torch.equal(zero, torch.zeros(2))


@pytest.mark.parametrize("coupling", ["spline", "affine"])
def test_flow_log_det_matches_the_jacobian_and_the_density_integrates_to_one(coupling):
    flow = _trained(Flow, "flow", coupling=coupling)
    x = torch.tensor([0.3, -1.2])
    jacobian = torch.autograd.functional.jacobian(lambda p: _inverse(flow, p[None])[0], x)
    with torch.no_grad():
        log_density = flow._log_prob(x[None]).item()
        z = _inverse(flow, x[None])[0]
    expected = -0.5 * float((z ** 2).sum()) - math.log(2 * math.pi) + math.log(abs(float(torch.det(jacobian))))
    assert log_density == pytest.approx(expected, abs=1e-4)
    ticks = np.linspace(-8, 8, 401, dtype=np.float32)
    grid = np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2)
    with torch.no_grad():
        density = flow._log_prob(torch.from_numpy(grid)).exp().sum().item() * (ticks[1] - ticks[0]) ** 2
    assert density == pytest.approx(1.0, abs=0.02)


def _inverse(flow, x):
    for layer in reversed(flow.couplings):
        x, _ = layer.inverse(x)
    return x


def test_autoregressive_density_is_exact_cells_sum_to_one():
    model = _trained(Autoregressive, "autoregressive", bins=20)
    edges = np.linspace(-3, 3, 21, dtype=np.float32)
    centres = (edges[:-1] + edges[1:]) / 2
    cells = np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2)
    with torch.no_grad():
        nll_x, nll_y = model._nll(torch.from_numpy(cells))
    probabilities = torch.exp(-(nll_x + nll_y))
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-5)
    # log_likelihood is the log of that probability over the cell's area
    one = cells[:1]
    area = (edges[1] - edges[0]) ** 2
    assert model.log_likelihood(one) == pytest.approx(math.log(probabilities[0].item() / area), abs=1e-4)


def test_temperature_sharpens_the_autoregressive_samples():
    model = _trained(Autoregressive, "autoregressive", steps=200)
    spread = [np.unique(model.to_bins(torch.from_numpy(model.sample(2000, 0, {"temperature": t}))).numpy(), axis=0).shape[0]
              for t in (0.3, 1.0, 2.5)]
    assert spread[0] < spread[1] < spread[2]


def test_ddpm_bound_matches_its_closed_form_for_gaussian_data_and_stays_below_the_truth():
    """Gaussian data N(0, s^2 I): x_t ~ N(0, (a s^2 + 1 - a) I), the best noise prediction is
    sqrt(1 - a) x_t / (a s^2 + 1 - a), and each term of DDPM's bound has a closed-form mean."""
    s, var = 0.7, 0.49
    rng = np.random.default_rng(0)
    points = rng.normal(0, s, (4000, 2)).astype(np.float32)
    data = Dataset("gaussian", points[:3000], points[3000:], None, None, np.zeros(3000, int))
    model = Diffusion(data, defaults("diffusion"), seed=0)
    sched = model.train_scheduler
    b, a, ab = sched.betas.double(), sched.alphas.double(), sched.alphas_cumprod.double()

    def optimal(x_t, t):
        alpha_bar = ab[t].float().reshape(-1, 1)   # t: one step for all points, or one per point
        return (1 - alpha_bar).sqrt() * x_t / (alpha_bar * var + 1 - alpha_bar)

    model.predict_noise = optimal
    residual = ab * var / (ab * var + 1 - ab)                  # E (epsilon - optimal)^2 per coordinate
    t = torch.arange(1, 1000)
    beta_tilde = (1 - ab[t - 1]) / (1 - ab[t]) * b[t]
    middle = (2 * b[t] ** 2 / (a[t] * (1 - ab[t])) * residual[t] / (2 * beta_tilde)).sum()
    prior = 2 * 0.5 * (ab[-1] * var + (1 - ab[-1]) - 1 - torch.log(1 - ab[-1]))
    decoder = 2 * ((1 - a[0]) / a[0] * residual[0] / (2 * b[0]) + 0.5 * math.log(2 * math.pi * b[0]))
    truth = -1 - 2 * math.log(s) - math.log(2 * math.pi)       # E log N(x; 0, s^2 I)
    closed_form = -float(prior + middle + decoder)
    assert closed_form < truth
    sample_shift = float(np.mean(-(data.heldout ** 2).sum(1) / (2 * var))) + 1  # this sample against the mean
    assert model.log_likelihood(data.heldout, seed=0) == pytest.approx(closed_form + sample_shift, abs=0.25)
    # and the scheduler's ancestral steps with that predictor draw the data's distribution
    samples = model.sample(4000, seed=1, settings={**defaults("diffusion"), "sampler": "DDPM", "sampling_steps": 1000})
    assert samples.std() == pytest.approx(s, rel=0.03)


def test_vae_elbo_is_below_an_importance_sampled_log_likelihood():
    vae = _trained(VAE, "vae", steps=200)
    points = RING.heldout[:200]
    elbo = vae.log_likelihood(points, seed=0)
    x = torch.from_numpy(points)
    with torch.no_grad():
        mean, log_sd = vae.encode(x)
        draws = 256
        eps = torch.randn(draws, *mean.shape, generator=torch.Generator().manual_seed(0))
        z = mean + log_sd.exp() * eps
        log_q = (-0.5 * eps ** 2 - log_sd - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prior = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        sd = vae.log_sd.exp()
        log_lik = (-0.5 * ((x - vae.decoder(z)) / sd) ** 2 - vae.log_sd - 0.5 * math.log(2 * math.pi)).sum(-1)
        iwae = (torch.logsumexp(log_lik + log_prior - log_q, 0) - math.log(draws)).mean().item()
    assert elbo < iwae


def test_the_gan_arrows_point_where_the_generator_loss_falls():
    gan = _trained(GAN, "gan", steps=20)
    view = gan.view({}, seed=0)
    fake = torch.from_numpy(view.fake)
    with torch.no_grad():
        before = gan._g_loss(gan.D(fake)).item()
        after = gan._g_loss(gan.D(fake + 1e-3 * torch.from_numpy(view.push))).item()
    assert after < before
    assert view.verdict.shape == (len(view.ticks), len(view.ticks)) and view.verdict.min() >= 0
    assert view.manifold.shape[-1] == 2


@pytest.mark.parametrize("family", ["gan", "vae", "flow", "diffusion", "autoregressive"])
def test_training_is_seeded_and_does_not_depend_on_how_steps_are_cut(family):
    one = Run(family, RING, {}, seed=5)
    one.advance(12)
    two = Run(family, RING, {}, seed=5)
    for chunk in (5, 1, 6):
        two.advance(chunk)
        two.frame()  # frames draw from their own generators
    assert np.allclose(one.losses().values, two.losses().values)
    assert np.allclose(one.model.sample(50, 1), two.model.sample(50, 1), atol=1e-6)
    other = Run(family, RING, {}, seed=6)
    other.advance(12)
    assert not np.allclose(one.model.sample(50, 1), other.model.sample(50, 1))


def test_a_diverging_run_says_what_to_do():
    run = Run("gan", RING, {"lr_g": 0.1, "lr_d": 0.1}, seed=0)
    run.model.step = lambda: (float("nan"), 1.0)
    with pytest.raises(ValueError, match="diverged at step 1 .* lower the learning rate"):
        run.advance(3)
