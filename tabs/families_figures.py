"""The Generative families tab's Plotly figures: one picture per family, the training charts, the side-by-side
row and the latent channels. Pure formatting of playground.families' dataclasses (no torch).

Figures are built as plain dicts and handed to go.Figure once, with as few traces as the picture allows:
a frame of the live view is drawn several times a second. `Look` carries the display mode: the dark theme gets
a dark template (projector mode needs nothing here: it zooms the whole page).

    >>> look_of("projector dark").dark
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from playground.families.data import PLANE
from playground.families.views import AutoregressiveView, DiffusionView, FlowView, GanView, VaeView

SAMPLE = "#e66100"          # generated points and what moves them: orange (diamonds)
SAMPLE_DARK = "#ff9a3c"
VERDICT = [[0.0, "#762a83"], [0.25, "#c2a5cf"], [0.5, "#f7f7f7"], [0.75, "#a6dba0"], [1.0, "#1b7837"]]  # fake -> real
PHASE = "Phase"             # cyclic colours for angles
RANGE = [-PLANE, PLANE]
DATA_SHOWN = 300


@dataclass(frozen=True)
class Look:
    dark: bool

    @property
    def data(self) -> str:
        return "#c8c8c8" if self.dark else "#3a3a3a"

    @property
    def text(self) -> str:
        return "#e5e7eb" if self.dark else "#1f2937"

    @property
    def grid(self) -> str:
        return "#3b4252" if self.dark else "#e2e2e2"

    @property
    def sample(self) -> str:
        return SAMPLE_DARK if self.dark else SAMPLE

    @property
    def line(self) -> str:
        return "#7fb3ff" if self.dark else "#1f5fbf"


def look_of(display: str | None) -> Look:
    """The page's display mode as the browser reports it: words such as "projector" and "dark"."""
    words = str(display or "").split()
    return Look("dark" in words)


# ---------------------------------------------------------------------------------------------
# Building blocks


def _axis(n: int) -> str:
    return "" if n == 1 else str(n)


def _grid(columns: list[tuple[float, float]], rows: list[tuple[float, float]]) -> list[tuple[int, tuple, tuple]]:
    """Subplot n's (x domain, y domain), n from 1, for panels given row by row."""
    return [(i + 1, x, y) for i, (x, y) in enumerate(zip(columns, rows))]


