"""Generative families side by side: GAN, VAE, normalizing flow, diffusion and autoregressive models trained on
the same 2D data, with the same measurements; and the latent space of images through tiny-shapes-sd's VAE.

    data.py         the data sets (ring8, grid25, two_moons, spiral, checkerboard, drawn points)
    settings.py     each family's controls, presets and checks (no torch)
    gan.py, vae.py, flow.py, diffusion.py, autoregressive.py   one module per family (torch)
    nets.py         what the families share: small MLPs, minibatches, seeded generators
    views.py        what each family shows at a step (frozen dataclasses of numpy arrays)
    metrics.py      mode coverage, energy distance, the plain Gaussian baseline
    training.py     a Run advancing step by step, frames for the live view (a generator), train_family
    latent.py       interpolation, arithmetic and channels in the VAE's latent space of images

Importing this package does not import torch: a family's module (and torch) loads when it is first trained.

    >>> result = train_family("autoregressive", "ring8", steps=100, seed=0)
    >>> result.family, result.num_modes, result.likelihood_kind
    ('autoregressive', 8, 'exact')
"""

from playground.families.data import DATASETS, DRAWN, MAX_POINTS, PLANE, Dataset, make_dataset, parse_points
from playground.families.metrics import ModeCoverage, energy_distance, mode_coverage
from playground.families.settings import (DEFAULT_STEPS, FAMILIES, FAMILY_TITLES, MAX_STEPS, PRESETS, SETTINGS,
                                          Setting, check_settings, check_steps)
from playground.families.training import (Baseline, Frame, Result, Run, baseline, check_seed, dataset_from, play,
                                          train_all, train_family)

__all__ = [
    "DATASETS", "DRAWN", "MAX_POINTS", "PLANE", "Dataset", "make_dataset", "parse_points",
    "ModeCoverage", "energy_distance", "mode_coverage",
    "DEFAULT_STEPS", "FAMILIES", "FAMILY_TITLES", "MAX_STEPS", "PRESETS", "SETTINGS", "Setting", "check_settings",
    "check_steps",
    "Baseline", "Frame", "Result", "Run", "baseline", "check_seed", "dataset_from", "play", "train_all",
    "train_family",
]
