"""The Attention tab's comparison of two inputs: A's and B's maps, their difference, how much the focus word's
attention changes in every layer and head, and a note that says it in words.

    >>> from playground.attention import compare
    >>> pair = compare("The cat sat.", "The dog sat.", "all-minilm-l6-v2", "sat")   # [CLS] the cat sat . [SEP]
    >>> "A and B differ from position 2" in compare_note(pair, 0, -1)
    True
    >>> [trace.type for trace in compare_figure(pair, 0, -1).data]
    ['heatmap', 'heatmap', 'heatmap', 'heatmap', 'bar', 'bar']
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.attention import Comparison, select_weights
from tabs.attention_views import COLORSCALE, axis_labels, plotly_text, tick_labels, visible
from tabs.common import escape

__all__ = ["compare_figure", "compare_note"]


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
        return ('<div class="pg-note" id="att-compare-summary">A and B give the same tokens: nothing to '
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
