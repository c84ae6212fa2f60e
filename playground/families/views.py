"""What each family shows at a step of training: frozen dataclasses of numpy arrays, shapes in comments.

The family modules fill them (with torch); the tab draws them (without). Arrays on the plane's grid are
indexed [row = y, column = x], as Plotly's heatmaps take them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GanView:
    ticks: np.ndarray               # (G,) cell centres along each axis of the plane
    verdict: np.ndarray             # (G, G) the discriminator's output over the plane
    verdict_label: str              # what the output is: "P(real)", "score" or "critic value"
    fake: np.ndarray                # (n, 2) generated points
    push: np.ndarray                # (n, 2) -dL_G/dx at each generated point: where the generator's update moves it
    manifold: np.ndarray            # (lines, points, 2) the generator's image of a square grid of noise


@dataclass(frozen=True)
class VaeView:
    points: np.ndarray              # (n, 2) data points that were encoded
    labels: np.ndarray              # (n,) the mode (or region) each came from, for colours
    means: np.ndarray               # (n, 2) the encoder's mean for each point, in the latent plane
    sigmas: np.ndarray              # (n, 2) its standard deviations (the ellipses)
    z: np.ndarray                   # (n, 2) mean + sigma * epsilon: the reparameterization trick
    reconstructions: np.ndarray     # (n, 2) the decoder's mean at z
    epsilon_seed: int               # which epsilon was drawn ("resample epsilon" changes it)
    latent_grid: np.ndarray         # (lines, points, 2) a square grid in the latent plane
    decoded_grid: np.ndarray        # (lines, points, 2) the decoder's image of it
    decoder_sd: float               # the decoder's (learned) standard deviation around its mean
    probe: np.ndarray | None        # (2,) a latent point the user chose, or None
    probe_decoded: np.ndarray | None  # (2,) the decoder's mean there


@dataclass(frozen=True)
class FlowView:
    stage_labels: tuple[str, ...]   # (S,) "base N(0, I)", "after layer 2", ..., "data space"
    stage_grids: np.ndarray         # (S, lines, points, 2) the base grid pushed through the first layers
    stage_points: np.ndarray        # (S, n, 2) base samples pushed through the same layers
    colours: np.ndarray             # (n,) each base sample's angle in radians, so its colour follows it
    ticks: np.ndarray               # (G,) cell centres of the density grid
    log_density: np.ndarray         # (G, G) the exact log p(x) over the plane


@dataclass(frozen=True)
class DiffusionView:
    timesteps: np.ndarray           # (K,) forward-process timesteps shown
    alpha_bars: np.ndarray          # (K,) the share of signal left at each
    noised: np.ndarray              # (K, n, 2) x_t: data points noised to each timestep
    field_t: int                    # the timestep of the noise field
    field_alpha_bar: float
    field_points: np.ndarray        # (A, 2) grid points where the noise is predicted
    field_noise: np.ndarray         # (A, 2) the predicted noise epsilon_theta(x_t, t) there
    field_cloud: np.ndarray         # (n, 2) data noised to field_t, for the background
    trajectories: np.ndarray        # (M, S + 1, 2) reverse paths of a few samples, x_T first
    sampler: str                    # "DDPM" or "DDIM"
    sampling_steps: int


@dataclass(frozen=True)
class AutoregressiveView:
    edges: np.ndarray               # (B + 1,) bin edges on each axis
    p_x: np.ndarray                 # (B,) p(x bin) at the temperature
    p_y_given_x: np.ndarray         # (B, B) p(y bin | x bin) at the temperature, [x bin, y bin]
    temperature: float
    walk_x: int                     # an example sample: its x bin, drawn first ...
    walk_y: int                     # ... then its y bin given x
    walk_point: np.ndarray          # (2,) the point it became


FamilyView = GanView | VaeView | FlowView | DiffusionView | AutoregressiveView
