"""playground.families.data and .metrics: the data sets, pasted points, and the measurements on known cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from playground.families.data import DATASETS, MAX_POINTS, PLANE, make_dataset, parse_points
from playground.families.metrics import (energy_distance, gaussian_log_likelihood, gaussian_samples,
                                         mode_coverage)


@pytest.mark.parametrize("name", DATASETS)
def test_every_data_set_is_seeded_and_inside_the_plane(name):
    data = make_dataset(name, seed=3)
    again = make_dataset(name, seed=3)
    other = make_dataset(name, seed=4)
    assert data.train.shape == (10_000, 2) and data.heldout.shape == (1_000, 2)
    assert np.array_equal(data.train, again.train) and not np.array_equal(data.train, other.train)
    assert not np.array_equal(data.train[:1000], data.heldout)          # held out: drawn apart
    assert np.abs(data.train).max() < PLANE
    assert len(data.labels) == len(data.train)


def test_ring8_and_grid25_have_their_modes():
    ring = make_dataset("ring8")
    assert ring.centres.shape == (8, 2) and ring.mode_sd == 0.05
    assert np.allclose(np.linalg.norm(ring.centres, axis=1), 2.0)
    assert np.allclose(np.std(ring.train - ring.centres[ring.labels], axis=0), 0.05, atol=0.003)
    grid = make_dataset("grid25")
    assert grid.centres.shape == (25, 2) and sorted(set(grid.centres[:, 0].tolist())) == [-2, -1, 0, 1, 2]
    assert make_dataset("two_moons").centres is None


def test_pasted_points_parse_with_a_header_and_any_separator():
    points = parse_points("x,y\n0,0\n\n1.5; -2\n3 4\n")
    assert points.tolist() == [[0, 0], [1.5, -2], [3, 4]]
    assert parse_points("").shape == (0, 2)


@pytest.mark.parametrize("text, message", [
    ("1,2\nnan,3\n", "line 2 .* not a finite number"),
    ("1,2\n3\n", "line 2 .* should be two numbers"),
    ("1,2\nabc,def\n", "line 2 .* not two numbers"),
    ("0,0\n" * (2 * MAX_POINTS + 5), "at most 10,000 points"),
    (None, "points must be text"),
])
def test_bad_points_name_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        parse_points(text)


def test_a_million_pasted_points_are_refused_at_once():
    import time

    text = "0.5,0.5\n" * 1_000_000
    started = time.perf_counter()
    with pytest.raises(ValueError, match="1,000,001 lines pasted; at most 10,000"):
        parse_points(text)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("points, message", [
    (np.zeros((0, 2)), "0 given; draw or paste at least 3"),
    (np.array([[0.5, 0.5]]), "1 given; draw or paste at least 3"),
    (np.array([[0.0, np.nan], [1, 1], [2, 2]]), "NaN"),
])
def test_an_empty_or_one_point_drawing_is_refused(points, message):
    with pytest.raises(ValueError, match=message):
        make_dataset("drawn", 0, points)


def test_drawn_points_become_small_gaussians_and_large_ones_are_scaled_to_fit():
    data = make_dataset("drawn", 0, np.array([[0, 0], [1, 0], [0, 1]], np.float32))
    distances = np.linalg.norm(data.train[:, None] - np.array([[0, 0], [1, 0], [0, 1]])[None], axis=-1).min(1)
    assert np.median(distances) < 0.1 and "3 points" in data.note
    big = make_dataset("drawn", 0, np.array([[0, 0], [100, 0], [0, 50]], np.float32))
    assert np.abs(big.train).max() < PLANE and "scaled by" in big.note


def test_unknown_data_set_lists_the_names():
    with pytest.raises(ValueError, match="dataset 'ring9' is unknown: choose one of ring8, grid25"):
        make_dataset("ring9")


# ---------------------------------------------------------------------------------------------
# Measurements on known cases


def test_a_perfect_sampler_covers_every_mode():
    data = make_dataset("ring8", seed=0)
    perfect = make_dataset("ring8", seed=1).heldout            # 1,000 points from the true distribution
    coverage = mode_coverage(perfect, data.centres, data.mode_sd)
    assert (coverage.covered, coverage.num_modes) == (8, 8) and coverage.in_modes > 0.98


def test_a_gaussian_covers_no_mode_and_is_far_in_energy():
    data = make_dataset("ring8", seed=0)
    gaussian = gaussian_samples(data.train, 1000, seed=0)
    coverage = mode_coverage(gaussian, data.centres, data.mode_sd)
    assert coverage.covered < 4 and coverage.in_modes < 0.05
    perfect = make_dataset("ring8", seed=1).heldout
    assert energy_distance(gaussian, data.heldout) > 10 * energy_distance(perfect, data.heldout)


def test_one_mode_only_covers_one():
    data = make_dataset("ring8", seed=0)
    collapsed = data.centres[0] + np.random.default_rng(0).normal(0, 0.05, (1000, 2))
    assert mode_coverage(collapsed, data.centres, data.mode_sd).covered == 1


def test_a_mode_needs_a_fifth_of_its_fair_share():
    centres = np.array([[0.0, 0.0], [2.0, 0.0]])
    # fair share 50 of 100; 20% of it is 10
    samples = np.array([[0.0, 0.0]] * 90 + [[2.0, 0.0]] * 10)
    assert mode_coverage(samples, centres, 0.05).counts == (90, 10)
    assert mode_coverage(samples, centres, 0.05).covered == 2
    assert mode_coverage(samples[:-1], centres, 0.05).covered == 1


def test_energy_distance_of_a_sample_with_itself_is_zero_and_grows_with_a_shift():
    a = np.random.default_rng(0).normal(size=(800, 2))
    assert energy_distance(a, a) == pytest.approx(0.0, abs=1e-12)
    near = energy_distance(a, a + [0.1, 0])
    far = energy_distance(a, a + [1.0, 0])
    assert 0 < near < far
    assert energy_distance(a, a + [np.nan, 0]) == float("inf")


def test_energy_distance_matches_scipy_for_one_dimension():
    from scipy.stats import energy_distance as scipy_energy

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 1)), rng.normal(1.0, 2.0, size=(200, 1))
    padded = lambda x: np.concatenate([x, np.zeros_like(x)], 1)  # noqa: E731
    # scipy returns the square root of 2 E|X-Y| - E|X-X'| - E|Y-Y'|
    assert energy_distance(padded(a), padded(b)) == pytest.approx(scipy_energy(a[:, 0], b[:, 0]) ** 2, rel=1e-9)


def test_gaussian_log_likelihood_matches_scipy():
    data = make_dataset("two_moons", seed=0)
    expected = multivariate_normal(data.train.mean(0), np.cov(data.train.T)).logpdf(data.heldout).mean()
    assert gaussian_log_likelihood(data.train, data.heldout) == pytest.approx(expected, rel=1e-6)
