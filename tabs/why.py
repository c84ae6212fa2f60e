"""The "Why this token?" tab: which prompt tokens, which heads and MLP blocks, and which activations made
a decoder predict its next token.

The handlers call playground.inside and format what comes back (tabs/why_views.py draws it):
attribution as coloured token chips and a bar chart, direct logit attribution as a layers x components
chart, ablations and token edits as before/after bars, activation patching as a layers x positions heatmap.

    >>> parse_heads("3.4, 10.*")
    [(3, 4), (10, None)]
    >>> parse_layers("3, 10")
    [3, 10]
"""

from __future__ import annotations

import re

import gradio as gr

from playground.gpu import gpu_task
from playground.inside import (IG_STEPS, METHODS, PATCH_KINDS, ablate, ablate_api_result, attribute,
                               attribute_api_result, contributions, contributions_api_result, count_tokens,
                               edit_prompt, patch, patch_api_result)
from playground.registry import DEFAULT_DECODER
from tabs.common import (DECODERS, clear_on_failure, Controls, friendly_errors, heavy_events, progress_callback,
                         run_on_example_click)
from tabs.why_views import (attribution_html, attribution_plot, contributions_html, contributions_plot,
                            counts_html, intervention_html, intervention_plot, patching_html, patching_plot)

DEFAULT_PROMPT = "The Eiffel Tower is in the city of"
DEFAULT_CORRUPTED = "The Colosseum is in the city of"
DEFAULT_HEADS = "23.1, 23.4, 23.5"   # three heads of SmolLM2 layer 23 that write the answer (see Contributions)
METHOD_LABELS = {"Integrated gradients": "integrated_gradients", "Gradient × input": "gradient_x_input",
                 "Occlusion": "occlusion", "Attention rollout": "attention_rollout"}
KIND_LABELS = {"Residual stream": "residual", "Attention output": "attention", "MLP output": "mlp"}
EXAMPLES = [
    [DEFAULT_PROMPT, DEFAULT_DECODER, "", "Integrated gradients", ""],
    [DEFAULT_PROMPT, DEFAULT_DECODER, "", "Integrated gradients", "Rome"],
    ["When Mary and John went to the store, John gave a drink to", DEFAULT_DECODER, "", "Occlusion", ""],
    ["The capital of Italy is", "gemma-3-270m", "", "Gradient × input", ""],
]
# Shown instead of a table of five columns (prompt, model, target, method, contrast), two of them mostly empty,
# which squeezed each prompt into a column a word wide.
EXAMPLE_LABELS = ["The Eiffel Tower is in … (integrated gradients)",     # Gradio cuts labels at 50 characters
                  "The Eiffel Tower: why Paris and not Rome?",
                  "Mary and John: who gets the drink? (occlusion)",
                  "Capital of Italy, on Gemma 3 (gradient × input)"]
assert set(METHOD_LABELS.values()) == set(METHODS) and set(KIND_LABELS.values()) == set(PATCH_KINDS)


def parse_heads(text: str) -> list[tuple[int, int | None]]:
    """'3.4, 10.*' -> [(3, 4), (10, None)]: layer.head pairs, '*' for every head of a layer."""
    pairs = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;\s]+", text or ""))):
        match = re.fullmatch(r"L?(\d+)[.:/]H?(\d+|\*)", part, flags=re.IGNORECASE)
        if not match:
            raise ValueError(f"heads: {part!r} is not layer.head (such as 3.4, or 10.* for every head of layer 10).")
        pairs.append((int(match[1]), None if match[2] == "*" else int(match[2])))
    return pairs


def parse_layers(text: str) -> list[int]:
    """'3, 10' -> [3, 10]: the MLP blocks to switch off."""
    layers = []
    for part in filter(None, (p.strip() for p in re.split(r"[,;\s]+", text or ""))):
        if not re.fullmatch(r"L?\d+", part, flags=re.IGNORECASE):
            raise ValueError(f"MLP blocks: {part!r} is not a layer number (such as 3, or 3, 10).")
        layers.append(int(part.lstrip("Ll")))
    return layers


def _method(label: str) -> str:
    return METHOD_LABELS.get(label, label)


def _kind(label: str) -> str:
    return KIND_LABELS.get(label, label)


@gpu_task
@friendly_errors
def explain(prompt: str, model: str, target: str, method: str, contrast: str, steps, progress=gr.Progress()):
    """Attribution first (streamed as soon as it is ready), then the contributions."""
    report = progress_callback(progress)
    result = attribute(prompt, model, target or "", _method(method), contrast or "", int(steps or 0), report)
    yield attribution_html(result), attribution_plot(result), None, None
    parts = contributions(prompt, model, target or "", report)
    yield gr.skip(), gr.skip(), contributions_html(parts), contributions_plot(parts)


@gpu_task
@friendly_errors
def switch_off(prompt: str, model: str, heads: str, mlps: str, mode: str, progress=gr.Progress()):
    result = ablate(prompt, model, parse_heads(heads), parse_layers(mlps), mode, progress=progress_callback(progress))
    return intervention_html(result), intervention_plot(result)


