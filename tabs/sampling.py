"""The Sampling tab: decoding strategies side by side on one prompt, streamed token by token.

The handlers turn the strategy controls into the API's strategy dicts, call playground.sampling and
format what comes back: coloured text, an entropy plot, a step inspector, a beam tree (tabs/beam_tree.py),
many-samples statistics. Every piece of model or user text is escaped once: `escape` for HTML, `plot_text` for
Plotly's labels. A strategy column shows only the sliders its strategy reads (`USES`).

    >>> slots_to_strategies(["greedy", 1.0, 50, 0.9, 4], ["top_p", 0.8, 50, 0.9, 4])
    [{'name': 'greedy'}, {'name': 'top_p', 'temperature': 0.8, 'p': 0.9}]
    >>> USES["top_p"]                     # the sliders of a top-p column
    ('temperature', 'p')
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Sequence

import gradio as gr
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from playground import public
from playground.catalog import DEFAULT_DECODER
from playground.sampling import (MAX_NEW_TOKENS, STRATEGY_NAMES, Comparison, SampleStats, StrategyResult,
                                 compare, many_samples, stream_comparison)
from playground.gpu import gpu_task
from tabs.beam_tree import legend as beam_legend
from tabs.beam_tree import render_tree
from tabs.common import DECODERS, Controls, escape, friendly_errors, progress_callback
from tabs.share import click_js

OFF = "off"
SLOT_DEFAULTS = [  # name, temperature, k, p, beams
    ("greedy", 1.0, 50, 0.9, 3),
    ("top_k", 1.0, 40, 0.9, 3),
    ("top_p", 0.8, 50, 0.9, 3),
    ("beam", 1.0, 50, 0.9, 3),
    ("min_p", 1.0, 50, 0.1, 3),
]
SLOT_KEYS = ("strategy", "temperature", "k", "p", "beams")  # link / lesson keys of a column: strategy1, k1, ...
# The sliders each strategy reads (slot_to_strategy); a column shows only these.
USES: dict[str, tuple[str, ...]] = {
    OFF: (), "greedy": (), "beam": ("beams",), "top_k": ("temperature", "k"), "top_p": ("temperature", "p"),
    "temperature": ("temperature",), "min_p": ("temperature", "p"), "typical": ("temperature", "p"),
}
P_LABELS = {"top_p": "p (top-p)", "min_p": "min-p (share of the top token's probability)", "typical": "typical mass"}
ABOUT = {  # one line under each strategy's name
    OFF: "This column is not used.",
    "greedy": "Always the single most likely token: no parameters, no randomness.",
    "beam": "Keeps the n most likely partial texts (beams) and returns the best.",
    "top_k": "Samples among the k most likely tokens.",
    "top_p": "Samples among the smallest set of likely tokens whose probabilities add up to p.",
    "temperature": "Samples from the whole distribution, sharpened (T < 1) or flattened (T > 1).",
    "min_p": "Samples among tokens at least min-p times as likely as the top token.",
    "typical": "Samples among the tokens whose surprise is closest to the average surprise.",
}
DEFAULT_PROMPT = "Write one sentence about the sea."
EXAMPLES = [
    ["Write one sentence about the sea.", DEFAULT_DECODER, True],
    ["The capital of France is", "gemma-3-270m", False],
    ["Give me three names for a cat.", DEFAULT_DECODER, True],
]
DASHES = ["solid", "dash", "dot", "dashdot"]  # lines stay apart without colour
PROJECTOR_SCALE = 1.45  # projector mode's text sizes (assets/style.css) over the normal ones
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


# ---------------------------------------------------------------------------------------------
# Inputs


def slot_to_strategy(name: str, temperature: float, k: float, p: float, beams: float) -> dict | None:
    """One column of controls as an API strategy dict (None when the column is off)."""
    if not name or name == OFF:
        return None
    if name == "greedy":
        return {"name": "greedy"}
    if name == "beam":
        return {"name": "beam", "num_beams": int(beams)}
    spec: dict[str, Any] = {"name": name, "temperature": float(temperature)}
    if name == "top_k":
        spec["k"] = int(k)
    elif name == "top_p":
        spec["p"] = float(p)
    elif name == "min_p":
        spec["min_p"] = float(p)
    elif name == "typical":
        spec["mass"] = float(p)
    return spec


def slots_to_strategies(*slots: Sequence[Any]) -> list[dict]:
    return [spec for spec in (slot_to_strategy(*slot) for slot in slots) if spec is not None]


def slot_props(name: str) -> list[dict]:
    """Properties of a column's temperature, k, p and beams sliders for a strategy: only those it reads are
    visible, and the p slider says what p means for it.

    >>> [props["visible"] for props in slot_props("top_k")], slot_props("min_p")[2]["label"]
    ([True, True, False, False], "min-p (share of the top token's probability)")
    """
    uses = USES.get(name, ())
    props = [{"visible": key in uses} for key in SLOT_KEYS[1:]]
    props[2]["label"] = P_LABELS.get(name, "p")
    return props


def slot_updates(name: str) -> list:
    """The updates of a column when its strategy changes (values stay: a lesson or a link sets them too)."""
    return [gr.update(info=ABOUT.get(name, "")), *(gr.update(**props) for props in slot_props(name))]


# ---------------------------------------------------------------------------------------------
# Formatting


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


PLOT_FONT = 13   # px; projector mode scales Plotly's fonts and heights from layout.meta (PLOT_SCALE_JS)


def plot_layout(figure: go.Figure, height: int, **layout: Any) -> go.Figure:
    figure.update_layout(height=height, font={"size": PLOT_FONT}, meta={"pg_font": PLOT_FONT, "pg_height": height},
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
                       yaxis_title="entropy (nats)", margin={"l": 50, "r": 10, "t": 40, "b": 40})


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
                       yaxis_title="samples", margin={"l": 50, "r": 10, "t": 40, "b": 60})


# ---------------------------------------------------------------------------------------------
# Handlers


@gpu_task
@friendly_errors
def generate(prompt: str, model: str, strategies: list[dict], max_new_tokens: int, seed: int, chat: bool) -> dict:
    """Run the strategies on one prompt and return, per strategy in order: strategy, text, token_ids (new tokens
    only), token_logprobs (model log-probabilities), entropies and the per-step candidates."""
    return compare(model, prompt, strategies, max_new_tokens, seed, chat).to_dict()


@gpu_task
@friendly_errors
def run_stream(prompt, model, chat, max_new_tokens, seed, *slot_values, progress=gr.Progress(track_tqdm=True)):
    """Stream snapshots into (state, outputs, entropy plot, beam tree, raw prompt); `finish_run` follows."""
    slots = [slot_values[i:i + 5] for i in range(0, len(slot_values), 5)]
    strategies = slots_to_strategies(*slots)
    yield None, gr.skip(), gr.skip(), gr.skip(), gr.skip()      # a run that fails leaves no stale snapshot
    for comparison in stream_comparison(model, prompt, strategies, max_new_tokens, seed, chat,
                                        progress_callback(progress)):
        yield (comparison, render_outputs(comparison), entropy_figure(comparison), beam_view(comparison),
               comparison.prompt.text)


def inspector_updates(comparison: Comparison | None):
    """Step slider range, strategy choices and the first step's view for a (possibly stopped) comparison."""
    if comparison is None:
        return gr.skip(), gr.skip(), render_step(None, 0, 0)
    steps = max((len(r.steps) for r in comparison.results), default=1)
    choices = [(f"{i + 1}. {r.strategy.label()}", i) for i, r in enumerate(comparison.results)]
    return (gr.update(maximum=max(1, steps - 1), value=0), gr.update(choices=choices, value=0),
            render_step(comparison, 0, 0))


