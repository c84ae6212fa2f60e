"""The measurements every family gets: mode coverage, energy distance, and a plain Gaussian to compare with.

    >>> centres = np.array([[0.0, 0.0], [2.0, 0.0]])
    >>> mode_coverage(np.array([[0.0, 0.0], [0.1, 0.0], [2.0, 0.05], [5.0, 5.0]]), centres, sd=0.05)
    ModeCoverage(covered=2, num_modes=2, counts=(2, 1), in_modes=0.75)
    >>> a = np.random.default_rng(0).normal(size=(500, 2))
    >>> energy_distance(a, a)
    0.0

Mode coverage (for data sets with modes): a sample counts for a mode when it lies within 3 standard deviations
of the mode's centre; a mode is covered when it holds at least 20% of its fair share (samples / modes).
Energy distance (Székely): 2 E|X - Y| - E|X - X'| - E|Y - Y'|, zero exactly when the two distributions are
equal; here the V-statistic over two samples, so a sample against itself gives 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RADIUS_SDS = 3.0        # a sample counts for a mode within this many standard deviations of its centre
FAIR_SHARE = 0.2        # a mode is covered when it holds this fraction of samples / modes


@dataclass(frozen=True)
class ModeCoverage:
    covered: int                    # modes holding at least FAIR_SHARE of their fair share
    num_modes: int
    counts: tuple[int, ...]         # (num_modes,) samples within RADIUS_SDS standard deviations of each centre
    in_modes: float                 # share of all samples that lie in some mode


def mode_coverage(samples: np.ndarray, centres: np.ndarray, sd: float) -> ModeCoverage:
    """samples (n, 2), centres (k, 2): how many modes the samples cover (see the module's docstring)."""
    samples = np.asarray(samples, np.float64)
    distances = np.linalg.norm(samples[:, None, :] - np.asarray(centres, np.float64)[None], axis=-1)  # (n, k)
    nearest = distances.argmin(1)
    inside = distances[np.arange(len(samples)), nearest] <= RADIUS_SDS * sd
    counts = np.bincount(nearest[inside], minlength=len(centres))
    fair = len(samples) / len(centres)
    return ModeCoverage(int((counts >= FAIR_SHARE * fair).sum()), len(centres), tuple(int(c) for c in counts),
                        float(inside.mean()) if len(samples) else 0.0)


def _mean_distance(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> float:
    """E|a - b| over all pairs, in chunks so 10,000 x 10,000 pairs stay small in memory."""
    from scipy.spatial.distance import cdist

    return sum(float(cdist(a[start:start + chunk], b).sum()) for start in range(0, len(a), chunk)) / (len(a) * len(b))


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Energy distance between samples a (n, 2) and b (m, 2); 0 for identical samples."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")  # a diverged model: samples at infinity are infinitely far
    value = 2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b)
    return max(0.0, value)


def gaussian_samples(data: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n samples (n, 2) of the plain Gaussian with the data's mean and covariance: the baseline every family
    should beat by far."""
    rng = np.random.default_rng([seed, 3])
    return rng.multivariate_normal(data.mean(0), np.cov(data.T), size=n).astype(np.float32)


def gaussian_log_likelihood(data: np.ndarray, points: np.ndarray) -> float:
    """Mean log-density (nats per point) of `points` under the Gaussian fitted to `data`."""
    mean, cov = data.mean(0), np.cov(data.T)
    diff = points - mean
    inverse = np.linalg.inv(cov)
    mahalanobis = np.einsum("ni,ij,nj->n", diff, inverse, diff)
    return float(np.mean(-0.5 * mahalanobis - 0.5 * np.log(np.linalg.det(cov)) - np.log(2 * np.pi)))
