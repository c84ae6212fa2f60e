"""What the "Why this token?" tab draws: token chips coloured by score, and its Plotly figures.

Scores use ColorBrewer's PuOr (purple: raises the target, orange: lowers it), which colour-blind viewers
tell apart; the sign is also in each chip's outline (solid: raises, dashed: lowers) so it survives
grayscale. Every token text is escaped once: `escape` for HTML, `label` for Plotly (which reads a small
HTML subset).

    >>> chip_colours(1.0)              # the strongest positive score: dark purple, white text
    ('rgb(45, 0, 75)', '#fff')
    >>> label("<b>")
    '&lt;b&gt;'
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from playground.inside import Attribution, Contributions, Intervention, Patching, TokenCounts
from tabs.common import escape, show_whitespace

DIVERGING = "PuOr"         # ColorBrewer, colour-blind safe: orange (-) .. white .. purple (+)
SEQUENTIAL = "Viridis"     # lightness rises with the value, so it reads in grayscale
METHOD_NAMES = {"integrated_gradients": "Integrated gradients", "gradient_x_input": "Gradient × input",
                "occlusion": "Occlusion", "attention_rollout": "Attention rollout"}
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
TOP_COMPONENTS = 15


def visible(text: str) -> str:
    """Whitespace-only tokens shown with visible symbols; line breaks and tabs inside a word too."""
    return show_whitespace(text) if not text.strip() else text.replace("\n", "↵").replace("\t", "→")


def label(text: str) -> str:
    """Token text for Plotly labels and hover text: < > & escaped, quotes left readable."""
    return escape(visible(text)).replace("&#x27;", "'").replace("&quot;", '"')


def _luminance(rgb: str) -> float:
    values = [float(v) / 255 for v in rgb[rgb.index("(") + 1:-1].split(",")]
    linear = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in values]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def chip_colours(share: float) -> tuple[str, str]:
    """(background, text) for a score as a share of the largest |score|, -1..1: text black or white,
    whichever contrasts more (at least sqrt(21) = 4.58:1 on any background)."""
    background = sample_colorscale(DIVERGING, [(max(-1.0, min(1.0, share)) + 1) / 2])[0]
    lum = _luminance(background)
    return background, ("#000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#fff")


def score_chips(tokens: list[str], scores: np.ndarray, kept: list[bool], unit: str) -> str:
    top = float(np.abs(scores).max()) or 1.0
    chips = []
    for i, (token, score) in enumerate(zip(tokens, scores)):
        share = float(score) / top
        background, text = chip_colours(share)
        sign = "why-pos" if share > 0.05 else "why-neg" if share < -0.05 else "why-zero"
        note = " (kept as it is in the baseline, so 0 by construction)" if kept[i] else ""
        chips.append(f'<span class="pg-chip why-chip {sign}{" why-kept" if kept[i] else ""}" '
                     f'style="background:{background};color:{text}" title="position {i}: {escape(repr(token))}, '
                     f'{unit} {float(score):+.4f}{escape(note)}">{escape(visible(token))}</span>')
    return f'<div class="pg-chips why-chips">{"".join(chips)}</div>'


def legend(top: float, unit: str) -> str:
    stops = ", ".join(f"{colour} {100 * i / 8:.0f}%" for i, colour in
                      enumerate(sample_colorscale(DIVERGING, list(np.linspace(0, 1, 9)))))
    return (f'<div class="why-legend pg-legend"><span>lowers {top:+.3g}</span>'
            f'<span class="why-scale" style="background:linear-gradient(90deg, {stops})"></span>'
            f'<span>raises {top:+.3g}</span> <span class="pg-chip why-chip why-pos">solid outline</span> '
            f'raises the {escape(unit)}, <span class="pg-chip why-chip why-neg">dashed</span> lowers it; hover a '
            "token for its score.</div>")


def _top_tokens(texts: list[str], probs: np.ndarray) -> str:
    return " ".join(f'<span class="pg-chip pg-c5">{escape(visible(t))} {p:.1%}</span>' for t, p in zip(texts, probs))


def attribution_html(result: Attribution) -> str:
    target = f"<b>{escape(repr(result.target))}</b> (p = {np.exp(result.target_logprob):.3f})"
    if result.contrast is not None:
        what = (f"log p({escape(repr(result.target))}) − log p({escape(repr(result.contrast))}) = "
                f"{result.explained:.3f}: why {target} and not <b>{escape(repr(result.contrast))}</b> "
                f"(p = {np.exp(result.contrast_logprob):.3f})")
        unit = "difference of log-probabilities"
    elif result.method == "attention_rollout":
        what, unit = f"the attention flowing into the last position (the target {target} plays no part)", "share"
    else:
        what, unit = f"log p({escape(repr(result.target))}) = {result.explained:.3f}, the target {target}", \
            "log-probability"
    lines = [f'<div class="pg-panel-title">{METHOD_NAMES[result.method]} on {escape(result.model)}: {what}</div>']
    if result.completeness_error is not None:
        gap = result.explained - result.baseline_value
        good = "within" if result.completeness_error < 0.05 else "above"
        lines.append(f'<div class="why-complete">Completeness: the scores add up to {float(result.scores.sum()):.3f}; '
                     f"F(prompt) − F(baseline) = {result.explained:.3f} − ({result.baseline_value:.3f}) = {gap:.3f}. "
                     f"Error {100 * result.completeness_error:.1f}% with {result.steps} steps ({good} 5%"
                     f"{'' if good == 'within' else '; more steps make it smaller'}). The baseline replaces every "
                     "token but the first with the padding token.</div>")
    lines.append(legend(float(np.abs(result.scores).max()), unit))
    lines.append(score_chips(result.tokens, result.scores, result.kept, unit))
    lines.append(f'<div class="why-top">The model\'s most likely next tokens: '
                 f"{_top_tokens(result.top_tokens, result.top_probs)}</div>")
    lines += [f'<div class="pg-note">{escape(note)}</div>' for note in result.notes]
    return f'<div class="pg-panel" id="why-attribution-panel">{"".join(lines)}</div>'


def _figure_layout(figure: go.Figure, title: str, height: int) -> go.Figure:
    figure.update_layout(title={"text": title}, height=height, margin={"l": 70, "r": 20, "t": 60, "b": 90},
                         font={"size": 14})
    return figure


def attribution_plot(result: Attribution) -> go.Figure:
    labels = [f"{i} {label(t)}" for i, t in enumerate(result.tokens)]
    top = float(np.abs(result.scores).max()) or 1.0
    colours = [chip_colours(float(s) / top)[0] for s in result.scores]
    # y as a plain list: Gradio's plotly.js drew no bars from a float64 typed array here (the axis, no bars)
    figure = go.Figure(go.Bar(x=labels, y=[float(s) for s in result.scores], marker={"color": colours,
                                                                                "line": {"color": "#333", "width": 1}},
                              hovertemplate="%{x}<br>score %{y:+.4f}<extra></extra>"))
    figure.update_xaxes(type="category", tickangle=-45, title="prompt token")
    figure.update_yaxes(title="score", zeroline=True, zerolinecolor="#444", zerolinewidth=2)
    return _figure_layout(figure, f"{METHOD_NAMES[result.method]}: score per prompt token", 420)


def component_name(layer: int | None, kind: str, head: int | None) -> str:
    if kind == "embedding":
        return "embedding"
    return f"L{layer} head {head}" if head is not None else f"L{layer} {'attention' if kind == 'attention' else 'MLP'}"


def contributions_html(result: Contributions) -> str:
    whole = [c for c in result.components if c.head is None]
    sums = {kind: sum(c.value for c in whole if c.kind == kind) for kind in ("embedding", "attention", "mlp")}
    ranked = sorted((c for c in result.components if c.kind == "embedding" or c.head is not None or c.kind == "mlp"),
                    key=lambda c: -abs(c.value))[:TOP_COMPONENTS]
    rows = "".join(
        f"<tr><td>{escape(component_name(c.layer, c.kind, c.head))}</td><td>{c.value:+.3f}</td>"
        f"<td>{escape(', '.join(repr(t) for t in c.promotes))}</td>"
        f"<td>{escape(', '.join(repr(t) for t in c.suppresses))}</td></tr>" for c in ranked)
    notes = "".join(f'<div class="pg-note">{escape(n)}</div>' for n in [result.target_note, *result.notes] if n)
    return (f'<div class="pg-panel" id="why-contributions-panel"><div class="pg-panel-title">The logit of '
            f"{escape(repr(result.target))} is {result.logit:.3f} = embedding {sums['embedding']:+.3f} + attention "
            f"{sums['attention']:+.3f} + MLP {sums['mlp']:+.3f} (sum {sum(sums.values()):.3f})</div>"
            '<div class="pg-note">Each part is what that block wrote into the last position\'s residual stream, read '
            "through the final norm (its scale taken from this run) and the output head's row for the target. "
            "Heads and MLP blocks with the largest effect, and the tokens each pushes up and down most:</div>"
            f'<table class="pg-summary" id="why-components-table"><tr><th>component</th><th>logit</th>'
            f"<th>promotes most</th><th>suppresses most</th></tr>{rows}</table>{notes}</div>")


def contributions_plot(result: Contributions) -> go.Figure:
    grid = result.grid()                                                      # (L, H + 2)
    columns = [f"H{h}" for h in range(result.num_heads)] + ["attention", "MLP"]
    hover = [["" for _ in columns] for _ in range(result.num_layers)]
    for c in result.components:
        if c.layer is not None:
            column = c.head if c.head is not None else result.num_heads + (c.kind == "mlp")
            hover[c.layer][column] = (f"promotes {label(', '.join(repr(t) for t in c.promotes))}<br>"
                                      f"suppresses {label(', '.join(repr(t) for t in c.suppresses))}")
    top = float(np.abs(grid).max()) or 1.0
    text = [[f"{v:+.1f}" if abs(v) >= 0.2 * top else "" for v in row] for row in grid]
    layers = list(range(result.num_layers))
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.74, 0.26], horizontal_spacing=0.03,
                           subplot_titles=["each head, attention block and MLP", "each layer (attention + MLP)"])
    figure.add_trace(go.Heatmap(z=grid, x=columns, y=layers, colorscale=DIVERGING, zmid=0, zmin=-top, zmax=top,
                                text=text, texttemplate="%{text}", customdata=hover,
                                colorbar={"title": {"text": "logit"}, "x": -0.16},
                                hovertemplate="layer %{y}, %{x}: %{z:+.3f}<br>%{customdata}<extra></extra>"), 1, 1)
    totals = grid[:, -2] + grid[:, -1]
    figure.add_trace(go.Bar(x=totals, y=layers, orientation="h", showlegend=False,
                            marker={"color": [chip_colours(v / (float(np.abs(totals).max()) or 1))[0] for v in totals],
                                    "line": {"color": "#333", "width": 1}},
                            hovertemplate="layer %{y}: %{x:+.3f}<extra></extra>"), 1, 2)
    figure.update_yaxes(title="layer", autorange="reversed", dtick=1 if result.num_layers <= 32 else 4, row=1, col=1)
    figure.update_xaxes(title="logit", zeroline=True, zerolinecolor="#444", row=1, col=2)
    title = (f"Direct effect on the logit of {label(repr(result.target))} (embedding "
             f"{result.embedding().value:+.2f})")
    return _figure_layout(figure, title, int(min(1400, 26 * result.num_layers + 200)))


def intervention_html(result: Intervention) -> str:
    before, after = result.before_top, result.after_top
    lines = [f'<div class="pg-panel-title">{escape(result.description[:1].upper() + result.description[1:])}</div>',
             f"<div>Most likely next token before: <b>{escape(repr(before.tokens[0]))}</b> {before.before[0]:.1%}; "
             f"after: <b>{escape(repr(after.tokens[0]))}</b> {after.after[0]:.1%}. KL(before ‖ after) = "
             f"{result.kl:.4f} nats{' (no change)' if result.kl == 0 else ''}.</div>"]
    if result.tokens_after != result.tokens_before:
        lines.append('<div class="pg-chips">Prompt run after the change: ' + "".join(
            f'<span class="pg-chip pg-c{i % 6}">{escape(visible(t))}</span>' for i, t in enumerate(result.tokens_after))
            + "</div>")
    return f'<div class="pg-panel" id="why-intervention-panel">{"".join(lines)}</div>'


def intervention_plot(result: Intervention, shown: int = 10) -> go.Figure:
    seen, tokens, before, after = set(), [], [], []
    for top in (result.before_top, result.after_top):
        for token_id, token, p, q in list(zip(top.token_ids, top.tokens, top.before, top.after))[:shown]:
            if token_id not in seen:
                seen.add(token_id)
                tokens.append(label(repr(token)))
                before.append(float(p))
                after.append(float(q))
    order = np.argsort(before)
    tokens, before, after = [tokens[i] for i in order], [before[i] for i in order], [after[i] for i in order]
    figure = go.Figure([
        go.Bar(y=tokens, x=before, orientation="h", name="before", marker={"color": "#3b2a73"},
               hovertemplate="%{y}: %{x:.2%} before<extra></extra>"),
        go.Bar(y=tokens, x=after, orientation="h", name="after", marker={"color": "#e08214", "pattern": {"shape": "/"},
                                                                       "line": {"color": "#333", "width": 1}},
               hovertemplate="%{y}: %{x:.2%} after<extra></extra>")])
    figure.update_layout(barmode="group", legend={"orientation": "h", "y": 1.08})
    figure.update_xaxes(title="probability", tickformat=".0%")
    figure.update_yaxes(type="category")
    return _figure_layout(figure, "Next-token probabilities before and after", int(120 + 34 * len(tokens)))


def counts_html(counts: TokenCounts) -> str:
    if not counts.clean or not counts.corrupted:
        return ""
    same = len(counts.clean) == len(counts.corrupted)
    verdict = ("the same length: ready" if same else
               f"different lengths: {len(counts.clean)} and {len(counts.corrupted)} tokens; make them equal")

    def row(tokens, other):
        return "".join(f'<span class="pg-chip pg-c{i % 6}{" pg-diff" if same and t != other[i] else ""}">'
                       f"{escape(visible(t))}</span>" for i, t in enumerate(tokens))
    return (f'<div class="why-counts pg-legend">Clean: {len(counts.clean)} tokens, corrupted: {len(counts.corrupted)} '
            f'tokens, {verdict}.<div class="pg-chips">{row(counts.clean, counts.corrupted)}</div>'
            f'<div class="pg-chips">{row(counts.corrupted, counts.clean)}</div></div>')


def patching_html(result: Patching) -> str:
    kind = {"residual": "the residual stream after", "attention": "the attention output of",
            "mlp": "the MLP output of"}[result.kind]
    note = f'<div class="pg-note">{escape(result.target_note)}</div>' if result.target_note else ""
    return (f'<div class="pg-panel" id="why-patching-panel"><div class="pg-panel-title">Answer '
            f"{escape(repr(result.target))}: p = {result.p_clean:.3f} after the clean prompt, "
            f"{result.p_corrupted:.3f} after the corrupted one</div><div>Each cell: the corrupted prompt run with "
            f"{kind} one layer at one position copied from the clean run; 1 = the clean answer's probability fully "
            "back, 0 = as corrupted: (p_patched − p_corrupted) / (p_clean − p_corrupted).</div>"
            f"{note}</div>")


def patching_plot(result: Patching) -> go.Figure:
    positions = [f"{i} {label(a)}" + (f" / {label(b)}" if a != b else "")
                 for i, (a, b) in enumerate(zip(result.clean_tokens, result.corrupted_tokens))]
    restored = result.restored.astype(float)
    text = [[f"{v:.2f}" if abs(v) >= 0.1 else "" for v in row] for row in restored]
    layers = list(range(restored.shape[0]))
    figure = go.Figure(go.Heatmap(z=restored, x=positions, y=layers, colorscale=SEQUENTIAL, zmin=0, zmax=1,
                                  text=text, texttemplate="%{text}", customdata=result.p_patched.astype(float),
                                  colorbar={"title": {"text": "restored"}},
                                  hovertemplate="layer %{y}, position %{x}<br>restored %{z:.3f}<br>"
                                                "p = %{customdata:.4f}<extra></extra>"))
    figure.update_xaxes(type="category", tickangle=-45, title="position (clean / corrupted token)")
    figure.update_yaxes(title="layer", autorange="reversed", dtick=1 if len(layers) <= 32 else 4)
    kind = {"residual": "residual stream", "attention": "attention output", "mlp": "MLP output"}[result.kind]
    return _figure_layout(figure, f"Activation patching of the {kind}: restored probability of "
                          f"{label(repr(result.target))}", int(min(1400, 24 * len(layers) + 230)))
