"""The Attention tab: which tokens attend to which, per layer and head, and what kind of head each is.

The handlers call playground.attention, which runs the model once per (text, model) and caches the
result; moving the layer or head sliders only slices that result and redraws one heatmap.

    >>> figure = heatmap_figure(run_attention("The cat sat.", "all-minilm-l6-v2"), layer=0, head=-1, kind="weights")
    >>> figure.data[0].type, figure.data[0].x
    ('heatmap', ('0 [CLS]', '1 the', '2 cat', '3 sat', '4 .', '5 [SEP]'))

Every token text reaches the page escaped: Plotly labels through `plotly_text`, HTML through `escape`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale, unlabel_rgb
from plotly.subplots import make_subplots

from playground.attention import (AttentionResult, Comparison, bertviz_document, bertviz_window, check_layer_head,
                                  compare, find_token, focus, logit_lens, overview, overview_size, rollout_of,
                                  run_attention, select_weights, stats_of, to_api)
from playground.registry import DEFAULT_DECODER, DEFAULT_ENCODER
from playground.gpu import gpu_task
from tabs.common import (ALL_MODELS, Controls, clear_on_failure, escape, friendly_errors, progress_callback,
                         run_on_example_click, show_whitespace)
from tabs.outputs import export_folder, image_file, write_atomically

VENDOR = Path(__file__).resolve().parents[1] / "assets" / "vendor"
gr.set_static_paths([VENDOR])
VENDOR_URL = f"gradio_api/file={VENDOR}/"

DEFAULT_TEXT = ("The animal didn't cross the street because it was too tired. "
                "It lay down on the pavement and went to sleep.")
COMPARE_A = "The animal didn't cross the street because it was too tired."
COMPARE_B = "The animal didn't cross the street because it was too wide."
COLORSCALE = "Viridis"
OVERVIEW_PIXELS = 900          # target width of the overview image
KINDS = {"Attention weights": "weights", "Rollout (Abnar & Zuidema)": "rollout"}
LENS_COLUMNS = 24


# ---------------------------------------------------------------------------------------------
# Formatting


def visible(text: str) -> str:
    """Whitespace-only tokens shown with the Tokenization tab's symbols, so a blank cell still says
    what it is; line breaks and tabs inside a word are shown too, since a label can't hold them."""
    return show_whitespace(text) if not text.strip() else text.replace("\n", "↵").replace("\t", "→")


def plotly_text(text: str) -> str:
    """Token text for Plotly labels: Plotly reads a small HTML subset, so < > & are escaped, and line
    breaks and tabs made visible."""
    return escape(visible(text)).replace("&#x27;", "'").replace("&quot;", '"')


def axis_labels(result: AttentionResult) -> list[str]:
    """Unique labels "position token" (Plotly merges equal category labels)."""
    return [f"{i} {plotly_text(token)}" for i, token in enumerate(result.tokens)]


