"""The Attention tab: which tokens attend to which, per layer and head, and what kind of head each is.

The handlers call playground.attention, which runs the model once per (text, model) and caches the
result; moving the layer or head sliders only slices that result and redraws one heatmap. What they show
is drawn by tabs/attention_views.py and tabs/attention_compare.py; this module adapts the inputs, calls
playground.attention and the views, and wires the controls.

    >>> analysis = analyze.__wrapped__("The cat sat.", "all-minilm-l6-v2", layer=9, head=-1, kind="Attention weights",
    ...                                without_sink=False, progress=lambda *a, **k: None)
    >>> layer, head, summary, heatmap, *rest = next(analysis)    # the heatmap first, the overview after
    >>> layer["maximum"], layer["value"], heatmap.layout.title.text   # layer 9 of 6: the last one
    (5, 5, 'all-minilm-l6-v2: layer 5, mean over heads (bidirectional)')
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import gradio as gr

from playground.attention import (AttentionResult, Comparison, bertviz_document, bertviz_window, check_layer_head,
                                  compare, find_token, run_attention, to_api)
from playground.registry import DEFAULT_DECODER, DEFAULT_ENCODER
from playground.gpu import gpu_task
from tabs.attention_compare import compare_figure, compare_note
from tabs.attention_views import (OVERVIEW_WAIT, STAT_COLUMNS, bertviz_frame, encoder_lens_note, focus_figure,
                                  gqa_html, heatmap_figure, lens_html, overview_image, overview_note_html,
                                  shown_weights, stats_figure, stats_table, summary_html, view_name)
from tabs.common import (ALL_MODELS, clear_on_failure, Controls, escape, friendly_errors, heavy_events,
                         progress_callback, run_on_example_click)
from tabs.outputs import export_folder, image_file, write_atomically

VENDOR = Path(__file__).resolve().parents[1] / "assets" / "vendor"
gr.set_static_paths([VENDOR])
VENDOR_URL = f"gradio_api/file={VENDOR}/"

DEFAULT_TEXT = ("The animal didn't cross the street because it was too tired. "
                "It lay down on the pavement and went to sleep.")
COMPARE_A = "The animal didn't cross the street because it was too tired."
COMPARE_B = "The animal didn't cross the street because it was too wide."
KINDS = {"Attention weights": "weights", "Rollout (Abnar & Zuidema)": "rollout"}


# ---------------------------------------------------------------------------------------------
# Handlers


def compare_layer_head(pair: Comparison, layer: int, head: int, most_changed: bool) -> tuple[int, int]:
    """The layer and head the comparison shows: the sliders', or where the focus word changes most."""
    if most_changed and pair.change is not None and float(pair.change.max()) > 0:
        return pair.most_changed()
    check_layer_head(pair.first, layer, head)
    return layer, head


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
    yield (gr.update(maximum=result.num_layers - 1, value=layer), gr.update(maximum=result.num_heads - 1, value=head),
           summary_html(result), heatmap_figure(result, layer, head, _kind(kind), bool(without_sink)), None,
           OVERVIEW_WAIT, None, None, gqa_html(result))
    picture = overview_image(result)
    yield (gr.skip(), gr.skip(), gr.skip(), gr.skip(), image_file(picture.image, "overview"),
           overview_note_html(picture), stats_table(result), stats_figure(result), gr.skip())


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
        note = encoder_lens_note(result.model, DEFAULT_DECODER)
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


def _write_images(figures: dict, folder: Path) -> list[str]:
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
    heavy = heavy_events("attention")   # this tab's model-running events: one concurrency group
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
                                 show_progress_on=[heatmap], trigger_mode="always_last", **heavy), results)
    for control in (layer, head):
        control.input(show_head, analyze_inputs, heatmap, api_visibility="private",
                      trigger_mode="always_last", show_progress="hidden", **heavy)
    for control in (kind, without_sink):
        control.input(show_head, analyze_inputs, heatmap, api_visibility="private", **heavy)
    overview_map.select(pick_from_overview, [text, model, without_sink], [layer, head, heatmap, kind],
                        api_visibility="private", show_progress_on=[heatmap])
    clear_on_failure(focus_button.click(show_focus, [text, model, head, token], focus_plot,
                                        api_visibility="private", **heavy), [focus_plot])
    clear_on_failure(compare_button.click(show_compare, [text_a, text_b, model, layer, head, word, most_changed],
                                          [compare_plot, compare_note_box], api_visibility="private",
                                          show_progress_on=[compare_plot], **heavy), [compare_plot, compare_note_box])
    clear_on_failure(lens_button.click(show_lens, [text, model, lens_start], lens, api_visibility="private", **heavy), [lens])
    clear_on_failure(bv_button.click(show_bertviz, [text, model, bv_view, bv_start], [bertviz, bv_file],
                                     api_visibility="private", show_progress_on=[bertviz], **heavy), [bertviz, bv_file])
    clear_on_failure(export_button.click(export, [text, model, layer, head, kind, token, text_a, text_b, word],
                                         [export_files, export_note], api_visibility="private", **heavy),
                     [export_files, export_note])
    run_on_example_click(examples, run)
    gr.api(attention_api, api_name="attention", **heavy)
    return Controls(run, {"text": text, "model": model, "layer": layer, "head": head, "kind": kind,
                          "without_sink": without_sink}, python_lines, open_ranges=("layer", "head"))
