"""The Sampling tab's views, made from playground.sampling's results: coloured text with a status line per
strategy, the entropy plot, the step inspector's table, the beam trees (tabs/beam_tree.py), the many-samples
table and its first-token plot. Every piece of model or user text is escaped once: `escape` for HTML,
`plot_text` for Plotly's labels. Sizes and colours come from assets/style.css ("Sampling tab"), so the light
and the dark theme and projector mode restyle them.

    >>> plot_text('say "hi" <b>')
    'say "hi" &lt;b&gt;'
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from playground.sampling import Comparison, SampleStats, StrategyResult
from tabs.beam_tree import legend as beam_legend
from tabs.beam_tree import render_tree
from tabs.common import escape

__all__ = ["probability_colour", "plot_text", "render_outputs", "entropy_figure", "render_step", "beam_view",
           "render_samples", "first_token_figure"]

DASHES = ["solid", "dash", "dot", "dashdot"]  # lines stay apart without colour
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def probability_colour(p: float) -> str:
    """The upper half of Viridis: darker teal for unlikely tokens to light yellow for near-certain ones.
    Its lightness rises with p, so the order survives grayscale and colour-blindness; black text stays
    readable on every shade (contrast above 5:1)."""
    return sample_colorscale("Viridis", [0.5 + 0.5 * max(0.0, min(1.0, p))])[0]


def token_text(token: str) -> str:
    """A token as shown: escaped, newlines visible."""
    return escape(token).replace("\n", "↵<br>")


def plot_text(text: str) -> str:
    """Model text for a Plotly label: Plotly reads <b>, <br> and &lt; as markup but shows &quot; as it is, so
    only <, > and & are escaped (once)."""
    return html.escape(text, quote=False)


def render_tokens(result: StrategyResult) -> str:
    spans = []
    for i, (token, logprob) in enumerate(zip(result.tokens, result.token_logprobs)):
        p = math.exp(logprob) if math.isfinite(logprob) else 0.0
        entropy = result.entropies[i] if i < len(result.entropies) else float("nan")
        spans.append(f'<span class="pg-tok" data-step="{i}" style="background:{probability_colour(p)}" '
                     f'title="step {i}: p={p:.3f}, entropy {entropy:.2f} nats">{token_text(token)}</span>')
    return "".join(spans)


def card_status(result: StrategyResult, stopped: bool, max_new_tokens: int) -> tuple[str, str]:
    """What a column says about its run (a line of text) and, when it has no tokens, what stands in for them."""
    n = len(result.token_ids)
    mean = f", mean log p {sum(result.token_logprobs) / n:.2f}" if n else ""
    beams = result.strategy.num_beams
    if result.ended_by == "waiting":
        if stopped:
            return "stopped before beam search ran", "Stopped: beam search had not started."
        return ("waiting: beam search runs after the sampling rows",
                f"Beam search (model.generate with {beams} beams) starts when the sampling rows are done; "
                "its text and tree appear then.")
    if result.ended_by == "running" and result.strategy.name == "beam":
        if stopped:
            return "stopped during beam search", "Stopped: beam search gives its text only when it is done."
        return (f"searching with {beams} beams: step {result.searched} of at most {max_new_tokens}…",
                "model.generate is searching; the text and the tree appear when it is done.")
    if result.ended_by == "running":
        return (f"stopped after {n} tokens{mean}" if stopped else f"{n} tokens so far, generating…{mean}"), ""
    return f"{n} tokens, ended by {result.ended_by}{mean}", ""


def render_outputs(comparison: Comparison | None, stopped: bool = False) -> str:
    """One card per strategy: its tokens coloured by probability and a line saying how its run stands.
    `stopped`: the run was stopped before it was done (what streamed so far is kept)."""
    if comparison is None:
        return "<div class='pg-samp-empty'>Press Generate to compare the strategies.</div>"
    stopped = stopped and not comparison.done
    cards = []
    for index, result in enumerate(comparison.results):
        status, placeholder = card_status(result, stopped, comparison.max_new_tokens)
        body = render_tokens(result) or f"<span class='pg-samp-wait'>{escape(placeholder)}</span>"
        cards.append(
            f'<div class="pg-samp-card" data-strategy="{index}" style="border-top-color:{COLOURS[index % 8]}">'
            f'<div class="pg-samp-label"><b>{escape(result.strategy.label())}</b></div>'
            f'<div class="pg-samp-meta">{escape(status)}</div>'
            f'<div class="pg-samp-text">{body}</div></div>')
    state = ", stopped" if stopped else ("" if comparison.done else ", generating…")
    legend = ("<div class='pg-samp-legend'>Colour = probability the model gave each token: "
              f"<span class='pg-tok' style='background:{probability_colour(0.05)}'>&nbsp;unlikely&nbsp;</span> "
              f"<span class='pg-tok' style='background:{probability_colour(0.5)}'>&nbsp;even&nbsp;</span> "
              f"<span class='pg-tok' style='background:{probability_colour(0.95)}'>&nbsp;near certain&nbsp;</span>"
              f" (darker = less likely). Seed {comparison.seed}, {comparison.seconds:.1f} s{state}</div>")
    note = f"<div class='pg-samp-note'>{escape(comparison.prompt.note)}</div>" if comparison.prompt.note else ""
    return f"{note}<div id='pg-samp-cards'>{''.join(cards)}</div>{legend}"


PLOT_FONT = 13   # px


def plot_layout(figure: go.Figure, height: int, top: int = 40, **layout: Any) -> go.Figure:
    """The figures' common sizes: font, height and the top margin that holds the title."""
    figure.update_layout(height=height, font={"size": PLOT_FONT}, margin={"l": 50, "r": 10, "t": top, "b": 50},
                         **layout)
    return figure