@gpu_task
@friendly_errors
def edit(prompt: str, model: str, where: str, replacement: str, progress=gr.Progress()):
    result = edit_prompt(prompt, model, where, replacement or "", progress=progress_callback(progress))
    return intervention_html(result), intervention_plot(result)


@gpu_task
@friendly_errors
def trace(clean: str, corrupted: str, model: str, target: str, kind: str, progress=gr.Progress()):
    result = patch(clean, corrupted, model, target or "", _kind(kind), progress_callback(progress))
    return patching_html(result), patching_plot(result)


@friendly_errors
def show_counts(clean: str, corrupted: str, model: str) -> str:
    return counts_html(count_tokens(clean, corrupted, model))


# ---------------------------------------------------------------------------------------------
# API


@gpu_task
@friendly_errors
def attribute_api(prompt: str, model: str, target: str, method: str, contrast: str) -> dict:
    """One score per prompt token for the target's log-probability (minus the contrast's, if given);
    methods gradient_x_input, integrated_gradients, occlusion, attention_rollout."""
    return attribute_api_result(attribute(prompt, model, target or "", method, contrast or ""))


@gpu_task
@friendly_errors
def contributions_api(prompt: str, model: str, target: str) -> dict:
    """Direct logit attribution: the embedding, each layer's attention (and each head) and MLP; the
    embedding, attention and MLP values add up to the target's logit."""
    return contributions_api_result(contributions(prompt, model, target or ""))


@gpu_task
@friendly_errors
def patch_api(clean: str, corrupted: str, model: str, target: str) -> dict:
    """Activation patching of the residual stream after each layer at each position: restored[layer][position]."""
    return patch_api_result(patch(clean, corrupted, model, target or ""))


@gpu_task
@friendly_errors
def ablate_api(prompt: str, model: str, heads: list, mlps: list, mode: str) -> dict:
    """Heads ([layer, head] pairs; [layer, null] for every head of a layer) and MLP blocks (layers) switched
    off ("zero" or "mean"): the top 20 next tokens before and after, and KL(before || after) in nats."""
    return ablate_api_result(ablate(prompt, model, heads, mlps, mode))


# ---------------------------------------------------------------------------------------------
# Layout


def python_lines(values: dict) -> list[str]:
    """Copy as Python: the lines after `client = Client(url)` that repeat this tab's runs through its API."""
    method = _method(values["method"])
    heads = [[layer, head] for layer, head in _safe(parse_heads, values.get("heads", ""))]
    mlps = _safe(parse_layers, values.get("mlps", ""))
    return [
        f"prompt, model = {values['prompt']!r}, {values['model']!r}",
        f'result = client.predict(prompt, model, {values["target"]!r}, {method!r}, {values["contrast"]!r}, '
        'api_name="/attribute")',
        'print(result["target"], result["target_logprob"])',
        'for token, score in zip(result["tokens"], result["scores"]):',
        '    print(f"{token!r:>16} {score:+.3f}")',
        f'parts = client.predict(prompt, model, {values["target"]!r}, api_name="/contributions")',
        'top = sorted(parts["components"], key=lambda c: -abs(c["value"]))[:10]',
        'print(parts["logit"], top)',
        f'ablated = client.predict(prompt, model, {heads!r}, {mlps!r}, {values["mode"]!r}, api_name="/ablate")',
        'print(ablated["kl"], ablated["after"][:5])',
        f'patched = client.predict({values["clean"]!r}, {values["corrupted"]!r}, model, {values["patch_target"]!r}, '
        'api_name="/patch")',
        '# patched["restored"][layer][position]: 1 = the clean answer fully back, 0 = as corrupted',
    ]


def _safe(parse, text: str) -> list:
    try:
        return parse(text)
    except ValueError:
        return []