def typed_array(values: np.ndarray) -> dict:
    """A float32 array in plotly.js's typed-array JSON form (base64 of the raw values with their shape): Plotly
    takes it as it is, without walking a T x T array value by value (SmolLM2 at 512 tokens: 28 instead of 77 ms).

        >>> typed_array(np.array([[1.0, 0.5]], dtype=np.float32))
        {'dtype': 'f4', 'bdata': 'AACAPwAAAD8=', 'shape': '1, 2'}
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    return {"dtype": "f4", "bdata": base64.b64encode(values.tobytes()).decode("ascii"),
            "shape": ", ".join(str(n) for n in values.shape)}


def view_name(result: AttentionResult, layer: int, head: int, kind: str) -> str:
    if kind == "rollout":
        return f"rollout through layer {layer}"
    return f"layer {layer}, " + ("mean over heads" if head == -1 else f"head {head}")


def shown_weights(result: AttentionResult, layer: int, head: int, kind: str) -> np.ndarray:
    """(T, T) what the heatmap shows."""
    if kind == "rollout":
        select_weights(result, layer, -1)  # checks the layer
        return rollout_of(result)[layer]
    return select_weights(result, layer, head)


def colour_top(weights: np.ndarray, without_sink: bool) -> tuple[float, float | None]:
    """The top of the colour scale, and the first-token column's largest value when it was left out.

    Decoder heads pour most of their attention onto the first token (an attention sink); scaled to that
    column, every other cell is dark. Leaving the column out of the scale shows where the rest goes
    (the sink column is then drawn at the top colour).

        >>> colour_top(np.array([[1.0, 0.0], [0.9, 0.1]]), without_sink=True)
        (0.1, 0.9)
    """
    top = float(weights.max()) if weights.size else 1.0
    if not without_sink or weights.shape[-1] < 2:
        return top or 1.0, None
    rest = float(weights[1:, 1:].max()) if weights.shape[0] > 1 else float(weights[:, 1:].max())
    sink = float(weights[1:, 0].max()) if weights.shape[0] > 1 else float(weights[0, 0])
    if rest <= 0 or sink <= rest:
        return top or 1.0, None
    return rest, sink


def tick_labels(labels: list[str], limit: int = 64) -> dict:
    """Every token labelled up to `limit` tokens (Plotly would skip every other one), then every n-th."""
    step = max(1, math.ceil(len(labels) / limit))
    return {"tickmode": "array", "tickvals": labels[::step], "ticktext": labels[::step]}


def heatmap_figure(result: AttentionResult, layer: int, head: int, kind: str, without_sink: bool = True) -> go.Figure:
    weights = shown_weights(result, layer, head, kind)
    labels = axis_labels(result)
    name = view_name(result, layer, head, kind)
    top, sink = colour_top(weights, without_sink and kind == "weights")
    side = int(min(1000, max(460, 20 * result.num_tokens + 200)))
    title = f"{escape(result.model)}: {name} ({'causal' if result.causal else 'bidirectional'})"
    if sink is not None:
        title += (f"<br><sup>Colours leave out the first token's column (the attention sink, up to {sink:.2f}): "
                  f"it is drawn at the top colour</sup>")
    figure = go.Figure(go.Heatmap(
        z=typed_array(weights), x=labels, y=labels, colorscale=COLORSCALE, zmin=0, zmax=top,
        colorbar={"title": {"text": "weight"}},
        hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"))
    figure.update_layout(
        title={"text": title},
        xaxis={"title": {"text": "key (attended to)"}, "tickangle": -60, "type": "category", "automargin": True,
               **tick_labels(labels)},
        yaxis={"title": {"text": "query (attending)"}, "autorange": "reversed", "type": "category",
               "automargin": True, **tick_labels(labels)},
        height=side, margin={"l": 20, "r": 20, "t": 80, "b": 20})
    return figure



@lru_cache(maxsize=1)
def _palette() -> np.ndarray:
    """(256, 3) uint8 RGB of the colorscale, for the overview image."""
    colors = sample_colorscale(COLORSCALE, list(np.linspace(0, 1, 256)))
    return np.array([unlabel_rgb(c) for c in colors]).round().astype(np.uint8)


@dataclass(frozen=True)
class OverviewPicture:
    image: np.ndarray       # (H, W, 3) uint8: every head's small map, labelled
    n_layers: int
    n_heads: int
    groups: int             # layers are wrapped into this many side-by-side groups of columns
    per_group: int          # layers in each group
    map_px: int             # pixels of one small map plus its gap
    left: int               # pixels of the layer labels on the left
    top: int                # pixels of the head labels on top
    group_gap: int          # pixels between groups
    note: str

    def pick(self, x: int, y: int) -> tuple[int, int] | None:
        """(layer, head) of the map under image pixel (x, y); None on a label or a gap."""
        group_width = self.n_heads * self.map_px + self.group_gap
        gx, gy = x - self.left, y - self.top
        if gx < 0 or gy < 0:
            return None
        group, inside = divmod(gx, group_width)
        head, row = inside // self.map_px, gy // self.map_px
        layer = group * self.per_group + row
        if group >= self.groups or head >= self.n_heads or row >= self.per_group or layer >= self.n_layers:
            return None
        return int(layer), int(head)


def overview_groups(n_layers: int, n_heads: int) -> int:
    """How many side-by-side groups the layers wrap into, so that the canvas is about square (SmolLM2's
    30 layers x 9 heads: 2 groups of 15; all-MiniLM's 6 x 12: 1)."""
    return max(1, min(n_layers, round(math.sqrt(n_layers / n_heads))))


def overview_image(result: AttentionResult) -> OverviewPicture:
    """Every layer and head as a small map, each with its own colour range (or the peaky heads would wash out
    the rest), labelled L0, L1, ... on the left and H0, H1, ... on top."""
    from PIL import Image, ImageDraw, ImageFont

    pooled = overview(result.weights, size=overview_size(result))
    cell = pooled.size + pooled.gap
    groups = overview_groups(result.num_layers, result.num_heads)
    per_group = math.ceil(result.num_layers / groups)
    scale = max(1, min(8, OVERVIEW_PIXELS // (groups * result.num_heads * cell), 1200 // (per_group * cell)))
    map_px = cell * scale
    font = ImageFont.load_default(size=14)
    left, top, group_gap = 44, 22, 24
    width = left + groups * (result.num_heads * map_px + group_gap) - group_gap
    canvas = Image.new("RGB", (width, top + per_group * map_px), "white")
    draw = ImageDraw.Draw(canvas)
    palette = _palette()
    for layer in range(result.num_layers):
        group, row = divmod(layer, per_group)
        x0 = left + group * (result.num_heads * map_px + group_gap)
        y0 = top + row * map_px
        draw.text((x0 - 6, y0 + map_px // 2), f"L{layer}", fill="black", font=font, anchor="rm")
        for head in range(result.num_heads):
            tile = pooled.image[layer * cell:layer * cell + pooled.size, head * cell:head * cell + pooled.size]
            peak = float(tile.max())
            colours = palette[np.clip((tile / peak if peak > 0 else tile) * 255, 0, 255).round().astype(int)]
            small = Image.fromarray(colours).resize((pooled.size * scale, pooled.size * scale), Image.Resampling.NEAREST)
            canvas.paste(small, (x0 + head * map_px, y0))
    for group in range(groups):
        x0 = left + group * (result.num_heads * map_px + group_gap)
        for head in range(result.num_heads):
            draw.text((x0 + head * map_px + map_px // 2, top // 2), f"H{head}", fill="black", font=font, anchor="mm")
    t = result.num_tokens
    if pooled.block > 1:
        note = (f"Downsampled for display: each {t}×{t} map is shown as {pooled.size}×{pooled.size} blocks of "
                f"{pooled.block} tokens (the attention a block of queries gives a block of keys). ")
    else:
        note = f"Each {t}×{t} map is shown at full resolution. "
    wrapped = f", wrapped into {groups} groups of {per_group} layers side by side" if groups > 1 else ""
    note += (f"Rows are layers (L0–L{result.num_layers - 1}{wrapped}), columns heads (H0–H{result.num_heads - 1}); "
             "each map has its own colour scale (0 to its largest value). Click a map to open it above; the full "
             f"{result.num_layers}×{result.num_heads}×{t}×{t} tensor stays on the server.")
    return OverviewPicture(np.asarray(canvas), result.num_layers, result.num_heads, groups, per_group, map_px,
                           left, top, group_gap, note)


def summary_html(result: AttentionResult) -> str:
    kind = "decoder: causal, each token sees only earlier ones" if result.causal else \
        "encoder: bidirectional, every token sees every token"
    gqa = (f", {result.num_kv_heads} key/value heads (grouped-query attention)"
           if result.num_kv_heads < result.num_heads else "")
    tokens = " ".join(f'<span class="pg-chip pg-c{i % 6}" title="position {i}">{escape(visible(token))}</span>'
                      for i, token in enumerate(result.tokens[:400]))
    more = f" … and {result.num_tokens - 400} more" if result.num_tokens > 400 else ""
    return (f'<div class="pg-panel" id="att-summary-panel"><div class="pg-panel-title">{escape(result.model)} '
            f"({kind}) · {result.num_tokens} tokens · {result.num_layers} layers × {result.num_heads} heads{gqa}</div>"
            f'<div class="pg-chips">{tokens}{more}</div></div>')


def gqa_html(result: AttentionResult) -> str:
    if result.num_kv_heads >= result.num_heads:
        return (f'<div class="pg-note">{escape(result.model)} has no grouped-query attention: each of its '
                f"{result.num_heads} query heads has its own key/value head.</div>")
    rows = "".join(
        f"<tr><td>kv head {kv}</td><td>{', '.join(f'head {h}' for h, k in enumerate(result.kv_head_of) if k == kv)}"
        "</td></tr>" for kv in range(result.num_kv_heads))
    group = result.num_heads // result.num_kv_heads
    return (f'<div class="pg-note">{escape(result.model)}: {result.num_heads} query heads share '
            f"{result.num_kv_heads} key/value heads, {group} query heads per group. Heads in a group read the "
            "same keys and values but ask different questions (their own queries), so their maps can "
            'still differ.</div><table class="pg-summary" id="att-gqa-table"><tr><th>key/value head</th>'
            f"<th>query heads that read it</th></tr>{rows}</table>")


STAT_COLUMNS = ["layer", "head", "kv head", "kind", "entropy (bits)", "entropy / max", "first token",
                "previous token", "self", "next token"]


def stats_table(result: AttentionResult) -> list[list]:
    stats = stats_of(result)
    rows = []
    for layer in range(result.num_layers):
        for head in range(result.num_heads):
            rows.append([layer, head, result.kv_head_of[head], stats.kinds[layer][head],
                         *(round(float(a[layer, head]), 4) for a in (stats.entropy, stats.entropy_share, stats.sink,
                                                                      stats.previous, stats.self_score, stats.next))])
    return rows


def stats_figure(result: AttentionResult) -> go.Figure:
    stats = stats_of(result)
    figure = go.Figure()
    kinds = sorted({kind for row in stats.kinds for kind in row})
    for kind in kinds:
        where = [(l, h) for l in range(result.num_layers) for h in range(result.num_heads) if stats.kinds[l][h] == kind]
        figure.add_trace(go.Scatter(
            x=[float(stats.previous[l, h]) for l, h in where], y=[float(stats.sink[l, h]) for l, h in where],
            mode="markers", name=kind, customdata=[[l, h, float(stats.entropy[l, h])] for l, h in where],
            marker={"size": 9, "opacity": 0.8},
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}<br>previous-token %{x:.3f}<br>"
                          "first token %{y:.3f}<br>entropy %{customdata[2]:.2f} bits<extra>%{fullData.name}</extra>"))
    figure.update_layout(title="Heads by previous-token score and first-token (sink) share",
                         xaxis={"title": "previous-token score", "range": [-0.02, 1.02]},
                         yaxis={"title": "share on the first token", "range": [-0.02, 1.02]}, height=460)
    return figure


def focus_figure(result: AttentionResult, index: int, head: int) -> go.Figure:
    data = focus(result, index, head)
    labels = axis_labels(result)
    positions = list(range(result.num_tokens))
    figure = make_subplots(rows=result.num_layers, cols=2, shared_xaxes=True, vertical_spacing=0.012,
                           column_titles=[f"where “{plotly_text(data.token)}” attends",
                                          f"what attends to “{plotly_text(data.token)}”"],
                           row_titles=[f"L{l}" for l in range(result.num_layers)])
    for layer in range(result.num_layers):
        for col, values in ((1, data.attends_to[layer]), (2, data.attended_by[layer])):
            figure.add_trace(go.Bar(x=positions, y=values.astype(np.float32), customdata=labels, showlegend=False,
                                    marker={"color": "#1f6feb" if col == 1 else "#c0392b"},
                                    hovertemplate=f"layer {layer}<br>%{{customdata}}<br>weight %{{y:.4f}}<extra></extra>"),
                             row=layer + 1, col=col)
    # Each column on its own scale: what attends to a token is often far smaller than where it attends.
    for col, values in ((1, data.attends_to), (2, data.attended_by)):
        top = max(float(values.max()), 1e-6) * 1.05
        figure.update_yaxes(range=[0, top], nticks=2, tickformat=".2f", col=col)
    ticks = positions if result.num_tokens <= 40 else positions[::max(1, result.num_tokens // 40)]
    figure.update_xaxes(tickvals=ticks, ticktext=[labels[i] for i in ticks], tickangle=-60,
                        row=result.num_layers)
    who = "mean over heads" if head == -1 else f"head {head}"
    figure.update_layout(height=90 * result.num_layers + 200, margin={"t": 80, "b": 100},
                         title=f"Token focus on position {index} “{plotly_text(data.token)}” ({who}), every layer")
    return figure


def compare_layer_head(pair: Comparison, layer: int, head: int, most_changed: bool) -> tuple[int, int]:
    """The layer and head the comparison shows: the sliders', or where the focus word changes most."""
    if most_changed and pair.change is not None and float(pair.change.max()) > 0:
        return pair.most_changed()
    check_layer_head(pair.first, layer, head)
    return layer, head


def compare_figure(pair: Comparison, layer: int, head: int) -> go.Figure:
    """A's and B's maps on one layer and head, their difference B - A on its own (symmetric) scale, how much
    the focus word's row changes in every layer and head, and that row in A and in B."""
    first, second, i, j = pair.first, pair.second, pair.index_a, pair.index_b
    who = "mean over heads" if head == -1 else f"head {head}"
    word = plotly_text(first.tokens[i])
    a, b = select_weights(first, layer, head), select_weights(second, layer, head)
    figure = make_subplots(
        rows=3, cols=2, horizontal_spacing=0.16, vertical_spacing=0.1, row_heights=[0.4, 0.35, 0.25],
        specs=[[{}, {}], [{}, {}], [{"colspan": 2}, None]],
        subplot_titles=["A", "B", "B − A (positive: more attention in B)",
                        f"How much “{word}” changes: every layer and head", f"Where “{word}” attends in A and in B"])
    labels_a, labels_b = axis_labels(first), axis_labels(second)
    top = max(float(a.max()), float(b.max())) or 1.0
    for col, (weights, labels) in enumerate(((a, labels_a), (b, labels_b)), start=1):
        figure.add_trace(go.Heatmap(z=weights.astype(np.float32), x=labels, y=labels, colorscale=COLORSCALE, zmin=0,
                                    zmax=top, showscale=col == 2, colorbar={"title": {"text": "weight"}, "len": 0.38,
                                                                           "y": 0.81},
                                    hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>"),
                         row=1, col=col)
        figure.update_xaxes(type="category", tickangle=-60, row=1, col=col, **tick_labels(labels, 40))
        figure.update_yaxes(type="category", autorange="reversed", row=1, col=col, **tick_labels(labels, 40))
    if a.shape == b.shape:
        difference = (b - a).astype(np.float32)
        reach = float(np.abs(difference).max()) or 1e-6
        figure.add_trace(go.Heatmap(z=difference, x=labels_a, y=labels_a, colorscale="RdBu", reversescale=True,
                                    zmin=-reach, zmax=reach, colorbar={"title": {"text": "B − A"}, "len": 0.3,
                                                                       "y": 0.45, "x": 0.42},
                                    hovertemplate="query %{y}<br>key %{x}<br>B − A %{z:+.4f}<extra></extra>"),
                         row=2, col=1)
        figure.update_xaxes(type="category", tickangle=-60, row=2, col=1, **tick_labels(labels_a, 40))
        figure.update_yaxes(type="category", autorange="reversed", row=2, col=1, **tick_labels(labels_a, 40))
    if pair.change is not None:
        figure.add_trace(go.Heatmap(
            z=pair.change.astype(np.float32), x=[f"H{h}" for h in range(first.num_heads)],
            y=[f"L{l}" for l in range(first.num_layers)], colorscale=COLORSCALE, zmin=0,
            zmax=max(float(pair.change.max()), 1e-6), colorbar={"title": {"text": "change"}, "len": 0.3, "y": 0.45},
            hovertemplate="%{y} %{x}<br>total variation %{z:.3f}<extra></extra>"), row=2, col=2)
        figure.update_yaxes(autorange="reversed", row=2, col=2)
        if head >= 0:
            figure.add_shape(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                             line={"color": "#e8590c", "width": 3}, row=2, col=2)
    pieces = [f"{p} {plotly_text(x)}" if x == y else f"{p} {plotly_text(x)}→{plotly_text(y)}"
              for p, (x, y) in enumerate(zip(first.tokens, second.tokens))]
    if first.num_tokens == second.num_tokens:
        for name, row, colour, pattern in (("A", a[i], "#1f6feb", ""), ("B", b[j], "#c0392b", "/")):
            figure.add_trace(go.Bar(x=pieces, y=row.astype(np.float32), name=name, marker={"color": colour,
                                    "pattern": {"shape": pattern}},
                                    hovertemplate=f"{name}: %{{x}}<br>weight %{{y:.4f}}<extra></extra>"), row=3, col=1)
        figure.update_xaxes(type="category", tickangle=-60, row=3, col=1)
    longest = max(first.num_tokens, second.num_tokens)
    figure.update_layout(height=int(min(1800, max(1100, 34 * longest + 700))), barmode="group",
                         title=f"{escape(first.model)}, layer {layer}, {who}", margin={"b": 40},
                         legend={"orientation": "h", "y": -0.04})
    return figure


def compare_note(pair: Comparison, layer: int, head: int) -> str:
    """What the comparison shows, in words, with the numbers a student should look at."""
    first, word = pair.first, escape(visible(pair.first.tokens[pair.index_a]))
    where = f"layer {layer}, " + ("the mean over heads" if head == -1 else f"head {head}")
    if pair.change is None:
        return (f'<div class="pg-note" id="att-compare-summary">A has {first.num_tokens} tokens and B '
                f"{pair.second.num_tokens}, or “{word}” sits at different positions, so the maps can't be "
                f"subtracted position by position; shown side by side at {where}.</div>")
    if pair.first_difference is None:
        return (f'<div class="pg-note" id="att-compare-summary">A and B give the same tokens: nothing to '
                "compare. Change a word of one of them.</div>")
    changed = escape(visible(first.tokens[pair.first_difference]))
    other = escape(visible(pair.second.tokens[pair.first_difference]))
    if pair.blind:
        return (f'<div class="pg-note" id="att-compare-summary">{escape(first.model)} is a decoder: “{word}” '
                f"(position {pair.index_a}) comes before the first difference (position {pair.first_difference}, "
                f"“{changed}” / “{other}”), and a token only sees earlier ones, so its attention is the same in A and "
                f"B in every layer and head. The B − A map is zero above row {pair.first_difference}: only later "
                "tokens can react. Pick a later word (or an encoder such as all-minilm-l6-v2) to see a change.</div>")
    top_layer, top_head = pair.most_changed()
    biggest = float(pair.change.max())
    return (f'<div class="pg-note" id="att-compare-summary">A and B differ from position {pair.first_difference} '
            f"(“{changed}” / “{other}”). “{word}” changes its attention most at layer {top_layer}, head {top_head}: "
            f"a total variation of {biggest:.2f} (0: the same row, 1: no overlap). Shown: {where}, where it is "
            f"{float(pair.change[layer, head]) if head >= 0 else float(pair.change[layer].mean()):.2f}"
            f"{'' if head >= 0 else ' on average over heads'}.</div>")


def lens_html(result: AttentionResult, start: int, progress) -> str:
    start = max(0, min(int(start or 0), result.num_tokens - 1))
    stop = min(result.num_tokens, start + LENS_COLUMNS)
    lens = logit_lens(result, top_k=3, start=start, stop=stop, progress=progress)
    head = "".join(f'<th title="position {p}">{p}<br>{escape(visible(result.tokens[p]))}</th>' for p in range(start, stop))
    body = []
    for layer in range(result.num_layers):
        cells = []
        for p in range(stop - start):
            tops = " · ".join(f"{escape(visible(t))} {q:.0%}" for t, q in zip(lens.tokens[layer][p], lens.probs[layer, p]))
            best = lens.probs[layer, p, 0]
            red, green, blue = _palette()[int(round(float(best) * 255))]
            ink = readable_ink((red, green, blue))
            cells.append(f'<td title="{tops}" style="background:rgb({red},{green},{blue});color:{ink}">'
                         f"{escape(visible(lens.tokens[layer][p][0]))}<br><small>{best:.0%}</small></td>")
        body.append(f"<tr><th>L{layer}</th>{''.join(cells)}</tr>")
    note = (f"{escape(result.model)}, positions {start}–{stop - 1} of {result.num_tokens} (at most {LENS_COLUMNS} at "
            "a time; move the first position to see others). Each cell: the most likely next token read from that "
            "layer's output through the final norm and the output head, with its probability (the colour: dark is "
            "unsure, yellow is sure); hover for the top 3. The last row is the model's own prediction.")
    return (f'<div class="pg-note">{note}</div><div style="overflow-x:auto"><table class="pg-summary pg-lens" '
            f'id="att-lens-table"><tr><th>layer</th>{head}</tr>{"".join(body)}</table></div>')


def readable_ink(rgb: tuple[int, int, int]) -> str:
    """Black or white, whichever contrasts more with the background `rgb` (WCAG relative luminance); on any
    colour the better of the two reaches 4.5:1.

        >>> readable_ink((68, 1, 84)), readable_ink((253, 231, 37))     # Viridis' ends
        ('#fff', '#000')
    """
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2])
    return "#000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#fff"


def bertviz_frame(document: str, window, result: AttentionResult) -> str:
    cut = (f"tokens {window.start}–{window.stop - 1} of {result.num_tokens}" if window.stop - window.start <
           result.num_tokens else f"all {result.num_tokens} tokens")
    partial = (" Rows cut by the window do not sum to 1." if (window.start > 0 or
               (window.stop < result.num_tokens and not result.causal)) else "")
    return (f'<div class="pg-note">BertViz shows {cut}: its page carries every weight it shows, so long inputs '
            f"are cut to a window.{partial} require.js, d3 and jQuery are served by this app (CDN only as "
            f'fallback).</div><iframe id="att-bertviz-frame" title="BertViz" srcdoc="{escape(document)}" '
            'style="width:100%;height:760px;border:1px solid #ddd;border-radius:8px;background:#fff"></iframe>')


# ---------------------------------------------------------------------------------------------
# Handlers


def _kind(kind: str) -> str:
    return KINDS.get(kind, kind if kind in KINDS.values() else "weights")


def _int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}.") from None


@gpu_task
@friendly_errors
def analyze(text: str, model: str, layer, head, kind: str, without_sink: bool = True,
            progress=gr.Progress(track_tqdm=True)):
    """Streams two updates: the chosen heatmap as soon as the forward pass is done, then the overview and
    the head statistics (which read the whole layers x heads x T x T tensor)."""
    result = run_attention(text, model, progress_callback(progress))
    layer = min(max(_int(layer, "layer"), 0), result.num_layers - 1)
    head = min(max(_int(head, "head"), -1), result.num_heads - 1)
    waiting = '<div class="pg-note" id="att-overview-wait">Drawing the overview and the head statistics…</div>'
    yield (gr.update(maximum=result.num_layers - 1, value=layer), gr.update(maximum=result.num_heads - 1, value=head),
           summary_html(result), heatmap_figure(result, layer, head, _kind(kind), bool(without_sink)), None, waiting,
           None, None, gqa_html(result))
    picture = overview_image(result)
    note = f'<div class="pg-note" id="att-overview-note">{escape(picture.note)}</div>'
    yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(), image_file(picture.image, "overview"), note, stats_table(result),
           stats_figure(result), gr.skip())


@gpu_task
@friendly_errors
def show_head(text: str, model: str, layer, head, kind: str, without_sink: bool = True, progress=gr.Progress()):
    result = run_attention(text, model, progress_callback(progress))
    return heatmap_figure(result, _int(layer, "layer"), _int(head, "head"), _kind(kind), bool(without_sink))


@gpu_task
@friendly_errors
def pick_from_overview(text: str, model: str, without_sink: bool, evt: gr.SelectData):
    """A click on the overview opens that layer and head above (a click on a label or a gap does nothing)."""
    result = run_attention(text, model)
    picked = overview_image(result).pick(*(int(v) for v in evt.index[:2]))
    if picked is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    layer, head = picked
    return gr.update(value=layer), gr.update(value=head), heatmap_figure(result, layer, head, "weights",
                                                                         bool(without_sink)), \
        gr.update(value=list(KINDS)[0])


def _position(result: AttentionResult, token: str) -> int:
    token = (token or "").strip()
    if re.fullmatch(r"\d+", token):
        return int(token)
    return find_token(result, token)


@gpu_task
@friendly_errors
def show_focus(text: str, model: str, head, token: str, progress=gr.Progress()):
    result = run_attention(text, model, progress_callback(progress))
    return focus_figure(result, _position(result, token), _int(head, "head"))


@gpu_task
@friendly_errors
def show_compare(text_a: str, text_b: str, model: str, layer, head, word: str, most_changed: bool = True,
                 progress=gr.Progress()):
    pair = compare(text_a, text_b, model, word, progress_callback(progress))
    layer, head = compare_layer_head(pair, _int(layer, "layer"), _int(head, "head"), bool(most_changed))
    return compare_figure(pair, layer, head), compare_note(pair, layer, head)


@gpu_task
@friendly_errors
def show_lens(text: str, model: str, start, progress=gr.Progress()):
    """The logit lens of `model`, or of the default decoder when `model` is an encoder (which makes no
    next-token predictions), on the same text."""
    result = run_attention(text, model, progress_callback(progress))
    note = ""
    if not result.causal:
        note = (f'<div class="pg-note" id="att-lens-swap">{escape(result.model)} is an encoder: it predicts no next '
                f"token, so there is nothing to read layer by layer. The lens below reads {DEFAULT_DECODER}, a "
                "decoder, on the same text.</div>")
        result = run_attention(text, DEFAULT_DECODER, progress_callback(progress))
    return note + lens_html(result, _int(start, "start position"), progress_callback(progress))


@gpu_task
@friendly_errors
def show_bertviz(text: str, model: str, view: str, start, progress=gr.Progress()):
    result = run_attention(text, model, progress_callback(progress))
    window = bertviz_window(result, _int(start, "start position"))
    document = bertviz_document(result, "model" if view.lower().startswith("model") else "head", window, VENDOR_URL)
    path = export_folder("bertviz") / f"bertviz-{view.split()[0].lower()}-view.html"
    # The downloaded file opens from disk, away from this app: it carries require.js, d3 and jQuery itself.
    standalone = bertviz_document(result, "model" if view.lower().startswith("model") else "head", window,
                                  VENDOR_URL, inline_from=VENDOR)
    write_atomically(path, standalone.encode("utf-8"))
    return bertviz_frame(document, window, result), str(path)


@gpu_task
@friendly_errors
def export(text: str, model: str, layer, head, kind: str, token: str, text_a: str, text_b: str, word: str,
           progress=gr.Progress()):
    """JSON of the weights shown, and PNG + SVG of every figure the current inputs give."""
    result = run_attention(text, model, progress_callback(progress))
    layer, head, kind = _int(layer, "layer"), _int(head, "head"), _kind(kind)
    weights = shown_weights(result, layer, head, kind)
    folder = export_folder("attention")
    stem = f"attention-L{layer}-H{head}-{kind}"
    payload = {"model": result.model, "text": result.text, "tokens": result.tokens, "layer": layer, "head": head,
               "view": view_name(result, layer, head, kind), "weights": weights.astype(float).tolist()}
    write_atomically(folder / f"{stem}.json", json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    files = [str(folder / f"{stem}.json")]
    figures = {stem: heatmap_figure(result, layer, head, kind, without_sink=True), "head-stats": stats_figure(result)}
    skipped = []
    try:
        figures[f"focus-{_position(result, token)}"] = focus_figure(result, _position(result, token), head)
    except ValueError as error:
        skipped.append(f"token focus ({error})")
    try:
        pair = compare(text_a, text_b, model, word)
        figures["compare"] = compare_figure(pair, *compare_layer_head(pair, layer, head, most_changed=True))
    except ValueError as error:
        skipped.append(f"compare ({error})")
    shutil.copyfile(image_file(overview_image(result).image, "overview"), folder / "overview.png")
    files.append(str(folder / "overview.png"))
    note = "JSON of the weights shown; the overview as PNG."
    try:
        files += _write_images(figures, folder)
        note += f" PNG and SVG of {len(figures)} figures ({', '.join(figures)}), drawn by Kaleido."
    except Exception as error:  # Kaleido needs a Chromium; without one the modebar's camera still exports PNG
        note += (f" PNG/SVG could not be drawn here ({type(error).__name__}); use the camera button above each "
                 "figure to download a PNG.")
    if skipped:
        note += " Not drawn: " + "; ".join(skipped)
    return files, f'<div class="pg-note">{escape(note)}</div>'


def _write_images(figures: dict[str, go.Figure], folder: Path) -> list[str]:
    """Every figure as PNG and SVG through Kaleido, with Debian's chromium when there is one (Kaleido's own
    search otherwise); an error names what went wrong."""
    import kaleido

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    jobs = [{"fig": figure, "path": str(folder / f"{name}.{suffix}"),
             "opts": {"format": suffix, "width": 1100, "height": int(figure.layout.height or 700)}}
            for name, figure in figures.items() for suffix in ("png", "svg")]
    errors = kaleido.write_fig_from_object_sync(jobs, kopts={"path": browser} if browser else None)
    if errors:
        raise RuntimeError(f"Kaleido could not draw {len(errors)} figures: {errors[0]}")
    return [job["path"] for job in jobs]


@gpu_task
@friendly_errors
def attention_api(text: str, model: str, layer: int, head: int) -> dict:
    """The model's own attention weights (output_attentions=True, eager) for one layer and head
    (head -1: the mean over heads), with the tokens."""
    result = run_attention(text, model)
    return to_api(result, layer, head)


# ---------------------------------------------------------------------------------------------
# Layout


def python_lines(values: dict) -> list[str]:
    """Copy as Python: the lines after `client = Client(url)` that repeat this tab's run through its API."""
    lines = [f"text = {values['text']!r}",
             f'result = client.predict(text, {values["model"]!r}, {values["layer"]!r}, {values["head"]!r}, '
             'api_name="/attention")',
             "# result['weights'][query][key]: the T x T attention weights of that layer and head (-1: mean over heads)",
             'print(result["tokens"])',
             'for token, row in zip(result["tokens"], result["weights"]):',
             '    print(f"{token!r:>16}", " ".join(f"{w:.2f}" for w in row))']
    if values.get("kind") and "rollout" in str(values["kind"]).lower():
        lines.insert(0, "# The page showed attention rollout; the API gives the layer's own weights.")
    return lines



def build() -> Controls:
    gr.Markdown("Type a sentence and see, for any layer and head, which tokens attend to which. Encoders "
                "(all-MiniLM) look both ways; decoders (SmolLM2, Gemma) only at earlier tokens. The model runs "
                "once per input; moving the sliders re-uses that run.")
    with gr.Row():
        text = gr.Textbox(value=DEFAULT_TEXT, lines=3, max_lines=10, label="Text", elem_id="att-text", scale=3)
        with gr.Column(scale=1):
            model = gr.Dropdown(ALL_MODELS, value=DEFAULT_ENCODER, allow_custom_value=True, label="Model",
                                info="An embedded model, a local folder, or a Hub id.", elem_id="att-model")
            run = gr.Button("Show attention", variant="primary", elem_id="att-run")
    with gr.Row():
        layer = gr.Slider(0, 5, value=0, step=1, label="Layer", elem_id="att-layer")
        head = gr.Slider(-1, 11, value=-1, step=1, label="Head (-1: mean over heads)", elem_id="att-head")
        with gr.Column():
            kind = gr.Radio(list(KINDS), value=list(KINDS)[0], label="Show", elem_id="att-kind")
            without_sink = gr.Checkbox(True, label="Colour scale without the first token (attention sink)",
                                       elem_id="att-without-sink")
    summary = gr.HTML(elem_id="att-summary")
    heatmap = gr.Plot(label="One head", elem_id="att-heatmap")
    examples = gr.Examples([[DEFAULT_TEXT, DEFAULT_ENCODER], [DEFAULT_TEXT, DEFAULT_DECODER],
                            ["def add(a, b):\n    return a + b\n\nprint(add(2, 3))", DEFAULT_DECODER]],
                           [text, model], label="Try these")
    with gr.Accordion("All heads: layers × heads overview", open=True):
        overview_note = gr.HTML(elem_id="att-overview-note-box")
        overview_map = gr.Image(label="Overview (click a map)", type="numpy", interactive=False, format="png",
                                elem_id="att-overview", buttons=["download"])
    with gr.Accordion("What the heads do: statistics", open=False):
        gr.Markdown("Averaged over the query positions: **entropy** (how spread out a row is; "
                    "entropy / max = 1 is uniform), share on the **first token** (the attention sink), "
                    "**previous-token**, **self** and **next-token** scores. A head is named after a score "
                    "that passes its threshold. Click a column header to sort.")
        stats = gr.Dataframe(headers=STAT_COLUMNS, label="Per-head statistics", interactive=False,
                             elem_id="att-stats", max_height=420)
        stats_plot = gr.Plot(label="Heads", elem_id="att-stats-plot")
    with gr.Accordion("Grouped-query attention", open=False):
        gqa = gr.HTML(elem_id="att-gqa")
    with gr.Accordion("Token focus", open=False):
        with gr.Row():
            token = gr.Textbox(value="it", label="Token (a word of the text, or a position)", elem_id="att-token")
            focus_button = gr.Button("Show focus", elem_id="att-focus-run")
        focus_plot = gr.Plot(label="Token focus", elem_id="att-focus")
    with gr.Accordion("Compare two inputs", open=False):
        with gr.Row():
            text_a = gr.Textbox(value=COMPARE_A, label="Input A", elem_id="att-compare-a")
            text_b = gr.Textbox(value=COMPARE_B, label="Input B", elem_id="att-compare-b")
            word = gr.Textbox(value="it", label="Focus word", elem_id="att-compare-word")
        with gr.Row():
            most_changed = gr.Checkbox(True, label="Show the layer and head where the focus word changes most "
                                                   "(off: the layer and head above)", elem_id="att-compare-most")
            compare_button = gr.Button("Compare", elem_id="att-compare-run")
        compare_note_box = gr.HTML(elem_id="att-compare-note")
        compare_plot = gr.Plot(label="Compare", elem_id="att-compare")
    with gr.Accordion("Logit lens: what each layer would predict (decoders)", open=False):
        with gr.Row():
            lens_start = gr.Number(value=0, precision=0, label="First position", elem_id="att-lens-start")
            lens_button = gr.Button("Read every layer", elem_id="att-lens-run")
        lens = gr.HTML(elem_id="att-lens")
    with gr.Accordion("BertViz", open=False):
        with gr.Row():
            bv_view = gr.Radio(["Head view", "Model view"], value="Head view", label="View", elem_id="att-bv-view")
            bv_start = gr.Number(value=0, precision=0, label="First token", elem_id="att-bv-start")
            bv_button = gr.Button("Show BertViz", elem_id="att-bv-run")
        bertviz = gr.HTML(elem_id="att-bertviz")
        bv_file = gr.File(label="BertViz HTML", elem_id="att-bv-file")
    with gr.Accordion("Export", open=False):
        gr.Markdown("The camera button above each figure downloads it as PNG. This button writes the weights "
                    "shown as JSON, and every figure (heatmap, head statistics, token focus, compare) as PNG "
                    "and SVG, with the overview as PNG; it takes a few seconds.")
        export_button = gr.Button("Export: JSON, PNG, SVG", elem_id="att-export")
        export_note = gr.HTML(elem_id="att-export-note")
        export_files = gr.File(label="Files", file_count="multiple", elem_id="att-export-files")

    outputs = [layer, head, summary, heatmap, overview_map, overview_note, stats, stats_plot, gqa]
    results = outputs[2:]
    analyze_inputs = [text, model, layer, head, kind, without_sink]
    for trigger in (run.click, text.submit, model.select):
        # Progress and errors show on the heatmap only: the sliders stay usable, and a failed run clears
        # the old results instead of leaving them under red badges.
        clear_on_failure(trigger(analyze, analyze_inputs, outputs, api_visibility="private",
                                 show_progress_on=[heatmap]), results)
    for control in (layer, head):
        control.input(show_head, analyze_inputs, heatmap, api_visibility="private",
                      trigger_mode="always_last", show_progress="hidden")
    for control in (kind, without_sink):
        control.input(show_head, analyze_inputs, heatmap, api_visibility="private")
    overview_map.select(pick_from_overview, [text, model, without_sink], [layer, head, heatmap, kind],
                        api_visibility="private", show_progress_on=[heatmap])
    clear_on_failure(focus_button.click(show_focus, [text, model, head, token], focus_plot,
                                        api_visibility="private"), [focus_plot])
    clear_on_failure(compare_button.click(show_compare, [text_a, text_b, model, layer, head, word, most_changed],
                                          [compare_plot, compare_note_box], api_visibility="private",
                                          show_progress_on=[compare_plot]), [compare_plot, compare_note_box])
    clear_on_failure(lens_button.click(show_lens, [text, model, lens_start], lens, api_visibility="private"), [lens])
    clear_on_failure(bv_button.click(show_bertviz, [text, model, bv_view, bv_start], [bertviz, bv_file],
                                     api_visibility="private", show_progress_on=[bertviz]), [bertviz, bv_file])
    clear_on_failure(export_button.click(export, [text, model, layer, head, kind, token, text_a, text_b, word],
                                         [export_files, export_note], api_visibility="private"),
                     [export_files, export_note])
    run_on_example_click(examples, run)
    gr.api(attention_api, api_name="attention")
    return Controls(run, {"text": text, "model": model, "layer": layer, "head": head, "kind": kind,
                          "without_sink": without_sink}, python_lines, open_ranges=("layer", "head"))