def entropy_figure(comparison: Comparison | None) -> go.Figure:
    figure = go.Figure()
    if comparison is not None:
        for index, result in enumerate(comparison.results):
            if result.entropies:
                figure.add_trace(go.Scatter(
                    x=list(range(len(result.entropies))), y=list(result.entropies), mode="lines+markers",
                    name=result.strategy.label(), line={"color": COLOURS[index % 8], "dash": DASHES[index % 4]},
                    text=[plot_text(t) for t in result.tokens], hovertemplate="step %{x}: %{text}<br>%{y:.2f} nats"))
    return plot_layout(figure, 280, title="Entropy of the model's next-token distribution", xaxis_title="step",
                       yaxis_title="entropy (nats)")


def render_step(comparison: Comparison | None, index: int, step: int) -> str:
    """The candidates of one step, as a table: one column per stage, in the order they apply."""
    if comparison is None or not comparison.results:
        return "<div class='pg-samp-empty'>Generate first, then walk through the steps.</div>"
    index = max(0, min(int(index), len(comparison.results) - 1))
    result = comparison.results[index]
    if not result.steps:
        return f"<div class='pg-samp-empty'>{escape(result.strategy.label())}: no steps yet.</div>"
    step = max(0, min(int(step), len(result.steps) - 1))
    record = result.steps[step]
    tokenizer_text = dict(zip(result.token_ids, result.tokens))
    order: list[int] = []
    for stage in record.stages:
        tokenizer_text.update(zip((int(t) for t in stage.token_ids), stage.texts))
        tokenizer_text.update(zip((int(t) for t in stage.removed_ids), stage.removed_texts))
        for token_id in list(stage.token_ids) + list(stage.removed_ids):
            if int(token_id) not in order:
                order.append(int(token_id))
    probs = [{int(t): float(p) for t, p in zip(stage.token_ids, stage.probs)} for stage in record.stages]
    removed = [{int(t) for t in stage.removed_ids} for stage in record.stages]
    model_probs = probs[0]
    order.sort(key=lambda t: -model_probs.get(t, 0.0))
    header = "".join(f"<th>after {escape(stage.name)}<br><small>{stage.kept:,} kept"
                     f"{f', {stage.removed:,} removed' if stage.removed else ''}</small></th>"
                     if stage.name != "model" else "<th>model</th>" for stage in record.stages)
    rows = []
    for token_id in order:
        name = tokenizer_text.get(token_id, f"#{token_id}")
        cells = []
        gone = False
        for stage_probs, stage_removed in zip(probs, removed):
            if token_id in stage_removed or gone:
                gone = True
                cells.append("<td class='pg-removed'>removed</td>")
            elif token_id in stage_probs:
                p = stage_probs[token_id]
                cells.append(f"<td><span class='pg-samp-bar' style='width:{max(0.1, p * 8):.2f}em'></span> {p:.3f}</td>")
            else:
                cells.append("<td class='pg-samp-absent'>·</td>")
        chosen = token_id == record.token_id
        rows.append(f"<tr class='{'pg-chosen' if chosen else 'pg-cand'}'><td><code>{token_text(name)}</code>"
                    f"{' ◀ chosen' if chosen else ''}</td>{''.join(cells)}</tr>")
    if record.token_id not in order:
        rows.append(f"<tr class='pg-chosen'><td><code>"
                    f"{token_text(tokenizer_text.get(record.token_id, str(record.token_id)))}</code> ◀ chosen</td>"
                    f"<td colspan='{len(record.stages)}'>outside the top candidates</td></tr>")
    summary = (f"<p><b>{escape(result.strategy.label())}</b>, step {step} of {len(result.steps) - 1}: chose "
               f"<code>{token_text(tokenizer_text.get(record.token_id, ''))}</code> with model probability "
               f"{math.exp(record.logprob):.3f} (log p {record.logprob:.2f}), probability {math.exp(record.sample_logprob):.3f} "
               f"in the distribution it was drawn from; entropy {record.entropy:.2f} nats.</p>")
    return (f"<div class='pg-samp-steps'>{summary}<table id='pg-samp-steptable'><tr><th>token</th>{header}</tr>"
            f"{''.join(rows)}</table></div>")