def build() -> Controls:
    heavy = heavy_events("why")   # this tab's model-running events: one concurrency group
    gr.Markdown("Why did the model predict this token? **Attribution** scores each prompt token; "
                "**contributions** split the prediction over every layer, head and MLP; **interventions** switch "
                "parts off or change a token and rerun; **activation patching** copies one piece of a clean run "
                "into a corrupted one to find where a fact is carried.")
    with gr.Row():
        prompt = gr.Textbox(DEFAULT_PROMPT, label="Prompt", lines=2, scale=3, elem_id="why-prompt")
        with gr.Column(scale=2):
            model = gr.Dropdown(DECODERS, value=DEFAULT_DECODER, label="Model (a decoder, or a Hub id)",
                                allow_custom_value=True, elem_id="why-model")
            target = gr.Textbox("", label="Target token (empty: the model's most likely next token)",
                                elem_id="why-target")
    with gr.Row():
        method = gr.Radio(list(METHOD_LABELS), value="Integrated gradients", label="Attribution method",
                          elem_id="why-method", scale=3)
        contrast = gr.Textbox("", label="Contrast (why the target and not this token)", elem_id="why-contrast",
                              scale=2)
        steps = gr.Slider(8, 256, value=IG_STEPS, step=8, label="Integrated gradients: steps", elem_id="why-steps",
                          scale=2)
    run = gr.Button("Explain this prediction", variant="primary", elem_id="why-run")
    attribution_box = gr.HTML(elem_id="why-attribution")
    attribution_chart = gr.Plot(label="Score per token", elem_id="why-attribution-plot")
    examples = gr.Examples(EXAMPLES, [prompt, model, target, method, contrast], label="Try these (a click runs it)",
                           example_labels=EXAMPLE_LABELS, elem_id="why-examples")
    with gr.Accordion("Contributions: every layer, head and MLP (direct logit attribution)", open=True):
        contributions_box = gr.HTML(elem_id="why-contributions")
        contributions_chart = gr.Plot(label="Layers × components", elem_id="why-contributions-plot")
    with gr.Accordion("Interventions: switch parts off, or change a token", open=False):
        with gr.Row():
            heads = gr.Textbox(DEFAULT_HEADS, label="Heads to switch off (layer.head, e.g. 3.4, 10.*)",
                           elem_id="why-heads")
            mlps = gr.Textbox("", label="MLP blocks to switch off (layers, e.g. 3, 10)", elem_id="why-mlps")
            mode = gr.Radio(["zero", "mean"], value="zero", label="Replace with", elem_id="why-mode")
        ablate_button = gr.Button("Switch off and rerun", elem_id="why-ablate-run")
        with gr.Row():
            where = gr.Textbox("Eiffel", label="Prompt token (a word of the prompt, or a position)",
                               elem_id="why-edit-token")
            replacement = gr.Textbox("", label="Replace with (empty: remove it)", elem_id="why-edit-with")
        edit_button = gr.Button("Change the token and rerun", elem_id="why-edit-run")
        intervention_box = gr.HTML(elem_id="why-intervention")
        intervention_chart = gr.Plot(label="Next token before and after", elem_id="why-intervention-plot")
    with gr.Accordion("Activation patching: where is the answer carried?", open=False):
        with gr.Row():
            clean = gr.Textbox(DEFAULT_PROMPT, label="Clean prompt", elem_id="why-clean")
            corrupted = gr.Textbox(DEFAULT_CORRUPTED, label="Corrupted prompt (same number of tokens)",
                                   elem_id="why-corrupted")
        counts = gr.HTML(elem_id="why-counts")
        with gr.Row():
            patch_target = gr.Textbox("", label="Answer (empty: the clean prompt's most likely next token)",
                                      elem_id="why-patch-target")
            kind = gr.Radio(list(KIND_LABELS), value="Residual stream", label="Patch", elem_id="why-patch-kind")
        patch_button = gr.Button("Run activation patching", elem_id="why-patch-run")
        patching_box = gr.HTML(elem_id="why-patching")
        patching_chart = gr.Plot(label="Restored probability", elem_id="why-patching-plot")

    explain_inputs = [prompt, model, target, method, contrast, steps]
    explain_outputs = [attribution_box, attribution_chart, contributions_box, contributions_chart]
    for trigger in (run.click, prompt.submit):
        clear_on_failure(trigger(explain, explain_inputs, explain_outputs, api_visibility="private",
                                 trigger_mode="always_last", **heavy), explain_outputs)
    intervention_outputs = [intervention_box, intervention_chart]
    clear_on_failure(ablate_button.click(switch_off, [prompt, model, heads, mlps, mode], intervention_outputs,
                                         api_visibility="private", **heavy), intervention_outputs)
    clear_on_failure(edit_button.click(edit, [prompt, model, where, replacement], intervention_outputs,
                                       api_visibility="private", **heavy), intervention_outputs)
    patch_outputs = [patching_box, patching_chart]
    clear_on_failure(patch_button.click(trace, [clean, corrupted, model, patch_target, kind], patch_outputs,
                                        api_visibility="private", **heavy), patch_outputs)
    for box in (clean, corrupted, model):
        box.change(show_counts, [clean, corrupted, model], counts, api_visibility="private", show_progress="hidden",
                   trigger_mode="always_last")
    patch_button.click(show_counts, [clean, corrupted, model], counts, api_visibility="private",
                       show_progress="hidden")
    run_on_example_click(examples, run)
    gr.api(attribute_api, api_name="attribute", **heavy)
    gr.api(contributions_api, api_name="contributions", **heavy)
    gr.api(patch_api, api_name="patch", **heavy)
    gr.api(ablate_api, api_name="ablate", **heavy)
    return Controls(run, {"prompt": prompt, "model": model, "target": target, "method": method, "contrast": contrast,
                          "steps": steps, "heads": heads, "mlps": mlps, "mode": mode, "edit_token": where,
                          "edit_with": replacement, "clean": clean, "corrupted": corrupted,
                          "patch_target": patch_target, "kind": kind}, python_lines)