def finish_run(comparison: Comparison | None):
    """After a run ends or is stopped (the page calls this once Stop's cancel has gone through, so no late
    snapshot overwrites it): a stopped run's columns say where they stopped, and the run, whole or partial,
    opens in the step inspector."""
    if comparison is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    stopped = not comparison.done
    return render_outputs(comparison, stopped), beam_view(comparison, stopped), *inspector_updates(comparison)


def show_step(comparison, index, step):
    return render_step(comparison, index or 0, step or 0)


@gpu_task
@friendly_errors
def run_samples(prompt, model, chat, seed, n, tokens, *slot_values, progress=gr.Progress(track_tqdm=True)):
    slots = [slot_values[i:i + 5] for i in range(0, len(slot_values), 5)]
    stats = many_samples(model, prompt, slots_to_strategies(*slots), int(n), int(tokens), seed, chat,
                         progress_callback(progress))
    return render_samples(stats), first_token_figure(stats)


# ---------------------------------------------------------------------------------------------
# Layout

# Projector mode enlarges Plotly's fonts through the figures' own layout (Plotly.relayout), not CSS, so that
# margins and legends make room: on every new figure and every projector toggle, from layout.meta's base sizes.
PLOT_SCALE_JS = """
if (!window.pgSampPlotScale) {
  window.pgSampPlotScale = true;
  const scale = (plot) => {
    const meta = plot.layout && plot.layout.meta;
    if (!window.Plotly || !meta || !meta.pg_font) return;
    const factor = document.body.classList.contains("pg-projector") ? %s : 1;
    if (plot.layout.font && plot.layout.font.size === meta.pg_font * factor) return;
    window.Plotly.relayout(plot, {"font.size": meta.pg_font * factor, "height": meta.pg_height * factor});
  };
  const all = () => document.querySelectorAll("#samp-entropy .js-plotly-plot, #samp-first .js-plotly-plot")
    .forEach(scale);
  const watch = new MutationObserver(all);
  watch.observe(document.body, {attributes: true, attributeFilter: ["class"]});
  watch.observe(element.closest("[role=tabpanel]") || document.body, {childList: true, subtree: true});
  all();
}
""" % PROJECTOR_SCALE