def beam_view(comparison: Comparison | None, stopped: bool = False) -> str:
    """Every beam strategy's search tree, or a line saying why there is none yet."""
    def message(text: str) -> str:
        return f"<div class='pg-samp-empty'>{escape(text)}</div>"

    title = "<div class='pg-beam-title'>Beam tree</div>"
    beams = [r for r in comparison.results if r.strategy.name == "beam"] if comparison else []
    if not beams:
        return title + message("Choose beam in a strategy column and press Generate: its search tree appears here.")
    parts = []
    for result in beams:
        label = escape(result.strategy.label())
        if result.beam_tree is None or not result.beam_tree.nodes:
            if stopped and not comparison.done:
                text = ("stopped before beam search ran." if result.ended_by == "waiting" else
                        "stopped during beam search, which gives its tree only when it is done.")
            else:
                text = "beam search runs after the sampling rows; its tree appears here when it is done."
            parts.append(message(f"{result.strategy.label()}: {text}"))
            continue
        n = len(result.token_ids)
        total = sum(result.token_logprobs)
        parts.append(f"<div class='pg-beam-head'><b>{label}</b>: returned {n} tokens, total log p {total:.2f} "
                     "(top row). Read each row left to right; a column is a step.</div>"
                     f"{beam_legend(result.beam_tree)}"
                     f"{render_tree(result.beam_tree, comparison.prompt.text)}")
    return title + "".join(parts)


def render_samples(stats: Sequence[SampleStats]) -> str:
    rows = []
    for s in stats:
        rows.append(f"<tr><td>{escape(s.strategy.label())}</td><td>{len(s.samples)}</td><td>{s.distinct_1:.3f}</td>"
                    f"<td>{s.distinct_2:.3f}</td><td>{s.repetition:.3f}</td><td>{s.mean_logprob:.2f}</td>"
                    f"<td>{s.perplexity:.1f}</td><td>{escape(s.note)}</td></tr>")
    table = ("<table id='pg-samp-stats'><tr><th>strategy</th><th>samples</th><th>distinct-1</th><th>distinct-2</th>"
             "<th>repetition</th><th>mean log p</th><th>perplexity</th><th></th></tr>" + "".join(rows) + "</table>")
    lists = "".join(
        f"<details><summary>{escape(s.strategy.label())}: the samples</summary><ol>"
        + "".join(f"<li>{escape(text)}</li>" for text in s.texts) + "</ol></details>"
        for s in stats)
    help_text = ("<p class='pg-samp-help'>distinct-n: unique n-grams / all n-grams over the samples (higher = more "
                 "varied). Repetition: share of token pairs that repeat an earlier pair of the same sample. Perplexity: "
                 "exp(−mean log p) under the model.</p>")
    return f"<div class='pg-samp-many'>{table}{help_text}{lists}</div>"


def first_token_figure(stats: Sequence[SampleStats]) -> go.Figure:
    figure = go.Figure()
    for index, s in enumerate(stats):
        tokens = [t for t, _ in s.first_tokens]
        figure.add_trace(go.Bar(x=[plot_text(repr(t)) for t in tokens], y=[c for _, c in s.first_tokens],
                                name=s.strategy.label(), marker={"color": COLOURS[index % 8]}))
    return plot_layout(figure, 300, title="First token chosen, over the samples", barmode="group",
                       yaxis_title="samples")
