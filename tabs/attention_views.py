r"""The Attention tab's views, made from playground.attention's results: the heatmap of one head, the overview
of every head (a labelled picture that maps clicks back to a layer and head), the run's summary, the
grouped-query table, head statistics, token focus, the logit lens and the frame around BertViz. The comparison
of two inputs is drawn by tabs/attention_compare.py; tabs/attention.py wires them to the controls.

Every token text reaches the page escaped: Plotly labels through `plotly_text`, HTML through `escape`.

    >>> from playground.attention import run_attention
    >>> figure = heatmap_figure(run_attention("The cat sat.", "all-minilm-l6-v2"), layer=0, head=-1, kind="weights")
    >>> figure.data[0].type, figure.data[0].x
    ('heatmap', ('0 [CLS]', '1 the', '2 cat', '3 sat', '4 .', '5 [SEP]'))
    >>> plotly_text("<b>\tbold</b>")
    '&lt;b&gt;→bold&lt;/b&gt;'
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale, unlabel_rgb
from plotly.subplots import make_subplots

from playground.attention import (AttentionResult, BertvizWindow, focus, logit_lens, overview, overview_size,
                                  rollout_of, select_weights, stats_of)
from tabs.common import escape, show_whitespace

__all__ = ["COLORSCALE", "OVERVIEW_PIXELS", "LENS_COLUMNS", "STAT_COLUMNS", "OVERVIEW_WAIT", "visible", "plotly_text",
           "axis_labels", "typed_array", "view_name", "shown_weights", "colour_top", "tick_labels", "heatmap_figure",
           "OverviewPicture", "overview_groups", "overview_image", "overview_note_html", "summary_html", "gqa_html",
           "stats_table", "stats_figure", "focus_figure", "lens_html", "encoder_lens_note", "readable_ink",
           "bertviz_frame"]

COLORSCALE = "Viridis"
OVERVIEW_PIXELS = 900          # target width of the overview image
LENS_COLUMNS = 24
OVERVIEW_WAIT = '<div class="pg-note" id="att-overview-wait">Drawing the overview and the head statistics…</div>'


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


def overview_note_html(picture: OverviewPicture) -> str:
    """The overview's note as HTML (the picture's own note, escaped)."""
    return f'<div class="pg-note" id="att-overview-note">{escape(picture.note)}</div>'


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


def encoder_lens_note(model: str, decoder: str) -> str:
    """Why the lens below reads `decoder` rather than the encoder `model` the user chose."""
    return (f'<div class="pg-note" id="att-lens-swap">{escape(model)} is an encoder: it predicts no next '
            f"token, so there is nothing to read layer by layer. The lens below reads {escape(decoder)}, a "
            "decoder, on the same text.</div>")


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


def bertviz_frame(document: str, window: BertvizWindow, result: AttentionResult) -> str:
    cut = (f"tokens {window.start}–{window.stop - 1} of {result.num_tokens}" if window.stop - window.start <
           result.num_tokens else f"all {result.num_tokens} tokens")
    partial = (" Rows cut by the window do not sum to 1." if (window.start > 0 or
               (window.stop < result.num_tokens and not result.causal)) else "")
    return (f'<div class="pg-note">BertViz shows {cut}: its page carries every weight it shows, so long inputs '
            f"are cut to a window.{partial} require.js, d3 and jQuery are served by this app (CDN only as "
            f'fallback).</div><iframe id="att-bertviz-frame" title="BertViz" srcdoc="{escape(document)}" '
            'style="width:100%;height:760px;border:1px solid #ddd;border-radius:8px;background:#fff"></iframe>')