def python_lines(values: dict) -> list[str]:
    """Copy as Python: the lines after `client = Client(url)` that repeat this tab's run through its API."""
    slots = [[values[f"{name}{i + 1}"] for name in SLOT_KEYS] for i in range(len(SLOT_DEFAULTS))]
    return [f"prompt = {values['prompt']!r}",
            f"strategies = {slots_to_strategies(*slots)!r}",
            f'result = client.predict(prompt, {values["model"]!r}, strategies, {values["max_new_tokens"]!r}, '
            f'{values["seed"]!r}, {values["chat"]!r}, api_name="/generate")',
            'for row in result["results"]:',
            '    print(row["label"], "->", row["text"])']


def strategy_column(index: int, name: str, temperature: float, k: int, p: float, beams: int) -> list:
    """A strategy dropdown and its four sliders, of which only those the strategy reads are shown."""
    props = slot_props(name)
    dropdown = gr.Dropdown([OFF, *STRATEGY_NAMES], value=name, label=f"Strategy {index + 1}", info=ABOUT[name],
                           elem_id=f"samp-name-{index}")
    sliders = [gr.Slider(0.05, 3.0, value=temperature, step=0.05, label="temperature", elem_id=f"samp-temperature-{index}",
                         **props[0]),
               gr.Slider(1, 200, value=k, step=1, label="k (top-k)", elem_id=f"samp-k-{index}", **props[1]),
               gr.Slider(0.01, 1.0, value=p, step=0.01, elem_id=f"samp-p-{index}", **props[2]),
               gr.Slider(1, 8, value=beams, step=1, label="beams", elem_id=f"samp-beams-{index}", **props[3])]
    dropdown.change(slot_updates, dropdown, [dropdown, *sliders], api_visibility="private", queue=False,
                    show_progress="hidden")
    return [dropdown, *sliders]