def _layout(look: Look, height: int, panels: list[tuple[int, tuple, tuple]], titles: list[str],
            planes: set[int], **extra) -> dict:
    """Axes for each panel (planes: the square [-3, 3]^2 with equal scales), titles above panels."""
    layout = {
        # no named template: Plotly validates a template's hundreds of settings on every figure (plotly_white
        # took 130-490 ms a figure here, "none" 15-20 ms); the few colours needed are set below
        "template": "none", "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "height": height,
        "font": {"size": 12, "color": look.text}, "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.1, "yanchor": "top", "font": {"size": 12}},
        "hoverlabel": {"font": {"size": 12}}, "annotations": [],
    }
    for (n, x_domain, y_domain), title in zip(panels, titles):
        x, y = f"xaxis{_axis(n)}", f"yaxis{_axis(n)}"
        axis = {"tickfont": {"size": 11}, "gridcolor": look.grid, "linecolor": look.grid, "showline": True,
                "zeroline": False}
        layout[x] = {"domain": list(x_domain), "anchor": f"y{_axis(n)}", **axis}
        layout[y] = {"domain": list(y_domain), "anchor": f"x{_axis(n)}", **axis}
        if n in planes:
            layout[x].update(range=RANGE, constrain="domain")
            layout[y].update(range=RANGE, scaleanchor=f"x{_axis(n)}", scaleratio=1, constrain="domain")
        layout["annotations"].append({
            "text": title, "x": (x_domain[0] + x_domain[1]) / 2, "y": y_domain[1], "xref": "paper", "yref": "paper",
            "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}})
    layout.update(extra)
    return layout


def _on(n: int) -> dict:
    return {"xaxis": f"x{_axis(n)}", "yaxis": f"y{_axis(n)}"}


def _points(points: np.ndarray, n: int, name: str, colour, look: Look, size: float = 4, symbol: str = "circle",
            opacity: float = 0.6, legend: bool = True, **extra) -> dict:
    return {"type": "scatter", "mode": "markers", "x": points[:, 0], "y": points[:, 1], "name": name,
            "marker": {"size": size, "color": colour, "symbol": symbol, "opacity": opacity,
                       **extra.pop("marker", {})},
            "showlegend": legend, "hoverinfo": "skip", **_on(n), **extra}


def _lines(lines: np.ndarray, n: int, name: str, colour: str, look: Look, width: float = 1.0, **extra) -> dict:
    """(L, P, 2) polylines as one trace, with gaps between them."""
    gaps = np.full((len(lines), 1, 2), np.nan, np.float32)
    flat = np.concatenate([lines, gaps], 1).reshape(-1, 2)
    return {"type": "scatter", "mode": "lines", "x": flat[:, 0], "y": flat[:, 1], "name": name,
            "line": {"color": colour, "width": width}, "hoverinfo": "skip", "connectgaps": False,
            **_on(n), **extra}


def _arrows(starts: np.ndarray, vectors: np.ndarray, n: int, name: str, colour: str, look: Look) -> dict:
    """Arrows from starts (A, 2) along vectors (A, 2): segments with an arrowhead marker at the tip."""
    ends = starts + vectors
    gaps = np.full_like(starts, np.nan)
    flat = np.stack([starts, ends, gaps], 1).reshape(-1, 2)
    sizes = np.tile(np.array([0, 8, 0], np.float32), len(starts))
    return {"type": "scatter", "mode": "lines+markers", "x": flat[:, 0], "y": flat[:, 1], "name": name,
            "line": {"color": colour, "width": 1.4}, "connectgaps": False, "hoverinfo": "skip",
            "marker": {"symbol": "arrow", "angleref": "previous", "size": sizes, "color": colour}, **_on(n)}


def _scaled(vectors: np.ndarray, longest: float) -> np.ndarray:
    """Vectors scaled together so the longest is `longest` long (their directions and ratios kept)."""
    top = float(np.nanmax(np.linalg.norm(vectors, axis=1))) if len(vectors) else 0.0
    return vectors * (longest / top) if top > 0 else vectors


def figure(data: list[dict], layout: dict) -> go.Figure:
    return go.Figure(data=data, layout=layout)


# ---------------------------------------------------------------------------------------------
# One picture per family


def gan_picture(view: GanView, data: np.ndarray, look: Look) -> go.Figure:
    """Left: the discriminator's verdict over the plane, real points, generated points and the generator's
    gradient on each. Right: the generator's image of a grid of noise over the real points."""
    panels = _grid([(0.0, 0.44), (0.56, 1.0)], [(0.0, 1.0), (0.0, 1.0)])
    probability = view.verdict_label == "P(real)"
    traces = [
        {"type": "heatmap", "x": view.ticks, "y": view.ticks, "z": view.verdict, "colorscale": VERDICT,
         "opacity": 0.8, "zmin": 0 if probability else None, "zmax": 1 if probability else None,
         "zmid": None if view.verdict_label != "critic value" else float(np.median(view.verdict)),
         "colorbar": {"title": {"text": f"D: {view.verdict_label}<br>(green: real)", "font": {"size": 12}},
                      "x": 0.45, "xanchor": "left", "len": 0.9, "thickness": 12, "tickfont": {"size": 11}},
         "name": "discriminator", "hovertemplate": f"x=%{{x:.2f}}, y=%{{y:.2f}}<br>{view.verdict_label} %{{z:.2f}}"
                                                   "<extra></extra>", **_on(1)},
        _points(data, 1, "real data", look.data, look, size=4),
        _arrows(view.fake, _scaled(view.push, 0.45), 1, "generator's gradient (where G moves each point)",
                look.sample, look),
        _points(view.fake, 1, "generated", look.sample, look, size=7, symbol="diamond", opacity=0.95,
                marker={"line": {"width": 0.8, "color": "#222"}}),
        _points(data, 2, "real data", look.data, look, size=4, legend=False),
        _lines(view.manifold, 2, "G's image of a noise grid", look.line, look, width=1.0),
    ]
    if probability or view.verdict_label == "score":
        traces.insert(1, {"type": "contour", "x": view.ticks, "y": view.ticks, "z": view.verdict, "showscale": False,
                          "contours": {"start": 0.5, "end": 0.5, "size": 1, "coloring": "none"},
                          "line": {"color": "#111" if not look.dark else "#eee", "width": 1.5,
                                   "dash": "dot"}, "name": "D undecided (0.5)", "hoverinfo": "skip", **_on(1)})
    titles = ["Discriminator's verdict,<br>generated points and their gradients", "Generator:<br>its image of the noise grid"]
    return figure(traces, _layout(look, 540, panels, titles, {1, 2}))


def _ellipses(means: np.ndarray, sigmas: np.ndarray, vertices: int = 20) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, vertices)
    circle = np.stack([np.cos(angles), np.sin(angles)], 1)          # (V, 2)
    return means[:, None, :] + sigmas[:, None, :] * circle[None]      # (n, V, 2)


def _hue_groups(labels: np.ndarray, points: np.ndarray, groups: int = 12) -> np.ndarray:
    """A colour group per point: its mode's label when there are few, else its angle around the middle."""
    if labels.max() < groups:
        return labels
    angles = np.arctan2(points[:, 1], points[:, 0])
    return ((angles + np.pi) / (2 * np.pi) * groups).astype(int) % groups


def _palette(count: int) -> list[str]:
    from plotly.colors import sample_colorscale

    return sample_colorscale(PHASE, [i / max(count, 1) for i in range(count)])


def vae_picture(view: VaeView, data: np.ndarray, samples: np.ndarray, look: Look) -> go.Figure:
    """Left, the data plane: data, the decoder's image of a latent grid, reconstructions through z.
    Right, the latent plane: each point's Gaussian (mean and 1-sigma ellipse), its z, the prior's circles."""
    panels = _grid([(0.0, 0.47), (0.53, 1.0)], [(0.0, 1.0), (0.0, 1.0)])
    groups = _hue_groups(view.labels, view.points)
    colours = _palette(int(groups.max()) + 1)
    traces = [
        {"type": "heatmap", "x": np.linspace(-3, 3, 61), "y": np.linspace(-3, 3, 61), "z": np.zeros((61, 61)),
         "opacity": 0, "showscale": False, "hoverinfo": "none", "name": "latent-click", **_on(2)},
        _points(data, 1, "real data", look.data, look, size=3, opacity=0.35),
        _lines(view.decoded_grid, 1, "decoder's image of the latent grid", look.line, look, width=0.9),
        _lines(view.latent_grid, 2, "latent grid", look.line, look, width=0.6, opacity=0.35, showlegend=False),
        _lines(np.stack([_ellipses(np.zeros((1, 2)), np.full((1, 2), r), 64)[0] for r in (1.0, 2.0)]), 2,
               "prior N(0, I): 1 and 2 sigma", "#888", look, width=1.2),
    ]
    traces[-1]["line"]["dash"] = "dash"
    ellipses = _ellipses(view.means, view.sigmas)
    for group in np.unique(groups):
        chosen = groups == group
        colour = colours[group]
        traces.append(_lines(ellipses[chosen], 2, "", colour, look, width=0.8, showlegend=False, opacity=0.7))
        traces.append(_points(view.z[chosen], 2, "", colour, look, size=5, legend=False, opacity=0.9))
        traces.append(_points(view.reconstructions[chosen], 1, "", colour, look, size=7, legend=False, opacity=0.9,
                              marker={"line": {"width": 0.5, "color": "#222"}}))
    nowhere = np.full((1, 2), np.nan, np.float32)  # legend entries for the coloured groups
    traces.append(_points(nowhere, 1, "reconstruction decoder(z), coloured by the point's mode", "#999", look, size=7))
    traces.append(_points(samples, 1, "samples: decoder(z), z ~ N(0, I)", look.sample, look, size=5, symbol="diamond",
                          opacity=0.7))
    traces.append(_points(nowhere, 2, "z = mean + sigma × epsilon; ellipse: the mean ± 1 sigma", "#999", look, size=5))
    if view.probe is not None:
        traces.append(_points(view.probe[None], 2, "your z", "#d00", look, size=16, symbol="star", opacity=1,
                              marker={"line": {"width": 1, "color": "#000"}}))
        traces.append(_points(view.probe_decoded[None], 1, "decoder(your z)", "#d00", look, size=16, symbol="star",
                              opacity=1, marker={"line": {"width": 1, "color": "#000"}}))
    titles = [f"Data plane (decoder's sigma {view.decoder_sd:.2f})",
              f"Latent plane (z1, z2): q(z | x) for {len(view.points)} points,<br>epsilon draw {view.epsilon_seed}; "
              "click to decode"]
    return figure(traces, _layout(look, 560, panels, titles, {1, 2}))


def flow_picture(view: FlowView, data: np.ndarray, samples: np.ndarray, look: Look) -> go.Figure:
    """Top: the base Gaussian's grid and samples pushed through the layers. Bottom: the exact log-density, and
    samples against data."""
    stages = len(view.stage_labels)
    width = 1.0 / stages
    columns = [(i * width + 0.01, (i + 1) * width - 0.01) for i in range(stages)] + [(0.0, 0.56), (0.62, 1.0)]
    rows = [(0.6, 1.0)] * stages + [(0.0, 0.5), (0.0, 0.5)]
    panels = _grid(columns, rows)
    traces = []
    for i in range(stages):
        n = i + 1
        traces.append(_lines(view.stage_grids[i], n, "the base grid", look.line, look, width=0.7,
                             showlegend=i == 0, opacity=0.8))
        traces.append(_points(view.stage_points[i], n, "base samples (colour: angle in the base)", view.colours, look,
                              size=3, opacity=0.8, legend=i == 0, marker={"colorscale": PHASE}))
    density = stages + 1
    traces.append({"type": "heatmap", "x": view.ticks, "y": view.ticks, "z": np.maximum(view.log_density, -12),
                   "colorscale": "Viridis", "zmin": -12, "name": "log p(x)",
                   "colorbar": {"title": {"text": "log p(x)", "font": {"size": 12}}, "x": 0.57, "y": 0.25,
                                "len": 0.5, "thickness": 12, "tickfont": {"size": 11}},
                   "hovertemplate": "x=%{x:.2f}, y=%{y:.2f}<br>log p = %{z:.2f}<extra></extra>", **_on(density)})
    traces.append(_points(data, density + 1, "real data", look.data, look, size=3, legend=False))
    traces.append(_points(samples, density + 1, "samples", look.sample, look, size=5, symbol="diamond", opacity=0.8))
    titles = list(view.stage_labels) + ["Exact log-density, log p(x) (below -12 shown as -12)", "Samples and data"]
    return figure(traces, _layout(look, 760, panels, titles, set(range(1, stages + 3))))


def diffusion_picture(view: DiffusionView, data: np.ndarray, samples: np.ndarray, look: Look) -> go.Figure:
    """Top: the forward process, x_t at several timesteps. Bottom: the predicted noise at t as arrows (pointing
    along -epsilon, the way a step removes it) over x_t; reverse paths of samples from x_T to x_0."""
    shown = len(view.timesteps)
    width = 1.0 / shown
    columns = [(i * width + 0.01, (i + 1) * width - 0.01) for i in range(shown)] + [(0.0, 0.48), (0.54, 1.0)]
    rows = [(0.62, 1.0)] * shown + [(0.0, 0.52), (0.0, 0.52)]
    panels = _grid(columns, rows)
    traces = [_points(view.noised[i], i + 1, "x_t (data noised to t)", look.data, look, size=3, legend=i == 0)
              for i in range(shown)]
    field = shown + 1
    traces.append(_points(view.field_cloud, field, "", look.data, look, size=3, opacity=0.3, legend=False))
    traces.append(_arrows(view.field_points, -_scaled(view.field_noise, 0.3), field,
                          "-predicted noise, -epsilon_theta(x_t, t)", look.line, look))
    paths = view.trajectories
    traces.append(_lines(paths, field + 1, f"reverse paths ({view.sampler}, {view.sampling_steps} steps)", "#888", look,
                         width=0.8, opacity=0.7))
    traces.append(_points(data, field + 1, "real data", look.data, look, size=3, legend=False))
    traces.append(_points(samples, field + 1, "samples x_0", look.sample, look, size=5, symbol="diamond", opacity=0.8))
    traces.append(_points(paths[:, 0], field + 1, "start x_T ~ N(0, I)", "#888", look, size=5, symbol="circle-open",
                          opacity=0.9))
    titles = [f"t = {t} (alpha-bar {a:.3f})" for t, a in zip(view.timesteps, view.alpha_bars)]
    titles += [f"Predicted noise at t = {view.field_t}<br>(alpha-bar {view.field_alpha_bar:.3f}), over x_t",
               f"Reverse process:<br>{view.sampler}, {view.sampling_steps} scheduler steps"]
    return figure(traces, _layout(look, 780, panels, titles, set(range(1, shown + 3))))


def autoregressive_picture(view: AutoregressiveView, data: np.ndarray, samples: np.ndarray, look: Look) -> go.Figure:
    """Sampling one coordinate at a time. Top: p(x) over x's bins, the drawn bin in red. Middle: the model's
    p(x, y) = p(x) p(y | x) over the cells, with the drawn x as a red line and the sample as a star; beside it
    p(y | that x), the distribution y is then drawn from. Right: samples and data."""
    panels = _grid([(0.0, 0.46), (0.0, 0.46), (0.49, 0.58), (0.66, 1.0)],
                   [(0.76, 1.0), (0.0, 0.7), (0.0, 0.7), (0.0, 1.0)])
    centres = (view.edges[:-1] + view.edges[1:]) / 2
    joint = view.p_x[:, None] * view.p_y_given_x                       # (B, B) [x bin, y bin]
    chosen = np.full(len(centres), look.line, dtype=object)
    chosen[view.walk_x] = "#d00"
    traces = [
        {"type": "bar", "x": centres, "y": view.p_x, "marker": {"color": chosen.tolist()}, "name": "p(x)",
         "hovertemplate": "x = %{x:.2f}: p = %{y:.3f}<extra></extra>", "showlegend": False, **_on(1)},
        {"type": "heatmap", "x": centres, "y": centres, "z": np.log10(np.maximum(joint.T, 1e-6)), "colorscale": "Viridis",
         "zmin": -6, "name": "p(x, y)", "customdata": joint.T,
         "hovertemplate": "x = %{x:.2f}, y = %{y:.2f}<br>p(x, y) = %{customdata:.2e}<extra></extra>",
         "colorbar": {"title": {"text": "log10 p(x, y)", "font": {"size": 12}}, "x": 0.59, "xanchor": "left",
                      "y": 0.35, "len": 0.7, "thickness": 12, "tickfont": {"size": 11}},
         **_on(2)},
        _lines(np.array([[[view.walk_point[0], -PLANE], [view.walk_point[0], PLANE]]], np.float32), 2,
               "1. x drawn from p(x)", "#d00", look, width=1.5),
        _points(view.walk_point[None], 2, "2. then y drawn from p(y | that x)", "#d00", look, size=14, symbol="star",
                opacity=1, marker={"line": {"width": 1, "color": "#fff"}}),
        {"type": "bar", "orientation": "h", "x": view.p_y_given_x[view.walk_x], "y": centres, "name": "p(y | x)",
         "marker": {"color": "#d00"}, "showlegend": False,
         "hovertemplate": "y = %{y:.2f}: p = %{x:.3f}<extra></extra>", **_on(3)},
        _points(data, 4, "real data", look.data, look, size=3, legend=False),
        _points(samples, 4, f"samples (temperature {view.temperature:g})", look.sample, look, size=5,
                symbol="diamond", opacity=0.8),
    ]
    layout = _layout(look, 660, panels,
                     [f"1. p(x) over {len(centres)} bins of x", "p(x, y) = p(x) p(y | x), temperature "
                      f"{view.temperature:g}", "2. p(y | x)", "Samples and data"], {2, 4})
    layout["xaxis"].update(range=RANGE, matches="x2", showticklabels=False)
    layout["yaxis"].pop("scaleanchor", None)
    layout["yaxis3"].update(matches="y2", showticklabels=False)
    layout["xaxis3"].update(showticklabels=False)
    layout["xaxis2"]["title"] = {"text": "x"}
    layout["yaxis2"]["title"] = {"text": "y"}
    return figure(traces, layout)


def picture(frame, look: Look) -> go.Figure:
    """The family's own figure for a frame of training. DATA_SHOWN data points and samples are drawn (the
    measurements use all of the frame's): enough to see the shapes, few enough for a browser to draw frames fast."""
    view, data, samples = frame.view, frame.data[:DATA_SHOWN], frame.samples[:DATA_SHOWN]
    if isinstance(view, GanView):
        return gan_picture(view, data, look)
    if isinstance(view, VaeView):
        return vae_picture(view, data, samples, look)
    if isinstance(view, FlowView):
        return flow_picture(view, data, samples, look)
    if isinstance(view, DiffusionView):
        return diffusion_picture(view, data, samples, look)
    return autoregressive_picture(view, data, samples, look)


# ---------------------------------------------------------------------------------------------
# Training charts, the side-by-side row, latent channels

DASHES = ("solid", "dash", "dot")


def charts(frame, look: Look, baseline: float | None, num_modes: int | None) -> go.Figure:
    """Losses against step | energy distance to held-out data (log scale) with the plain Gaussian's for scale |
    modes covered."""
    panels = _grid([(0.0, 0.3), (0.37, 0.65), (0.72, 1.0)], [(0.0, 1.0)] * 3)
    losses = frame.losses
    traces = [{"type": "scatter", "mode": "lines", "x": losses.steps, "y": losses.values[:, k], "name": name,
               "line": {"width": 1.6, "dash": DASHES[k % 3]}, **_on(1)}
              for k, name in enumerate(losses.names)]
    history = frame.history
    traces.append({"type": "scatter", "mode": "lines+markers", "x": history.steps, "y": history.energy,
                   "name": "energy distance", "marker": {"size": 4}, "line": {"color": look.sample},
                   "showlegend": False, **_on(2)})
    if baseline is not None and len(history.steps):
        traces.append({"type": "scatter", "mode": "lines", "x": [0, max(frame.until, frame.step, 1)],
                       "y": [baseline, baseline], "name": "a plain Gaussian's energy distance",
                       "line": {"color": "#888", "dash": "dash", "width": 1.4}, **_on(2)})
    if num_modes:
        traces.append({"type": "scatter", "mode": "lines+markers", "x": history.steps, "y": history.modes_covered,
                       "line": {"shape": "hv", "color": look.line}, "marker": {"size": 4},
                       "name": "modes covered", "showlegend": False, **_on(3)})
    titles = ["Losses<br>(means over 10 steps)", "Energy distance to held-out<br>data (lower: closer)",
              f"Modes covered<br>(of {num_modes})" if num_modes else "Modes covered:<br>this data set has no modes"]
    layout = _layout(look, 300, panels, titles, set())
    # log axis, every label a whole number: Plotly's own labels between decades are bare digits ("1, 5, 2, 0.1, 5"
    # read as five and two, for 0.5, 0.2 and 0.05)
    layout["yaxis2"].update(type="log", tickformat="~g")
    layout["yaxis3"]["range"] = [-0.3, (num_modes or 1) + 0.3]
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        layout[axis]["title"] = {"text": "step", "font": {"size": 11}}
        layout[axis]["range"] = [0, max(frame.until, frame.step, 1)]
    layout["legend"]["y"] = -0.3
    layout["margin"]["b"] = 60
    return figure(traces, layout)


def compare_figure(rows: list[tuple[str, np.ndarray]], data: np.ndarray, look: Look) -> go.Figure:
    """One small plane per row: (title, samples (n, 2)) over the held-out data."""
    count = max(len(rows), 1)
    width = 1.0 / count
    panels = _grid([(i * width + 0.008, (i + 1) * width - 0.008) for i in range(count)], [(0.0, 1.0)] * count)
    traces = []
    for i, (_, samples) in enumerate(rows):
        traces.append(_points(data, i + 1, "held-out data", look.data, look, size=2.5, opacity=0.4, legend=i == 0))
        traces.append(_points(samples, i + 1, "samples", look.sample, look, size=3.5, symbol="diamond", opacity=0.7,
                              legend=i == 0))
    layout = _layout(look, 330, panels, [title for title, _ in rows], set(range(1, count + 1)))
    for i in range(1, count + 1):
        layout[f"xaxis{_axis(i)}"]["showticklabels"] = False
        layout[f"yaxis{_axis(i)}"]["showticklabels"] = False
    layout["margin"].update(l=10, r=10)
    return figure(traces, layout)


def channels_figure(latents: np.ndarray, look: Look) -> go.Figure:
    """The four latent channels (4, h, w) as heatmaps on one shared colour scale, image rows top down."""
    count = len(latents)
    width = 1.0 / count
    panels = _grid([(i * width + 0.01, (i + 1) * width - 0.03) for i in range(count)], [(0.0, 1.0)] * count)
    top = float(np.abs(latents).max()) or 1.0
    traces = [{"type": "heatmap", "z": latents[c], "colorscale": "Viridis", "zmin": -top, "zmax": top,
               "showscale": c == count - 1, "name": f"channel {c + 1}",
               "colorbar": {"thickness": 12, "tickfont": {"size": 11}},
               "hovertemplate": f"channel {c + 1}<br>row %{{y}}, column %{{x}}: %{{z:.2f}}<extra></extra>", **_on(c + 1)}
              for c in range(count)]
    layout = _layout(look, 300, panels, [f"channel {c + 1}" for c in range(count)], set())
    for i in range(1, count + 1):
        layout[f"yaxis{_axis(i)}"].update(autorange="reversed", scaleanchor=f"x{_axis(i)}", showticklabels=False)
        layout[f"xaxis{_axis(i)}"].update(showticklabels=False)
    return figure(traces, layout)
