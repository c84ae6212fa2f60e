"""Training any family on a data set: a Run that advances step by step, frames for the live view (a generator),
the measurements, and the API's whole training in one call.

    >>> run = Run("autoregressive", make_dataset("ring8"), {}, seed=0)
    >>> frames = list(play(run, until=20, per_frame=10))
    >>> [frame.step for frame in frames]
    [10, 20]
    >>> result = train_family("autoregressive", "ring8", steps=50, seed=0)
    >>> result.num_modes, result.samples.shape
    (8, (1000, 2))

A Run's randomness all comes from its seed (model initialisation, minibatches, noise), and frames draw from
generators of their own, so how the steps are cut into frames never changes the model: playing to step 2,000
gives the same model as the API's train_family(steps=2000).
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from playground.device import torch_threads
from playground.families.data import Dataset, make_dataset, parse_points
from playground.families.metrics import (ModeCoverage, energy_distance, gaussian_log_likelihood, gaussian_samples,
                                         mode_coverage)
from playground.families.settings import FAMILIES, check_family, check_settings, check_steps
from playground.families.views import FamilyView

MODULES = {"gan": ("gan", "GAN"), "vae": ("vae", "VAE"), "flow": ("flow", "Flow"),
           "diffusion": ("diffusion", "Diffusion"), "autoregressive": ("autoregressive", "Autoregressive")}
LOG_EVERY = 10              # losses are kept as means over this many steps
FRAME_SAMPLES = 1000        # samples a frame measures (as many as the final measurements: fewer were too noisy)
SAMPLES = 1000              # samples drawn for the final measurements


@dataclass(frozen=True)
class Losses:
    names: tuple[str, ...]  # (k,) what each column is
    steps: np.ndarray       # (m,) the last step of each logged block of LOG_EVERY steps
    values: np.ndarray      # (m, k) mean losses over each block


@dataclass(frozen=True)
class History:
    steps: np.ndarray           # (h,) steps at which a frame measured the samples
    modes_covered: np.ndarray   # (h,) modes covered then (-1 where the data set has no modes)
    energy: np.ndarray          # (h,) energy distance of the frame's samples to held-out data


@dataclass(frozen=True)
class Frame:
    family: str
    step: int                   # training steps done
    until: int                  # where this play stops
    data: np.ndarray            # (FRAME_SAMPLES, 2) held-out data points
    samples: np.ndarray         # (FRAME_SAMPLES, 2) the model's samples now
    coverage: ModeCoverage | None
    energy: float
    losses: Losses
    history: History
    view: FamilyView            # the family's own pictures (playground.families.views)
    train_seconds: float        # training time so far
    frame_seconds: float        # time to compute this frame


@dataclass(frozen=True)
class Result:
    family: str
    dataset: str
    steps: int
    settings: dict
    samples: np.ndarray             # (1000, 2) drawn with the seed
    losses: Losses
    modes_covered: int | None
    num_modes: int | None
    in_modes: float | None          # share of samples within 3 standard deviations of some mode
    energy_distance: float
    log_likelihood: float | None    # nats per held-out point: exact (flow, autoregressive) or a lower bound
    likelihood_kind: str | None     # "exact", "bound" or None (the GAN has none)
    train_seconds: float
    sample_seconds_per_1000: float


def build_model(family: str, data: Dataset, settings: dict, seed: int):
    """The family's model (its module is imported here, and torch with it)."""
    module, name = MODULES[family]
    return getattr(importlib.import_module(f"playground.families.{module}"), name)(data, settings, seed)


