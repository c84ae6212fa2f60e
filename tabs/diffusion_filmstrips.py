"""The Diffusion tab's filmstrips: the same run across guidance scales, schedulers or seeds, a row of steps each,
with a PNG and a GIF to take away (playground.diffusion.filmstrip computes them).

    >>> _parse_values("guidance", "1, 3; 7.5")
    [1.0, 3.0, 7.5]
"""

from __future__ import annotations

import gradio as gr

from playground.diffusion import export_filmstrip_gif, export_grid_png, filmstrip, load_pipeline
from playground.gpu import gpu_task
from tabs.common import friendly_errors, progress_callback
from tabs.diffusion_inputs import read_settings
from tabs.diffusion_views import filmstrip_html
from tabs.outputs import export_folder, save_atomically


def _parse_values(vary: str, text: str) -> list:
    parts = [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]
    if vary == "scheduler":
        return parts
    try:
        return [float(p) if vary == "guidance" else int(p) for p in parts]
    except ValueError:
        kind = "numbers such as 1, 3, 7.5" if vary == "guidance" else "whole numbers such as 0, 1, 2"
        raise ValueError(f"{vary} values must be {kind}; got {text!r}.") from None


@gpu_task
@friendly_errors
def compare(prompt, model, steps, guidance_scale, seed, scheduler, negative_prompt, size, preview, vary, values,
            columns, progress=gr.Progress(track_tqdm=True)):
    """A filmstrip across guidance values, schedulers or seeds, with its PNG and GIF."""
    settings = read_settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt, size or None, preview)
    loaded = load_pipeline(model, progress_callback(progress))
    strip = filmstrip(loaded, settings, vary, _parse_values(vary, values), int(columns), progress_callback(progress))
    folder = export_folder("filmstrip")
    png = save_atomically(folder / f"filmstrip-{vary}.png", lambda scratch: export_grid_png(strip, scratch))
    gif = save_atomically(folder / f"filmstrip-{vary}.gif", lambda scratch: export_filmstrip_gif(strip, scratch))
    return filmstrip_html(strip), [str(png), str(gif)]


def build(loop_inputs: list, size, preview, heavy: dict):
    """The filmstrips' accordion and event: `loop_inputs` (prompt, model, steps, guidance, seed, scheduler,
    negative prompt), `size` and `preview` are the tab's own. Returns the
    event, for the tab's Stop."""
    with gr.Accordion("Comparisons (filmstrips)", open=False):
        with gr.Row():
            vary = gr.Radio(["guidance", "scheduler", "seed"], value="guidance", label="Vary",
                            elem_id="diff-vary")
            values = gr.Textbox("1, 3, 7.5", label="Values", elem_id="diff-values",
                                info="Comma-separated: guidance scales, scheduler names, or seeds")
            columns = gr.Number(6, label="Steps shown", precision=0, elem_id="diff-columns",
                                info="Evenly spaced, the final image last")
            compare_button = gr.Button("Make filmstrip", elem_id="diff-compare")
        strip_view = gr.HTML(elem_id="diff-strip", elem_classes="pg-diff-view")
        strip_files = gr.File(label="Filmstrip PNG and GIF", file_count="multiple", elem_id="diff-strip-files")
    # a filmstrip first clears the last one, so a failed one leaves nothing that looks like its result
    compare_event = compare_button.click(
        lambda: ("", None), None, [strip_view, strip_files], queue=False, show_progress="hidden",
        api_visibility="private").then(
        compare, loop_inputs + [size, preview, vary, values, columns], [strip_view, strip_files],
        api_visibility="private", **heavy)
    return compare_event