def build() -> Controls:
    gr.Markdown("Generation is a loop: the model gives a probability for every possible next token, a **strategy** "
                "picks one, and the loop repeats. Compare strategies on one prompt with one seed; all sampling "
                "strategies run together in one batched loop.")
    with gr.Row():
        prompt = gr.Textbox(DEFAULT_PROMPT, label="Prompt", lines=2, scale=3, elem_id="samp-prompt")
        with gr.Column(scale=2):
            model = gr.Dropdown(DECODERS, value=DEFAULT_DECODER, label="Model (or a Hub id)", allow_custom_value=True,
                                elem_id="samp-model")
            chat = gr.Checkbox(True, label="Use the model's chat template", elem_id="samp-chat")
    with gr.Row():
        max_new = gr.Slider(1, min(256, MAX_NEW_TOKENS, public.limit("max_new_tokens") or 256), value=40, step=1,
                            label="Max new tokens", elem_id="samp-max-new")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="samp-seed")
    slot_inputs: list[gr.components.Component] = []
    with gr.Row():
        for i, slot in enumerate(SLOT_DEFAULTS):
            with gr.Column(min_width=180, elem_id=f"samp-slot-{i}"):
                slot_inputs += strategy_column(i, *slot)
    with gr.Row():
        run = gr.Button("Generate", variant="primary", elem_id="samp-run")
        stop = gr.Button("Stop", variant="stop", elem_id="samp-stop")
    state = gr.State(None)
    outputs_html = gr.HTML(render_outputs(None), elem_id="samp-outputs", js_on_load=PLOT_SCALE_JS)
    entropy_plot = gr.Plot(label="Entropy per step", elem_id="samp-entropy")
    with gr.Accordion("The prompt the model reads", open=False):
        raw_prompt = gr.Textbox(label="Raw prompt (chat template applied when used)", lines=4, interactive=False,
                                elem_id="samp-raw-prompt")
    with gr.Accordion("Step inspector: candidates before and after each transform", open=True):
        with gr.Row():
            which = gr.Dropdown([], label="Strategy", elem_id="samp-which", scale=1)
            step = gr.Slider(0, 1, value=0, step=1, label="Step", elem_id="samp-step", scale=3)
        step_html = gr.HTML(render_step(None, 0, 0), elem_id="samp-step-view")
    beam_html = gr.HTML(beam_view(None), elem_id="samp-beam")
    with gr.Accordion("Many samples: diversity and likelihood", open=False):
        with gr.Row():
            n_samples = gr.Slider(2, min(50, public.limit("samples") or 50), value=20, step=1,
                                  label="Samples per strategy", elem_id="samp-n")
            n_tokens = gr.Slider(4, 64, value=16, step=1, label="Tokens per sample", elem_id="samp-tokens")
            draw = gr.Button("Draw samples", elem_id="samp-draw")
        stats_html = gr.HTML(elem_id="samp-stats")
        first_plot = gr.Plot(label="First tokens", elem_id="samp-first")
    with gr.Accordion("Strategies as the API takes them", open=False):
        spec_json = gr.JSON(slots_to_strategies(*SLOT_DEFAULTS), elem_id="samp-spec")
    examples = gr.Examples(EXAMPLES, [prompt, model, chat], elem_id="samp-examples")

    event = run.click(run_stream, [prompt, model, chat, max_new, seed, *slot_inputs],
                      [state, outputs_html, entropy_plot, beam_html, raw_prompt],
                      api_visibility="private", concurrency_id="sampling")
    # Gradio runs `then` after a run ends, fails or is cancelled (after the cancel request has returned):
    # Stop keeps what was streamed so far (the state holds the last snapshot) and says so.
    event.then(finish_run, state, [outputs_html, beam_html, step, which, step_html], api_visibility="private")
    stop.click(None, None, None, cancels=[event], api_visibility="private", queue=False)
    # An example sets the inputs, then runs them, as a lesson's Try this does.
    examples.load_input_event.then(None, None, None, js=click_js(json.dumps(run.elem_id)), api_visibility="private")
    step.change(show_step, [state, which, step], step_html, api_visibility="private", show_progress="hidden")
    which.change(show_step, [state, which, step], step_html, api_visibility="private", show_progress="hidden")
    for component in slot_inputs:
        component.change(lambda *v: slots_to_strategies(*[v[i:i + 5] for i in range(0, len(v), 5)]),
                         slot_inputs, spec_json, api_visibility="private", show_progress="hidden")
    draw.click(run_samples, [prompt, model, chat, seed, n_samples, n_tokens, *slot_inputs], [stats_html, first_plot],
               api_visibility="private", concurrency_id="sampling")
    gr.api(generate, api_name="generate", concurrency_id="sampling")
    slot_keys = [f"{name}{i + 1}" for i in range(len(SLOT_DEFAULTS)) for name in SLOT_KEYS]
    return Controls(run, {"prompt": prompt, "model": model, "chat": chat, "max_new_tokens": max_new, "seed": seed,
                          **dict(zip(slot_keys, slot_inputs))}, python_lines)
