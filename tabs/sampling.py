"""The Sampling tab: decoding strategies side by side on one prompt, streamed token by token.

The handlers turn the strategy controls into the API's strategy dicts, call playground.sampling and
format what comes back (tabs/sampling_views.py): coloured text, an entropy plot, a step inspector, a beam
tree, many-samples statistics. A strategy column shows only the sliders its strategy reads (`USES`).

    >>> slots_to_strategies(["greedy", 1.0, 50, 0.9, 4], ["top_p", 0.8, 50, 0.9, 4])
    [{'name': 'greedy'}, {'name': 'top_p', 'temperature': 0.8, 'p': 0.9}]
    >>> USES["top_p"]                     # the sliders of a top-p column
    ('temperature', 'p')
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import gradio as gr

from playground import public
from playground.registry import DEFAULT_DECODER
from playground.gpu import gpu_task
from playground.sampling import MAX_NEW_TOKENS, STRATEGY_NAMES, Comparison, compare, many_samples, stream_comparison
from tabs.common import DECODERS, Controls, crowd_events, friendly_errors, progress_callback
from tabs.sampling_views import (beam_view, entropy_figure, first_token_figure, render_outputs, render_samples,
                                 render_step)
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
    crowd = crowd_events("sampling")   # decoding requests of all users join one batch (decode_together)
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
    outputs_html = gr.HTML(render_outputs(None), elem_id="samp-outputs")
    entropy_plot = gr.Plot(label="Entropy per step", show_label=False, elem_id="samp-entropy")  # the figure has a title
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
        first_plot = gr.Plot(label="First tokens", show_label=False, elem_id="samp-first")
    with gr.Accordion("Strategies as the API takes them", open=False):
        spec_json = gr.JSON(slots_to_strategies(*SLOT_DEFAULTS), elem_id="samp-spec")
    examples = gr.Examples(EXAMPLES, [prompt, model, chat], elem_id="samp-examples")

    event = run.click(run_stream, [prompt, model, chat, max_new, seed, *slot_inputs],
                      [state, outputs_html, entropy_plot, beam_html, raw_prompt],
                      api_visibility="private", trigger_mode="always_last", **crowd)
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
               api_visibility="private", **crowd)
    gr.api(generate, api_name="generate", **crowd)
    slot_keys = [f"{name}{i + 1}" for i in range(len(SLOT_DEFAULTS)) for name in SLOT_KEYS]
    return Controls(run, {"prompt": prompt, "model": model, "chat": chat, "max_new_tokens": max_new, "seed": seed,
                          **dict(zip(slot_keys, slot_inputs))}, python_lines)