class Run:
    """One model in training, with its losses and measurements; advance() and frame() may be called from
    different threads (a Step click during a Play), so they take turns. Each runs torch on one thread: these
    models are so small that a second thread only waits for the first, and on a busy shared machine the waiting
    dominates (a 256 x 128 by 128 x 128 product measured 25 ms on two threads against 1.3 ms on one, at a load
    of 16 on 2 cores)."""

    def __init__(self, family: str, data: Dataset, settings: dict, seed: int):
        self.family = check_family(family)
        self.data = data
        self.settings = check_settings(family, settings)
        self.seed = int(seed)
        self.model = build_model(family, data, self.settings, self.seed)
        self.step = 0
        self.train_seconds = 0.0
        self.baseline_energy = energy_distance(gaussian_samples(data.train, FRAME_SAMPLES, self.seed),
                                               data.heldout[:FRAME_SAMPLES])  # a plain Gaussian's, for scale
        self._block: list[tuple[float, ...]] = []
        self._logged: list[tuple[int, tuple[float, ...]]] = []
        self._history: list[tuple[int, int, float]] = []
        self._lock = threading.Lock()

    def advance(self, steps: int) -> None:
        with self._lock, torch_threads(1):
            started = time.perf_counter()
            for _ in range(steps):
                losses = self.model.step()
                if not np.isfinite(losses).all():
                    raise ValueError(f"training diverged at step {self.step + 1} (a loss became {losses}); "
                                     "lower the learning rate and press Reset.")
                self.step += 1
                self._block.append(losses)
                if len(self._block) == LOG_EVERY:
                    self._logged.append((self.step, tuple(np.mean(self._block, 0).tolist())))
                    self._block = []
            self.train_seconds += time.perf_counter() - started

    def losses(self) -> Losses:
        names = self.model.loss_names
        if not self._logged:
            return Losses(names, np.zeros(0, np.int64), np.zeros((0, len(names)), np.float32))
        steps, values = zip(*self._logged)
        return Losses(names, np.array(steps), np.array(values, np.float32))

    def frame(self, view_settings: dict | None = None, until: int | None = None) -> Frame:
        """The family's pictures and the measurements now; `view_settings` holds the settings that change only
        what is shown (temperature, sampler, ...) and view extras (the VAE's epsilon seed and probe)."""
        with self._lock, torch_threads(1):
            started = time.perf_counter()
            settings = {**self.settings, **(view_settings or {})}
            # the same seed every frame (and as evaluate()): the samples move because the model learns, not because
            # the noise changed, and the last frame measures what train_family reports
            samples = self.model.sample(FRAME_SAMPLES, self.seed, settings)
            data = self.data.heldout[:FRAME_SAMPLES]
            coverage = self._coverage(samples)
            energy = energy_distance(samples, data)
            if not self._history or self._history[-1][0] != self.step:
                self._history.append((self.step, -1 if coverage is None else coverage.covered, energy))
            steps, covered, energies = (np.array(column) for column in zip(*self._history))
            view = self.model.view(settings, self.seed)
            return Frame(self.family, self.step, until or self.step, data, samples, coverage, energy, self.losses(),
                         History(steps, covered, energies), view, self.train_seconds, time.perf_counter() - started)

    def _coverage(self, samples: np.ndarray) -> ModeCoverage | None:
        if self.data.centres is None:
            return None
        return mode_coverage(samples, self.data.centres, self.data.mode_sd)

    def evaluate(self) -> Result:
        """The measurements of the issue: 1,000 samples drawn with the seed, against the held-out data."""
        with self._lock, torch_threads(1):
            started = time.perf_counter()
            samples = self.model.sample(SAMPLES, self.seed, self.settings)
            sample_seconds = time.perf_counter() - started
            coverage = self._coverage(samples)
            kind = self.model.likelihood
            likelihood = self.model.log_likelihood(self.data.heldout, self.seed) if kind else None
        return Result(self.family, self.data.name, self.step, self.settings, samples, self.losses(),
                      coverage and coverage.covered, coverage and coverage.num_modes, coverage and coverage.in_modes,
                      energy_distance(samples, self.data.heldout), likelihood, kind, self.train_seconds,
                      sample_seconds * 1000 / SAMPLES)


@dataclass(frozen=True)
class Baseline:
    samples: np.ndarray             # (1000, 2) from the Gaussian fitted to the training data
    energy_distance: float          # theirs to the held-out data
    log_likelihood: float           # the held-out data's mean log-density under it
    data_energy_distance: float     # between the held-out data and another 1,000 points of the data set: the floor


def baseline(data: Dataset, seed: int = 0) -> Baseline:
    """What every family should beat: a plain Gaussian with the data's mean and covariance."""
    samples = gaussian_samples(data.train, SAMPLES, seed)
    floor = energy_distance(data.train[:len(data.heldout)], data.heldout)
    return Baseline(samples, energy_distance(samples, data.heldout), gaussian_log_likelihood(data.train, data.heldout),
                    floor)


def play(run: Run, until: int, per_frame: int, view_settings: dict | None = None) -> Iterator[Frame]:
    """Train `run` up to step `until`, yielding a frame after every `per_frame` steps (and at `until`)."""
    if per_frame < 1:
        raise ValueError(f"steps per frame = {per_frame} must be at least 1.")
    while run.step < until:
        run.advance(min(per_frame, until - run.step))
        yield run.frame(view_settings, until)


def dataset_from(dataset: Any, seed: int) -> Dataset:
    """A data set from its name, or from points given as CSV text (x,y per line)."""
    if not isinstance(dataset, str):
        raise ValueError(f"dataset must be a name or CSV text of points; got {type(dataset).__name__}.")
    if "," in dataset or "\n" in dataset.strip():
        return make_dataset("drawn", seed, parse_points(dataset))
    return make_dataset(dataset.strip(), seed)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or not float(seed).is_integer():
        raise ValueError(f"seed = {seed!r} must be a whole number from 0 to 2**31 - 1.")
    if not 0 <= int(seed) < 2**31:
        raise ValueError(f"seed = {int(seed)} is out of range: use a whole number from 0 to 2**31 - 1.")
    return int(seed)


def train_family(family: str, dataset: str | Dataset, steps: int = 0, seed: int = 0,
                 settings: dict | None = None) -> Result:
    """Train one family from scratch (`steps` 0: its default) and measure it; ValueError names a bad input.
    `dataset`: a name, points as CSV text, or a Dataset already made."""
    family = check_family(family)
    checked = check_settings(family, settings)
    steps = check_steps(steps, family)
    seed = check_seed(seed)
    data = dataset if isinstance(dataset, Dataset) else dataset_from(dataset, seed)
    run = Run(family, data, checked, seed)
    run.advance(steps)
    return run.evaluate()


def train_all(dataset: str | Dataset, steps: int = 0, seed: int = 0) -> Iterator[Result]:
    """Every family with its default settings on the same data, the same number of steps (0: each family's
    default) and the same seed, one after another."""
    seed = check_seed(seed)
    data = dataset if isinstance(dataset, Dataset) else dataset_from(dataset, seed)
    for family in FAMILIES:
        yield train_family(family, data, steps, seed)
