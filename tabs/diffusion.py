"""The Diffusion tab: Stable Diffusion's denoising loop, one step at a time.

The handlers adapt the inputs (tabs/diffusion_inputs.py), call playground.diffusion and format what comes back
with tabs/diffusion_views.py (figures, escaped HTML) and tabs/outputs.py (pictures as files). The run handler
streams a preview per step; Stop ends it at its next step (StopButtons). The filmstrips and the forward
diffusion are modules of their own (tabs/diffusion_filmstrips.py, diffusion_forward.py).

    >>> outputs = _outputs(status="Starting…")          # one value per output; the rest stay as they are
    >>> outputs[RUN_OUTPUTS.index("status")], len(outputs) == len(RUN_OUTPUTS)
    ('Starting…', True)
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr
import numpy as np

from playground.diffusion import (DEFAULT_PIPELINE, EMBEDDED_PIPELINES, SCHEDULERS, DenoiseSettings, Denoised,
                                  DenoisingStep, PreviewOptions, denoise_together, export_gif, generate_together,
                                  grid_image, load_pipeline, noise_schedule, preview_options, resolve_preview)
from playground.gpu import gpu_task
from tabs import diffusion_filmstrips, diffusion_forward
from tabs.common import (Controls, StopButtons, crowd_events, escape, friendly_errors, heavy_events,
                         progress_callback, session_of)
from tabs.diffusion_inputs import read_settings
from tabs.diffusion_views import (attention_html, attention_note, failure_status, guidance_html, preview_info,
                                  preview_note, scaled, schedule_figure, step_caption)
from tabs.outputs import export_folder, image_file, save_atomically, write_atomically
from tabs.share import click_js

SCHEDULER_NAMES = list(SCHEDULERS)
PLOT_EVERY_SECONDS = 1.0
SHOW_EVERY_SECONDS = 0.15   # at most about seven streamed updates a second (every step is kept for the scrubber)
PROMPT = "a small red circle above a large blue square on a white background"
STOPS = StopButtons()       # the Stop buttons pressed, per browser session


def model_choices() -> list[tuple[str, str]]:
    trained = (EMBEDDED_PIPELINES[DEFAULT_PIPELINE] / "model_index.json").is_file()
    label = "tiny-shapes-sd (embedded)" if trained else "tiny-shapes-sd (embedded; not trained yet)"
    return [(label, DEFAULT_PIPELINE)]


def default_preview_options() -> PreviewOptions:
    """The default model's preview decoders, from its config files (no weights are loaded at start-up)."""
    try:
        return preview_options(DEFAULT_PIPELINE)
    except ValueError:  # not trained yet: a run says so
        return PreviewOptions(choices=["vae"], default="vae", latent_side=0)


@dataclass(frozen=True)
class RecordedRun:
    """A finished run, kept in the browser session (gr.State) for the scrubber, Play and Export."""
    steps: tuple[DenoisingStep, ...]   # the steps that have previews, in order
    final: np.ndarray                  # (H, W, 3) uint8, the decoded image
    timesteps: np.ndarray              # (steps,) the scheduler's t
    sigmas: np.ndarray                 # (steps,)
    alpha_bars: np.ndarray             # (steps,)


# ---------------------------------------------------------------------------------------------
# Handlers


RUN_OUTPUTS = ("x_t", "x0", "noise", "final", "previews", "timesteps", "state", "status", "plot", "scrubber",
               "guidance", "attention", "attention_note", "exports")
CLEARED = {"x_t": None, "x0": None, "final": None, "previews": [], "timesteps": None, "state": None, "guidance": "",
           "attention": "", "attention_note": "", "exports": None}


def _outputs(**values) -> tuple:
    """One value per RUN_OUTPUTS entry; the ones not given stay as they are (gr.skip)."""
    return tuple(values[name] if name in values else gr.skip() for name in RUN_OUTPUTS)


@gpu_task
@friendly_errors
def run(prompt, model, steps, guidance_scale, seed, scheduler, negative_prompt, size, preview, every, show_noise,
        guidance_step, attention_step, attention_resolution=0, request: gr.Request = None,
        progress=gr.Progress(track_tqdm=True)):
    """Stream the denoising loop: one preview per step, then the final image and the panels. A failed run says
    so in the status (and `clear_run`, pressed before it, has taken the last run's pictures away), so nothing
    stale looks like its result. Stop (`stop_run`) ends it at its next step, and the status says where."""
    try:
        yield from _run(prompt, model, steps, guidance_scale, seed, scheduler, negative_prompt, size, preview, every,
                        show_noise, guidance_step, attention_step, attention_resolution, session_of(request),
                        progress)
    except Exception as error:
        yield _outputs(status=failure_status(error))
        raise


def clear_run(show_noise, request: gr.Request = None):
    """Before a run: the last run's pictures, panels and exports go, so none of them can pass for the new one's;
    the click numbers the run, for Stop (StopButtons)."""
    STOPS.click(session_of(request))
    return _outputs(**CLEARED, noise=gr.update(value=None, visible=bool(show_noise)), status="Starting…")


def stop_run(request: gr.Request = None):
    """Stop: this browser session's latest run ends at its next step (it checks between steps, see StopButtons)."""
    STOPS.press(session_of(request))


def _step_values(item: DenoisingStep, recorded: list[DenoisingStep], decoder: str) -> dict:
    """The outputs that show one step: its pictures, its status line and the scrubber at it."""
    return dict(x_t=_big(item.x_t, "x_t"), x0=_big(item.x0, "x0"), noise=_big(item.noise, "noise"),
                status=f"{step_caption(item)} · {item.seconds * 1000:.0f} ms U-Net + step, "
                       f"{item.preview_seconds * 1000:.0f} ms preview ({decoder})",
                scrubber=gr.update(maximum=max(2, len(recorded)), value=len(recorded)))


def _stopped(recorded: list[DenoisingStep], decoder: str, schedule) -> tuple:
    """What a stopped run leaves on the page: its last recorded step, said to be where it stopped."""
    if not recorded:
        return _outputs(status="Stopped before the first step.")
    step = recorded[-1]
    values = _step_values(step, recorded, decoder)
    return _outputs(**{**values, "status": "Stopped at " + values["status"],
                       "plot": schedule_figure(schedule.timesteps, schedule.sigmas, schedule.alpha_bars, step.index)})


def _run(prompt, model, steps, guidance_scale, seed, scheduler, negative_prompt, size, preview, every, show_noise,
         guidance_step, attention_step, attention_resolution, session, progress):
    settings = read_settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt, size or None, preview,
                         every, show_noise, guidance_step, attention_step)
    if attention_resolution:
        settings = DenoiseSettings(**{**settings.__dict__, "attention_resolution": int(attention_resolution)})
    loaded = load_pipeline(model, progress_callback(progress))
    decoder = resolve_preview(loaded, settings.preview)
    recorded: list[DenoisingStep] = []
    guidance = attention = None
    schedule = noise_schedule(loaded, settings.scheduler, settings.steps)
    plotted = shown = 0.0
    preview_seconds = 0.0
    number = STOPS.latest(session)              # the click this run answers (runs of a session go one at a time)
    for item in denoise_together(loaded, settings):
        if STOPS.pressed(session, number):
            yield _stopped(recorded, decoder, schedule)
            return                              # leaving the loop closes it: a shared batch goes on without this run
        if isinstance(item, Denoised):
            break
        preview_seconds += item.preview_seconds
        guidance = item.guidance if item.guidance is not None else guidance
        attention = item.attention if item.attention is not None else attention
        if item.x0 is None:
            continue
        recorded.append(item)
        last = item.index == item.total - 1
        if time.monotonic() - shown < SHOW_EVERY_SECONDS and not last:
            continue  # recorded for the scrubber, but a browser sent 3 pictures every 30 ms stops answering clicks
        shown = time.monotonic()
        values = _step_values(item, recorded, decoder)
        if time.monotonic() - plotted > PLOT_EVERY_SECONDS or last:
            # redrawing Plotly on every step would keep a slow browser busy; the marker moves about once a second
            values["plot"] = schedule_figure(schedule.timesteps, schedule.sigmas, schedule.alpha_bars, item.index)
            plotted = time.monotonic()
        yield _outputs(**values)
    record = RecordedRun(tuple(recorded), item.image, schedule.timesteps, schedule.sigmas, schedule.alpha_bars)
    gallery = [(_big(step.x0, "x0"), f"step {step.index + 1}: t = {step.timestep:g}") for step in record.steps]
    yield _outputs(
        final=_big(item.image, "final"), previews=gallery, timesteps=item.timesteps, state=record,
        status=f"Done: {len(item.timesteps)} steps of {escape(settings.scheduler)} in {item.seconds:.2f} s "
               f"(text encoder: {escape(loaded.text_encoder_note)}). {preview_note(loaded, decoder, preview_seconds)} "
               "Scrub or play the steps below.",
        guidance=guidance_html(guidance, settings, loaded.is_lcm),
        attention=attention_html(attention, item.image),
        attention_note=attention_note(attention, item.tokens, settings.attention_step))


@gpu_task
@friendly_errors
def denoise_api(prompt: str, model: str, steps: int, guidance_scale: float, seed: int, scheduler: str,
                negative_prompt: str, progress=gr.Progress(track_tqdm=True)):
    """The API: (final image, per-step predicted-x0 previews, timesteps), in the model's own pixels; the previews
    through the model's default decoder (tiny-shapes-sd: its VAE, so the last one is the final image)."""
    # the API returns x0 previews only: leaving out the x_t ones saves a third of the VAE's work
    settings = replace(read_settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt), show_x_t=False)
    loaded = load_pipeline(model, progress_callback(progress))
    steps_out, result = generate_together(loaded, settings)
    # files written whole before anyone reads them (tabs/outputs.py): a class asking at once gets whole PNGs
    gallery = [(image_file(step.x0, "x0"), f"step {step.index + 1}: t = {step.timestep:g}") for step in steps_out]
    return image_file(result.image, "final"), gallery, result.timesteps


def _big(image, name: str = "image"):
    """A picture for the page: upscaled, as a PNG file written whole and named by its content (tabs/outputs.py).
    Gradio would write an array itself, in place, under the same content-named path for every user who made the
    same picture, so a class running the same prompt would read each other's half-written files."""
    return None if image is None else image_file(scaled(image), name)


def show_step(position, record: RecordedRun | None):
    """The scrubber: show the previews of the chosen recorded step."""
    if not isinstance(record, RecordedRun) or not record.steps:
        return None, None, None, "Run the loop first.", None
    index = min(max(int(position or 1), 1), len(record.steps)) - 1
    step = record.steps[index]
    figure = schedule_figure(record.timesteps, record.sigmas, record.alpha_bars, step.index)
    return (_big(step.x_t, "x_t"), _big(step.x0, "x0"), _big(step.noise, "noise"), step_caption(step), figure)


def play(record: RecordedRun | None):
    """Step through the recorded previews, about eight a second."""
    if not isinstance(record, RecordedRun) or not record.steps:
        raise gr.Error("Run the loop first, then play it back.")
    for position in range(1, len(record.steps) + 1):
        x_t, x0, noise, caption, figure = show_step(position, record)
        yield position, x_t, x0, noise, caption, figure
        time.sleep(0.12)


@friendly_errors
def export_run(record: RecordedRun | None):
    """Animated GIF of x_t and the predicted x0 per step, and a PNG grid of x_t over x0: labelled, tiles at least
    DISPLAY_SIDE pixels."""
    if not isinstance(record, RecordedRun) or not record.steps:
        raise ValueError("nothing to export yet: run the denoising loop first.")
    steps, final = record.steps, record.final
    folder = export_folder("diffusion")
    frames = [grid_image(np.stack([[s.x_t, s.x0]]), None,
                         [f"x_t, step {s.index + 1} of {s.total}", "predicted x0"]) for s in steps]
    frames.append(grid_image(np.stack([[final, final]]), None, ["final latent, decoded", "final image (VAE)"]))
    gif = save_atomically(folder / "denoising.gif", lambda scratch: export_gif(frames, scratch))
    picks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 10)).round().astype(int))
    grid = np.stack([[steps[p].x_t for p in picks] + [final], [steps[p].x0 for p in picks] + [final]])
    labels = [f"step {steps[p].index + 1}" for p in picks] + ["final"]
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grid_image(grid, ["x_t", "x0"], labels)).save(buffer, format="PNG")
    png = write_atomically(folder / "denoising-grid.png", buffer.getvalue())
    return [str(gif), str(png)]


def update_schedule(model, scheduler, steps):
    """Redraw the schedule plot when the scheduler or the step count changes (quietly, if the model is missing)."""
    if model not in EMBEDDED_PIPELINES and not Path(str(model)).expanduser().is_dir():
        return gr.skip()  # a Hub id: don't download a model just to draw the plot
    try:
        loaded = load_pipeline(model)
        schedule = noise_schedule(loaded, scheduler, int(steps))
    except (ValueError, TypeError):
        return gr.skip()
    return schedule_figure(schedule.timesteps, schedule.sigmas, schedule.alpha_bars)


def update_previews(model, preview, decoder):
    """Offer the preview decoders that work for the chosen model, keeping the current choices where they still do."""
    try:
        options = preview_options(model)
    except (ValueError, OSError, KeyError):
        return gr.skip(), gr.skip()

    def pick(current):
        return current if current in options.choices else options.default
    return (gr.update(choices=options.choices, value=pick(preview), info=preview_info(options)),
            gr.update(choices=options.choices, value=pick(decoder)))


# ---------------------------------------------------------------------------------------------
# Layout


def python_lines(values: dict) -> list[str]:
    """Copy as Python: the lines after `client = Client(url)` that repeat this tab's run through its API."""
    lines = [f"prompt = {values['prompt']!r}",
             f'image, previews, timesteps = client.predict(prompt, {values["model"]!r}, {values["steps"]!r}, '
             f'{values["guidance_scale"]!r}, {values["seed"]!r}, {values["scheduler"]!r}, '
             f'{values["negative_prompt"]!r}, api_name="/denoise")',
             'print("final image:", image)',
             'print("timesteps:", timesteps)',
             "# previews: the predicted clean image x0 after every step, with captions",
             'for item in previews:',
             '    print(item["caption"], item["image"])']
    if values.get("size"):
        lines.insert(0, f"# The page drew {values['size']} x {values['size']} pixels; the API uses the model's own size.")
    return lines


def build() -> Controls:
    heavy = heavy_events("diffusion")   # this tab's model-running events: one concurrency group
    crowd = crowd_events("diffusion")   # denoising requests of all users join one batch (denoise_together)
    gr.Markdown(
        "Stable Diffusion in the open: the prompt is encoded by the text encoder, the loop starts from seeded random "
        "latent noise, and at every step the U-Net predicts the noise (once without and once with the prompt: "
        "**classifier-free guidance** pushes away from the first), the **scheduler** removes part of it, and at the "
        "end the **VAE** decodes the latent into pixels. Every step is shown: the noisy latent **x_t** and the clean "
        "image **x0** the U-Net predicts from it.")
    options = default_preview_options()
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(PROMPT, label="Prompt", lines=2, elem_id="diff-prompt",
                                info="Empty is allowed: the model then draws unconditionally.")
            negative = gr.Textbox("", label="Negative prompt", elem_id="diff-negative",
                                  info="Guidance pushes away from this instead of from the empty prompt.")
        with gr.Column(scale=2):
            model = gr.Dropdown(model_choices(), value=DEFAULT_PIPELINE, allow_custom_value=True, label="Model",
                                elem_id="diff-model",
                                info="Or type a local diffusers pipeline folder, or a Hub id such as "
                                     "stabilityai/sd-turbo (needs a connection; fp16 on a GPU).")
            scheduler = gr.Dropdown(SCHEDULER_NAMES, value="DDIM", label="Scheduler", elem_id="diff-scheduler",
                                    allow_custom_value=True,
                                    info="LCM only for LCM-distilled models.")
    with gr.Row():
        steps = gr.Number(20, label="Steps", precision=0, elem_id="diff-steps", info="1 to 1000")
        guidance = gr.Number(5.0, label="Guidance scale", elem_id="diff-guidance", info="0 to 30; 1 = off")
        seed = gr.Number(0, label="Seed", precision=0, elem_id="diff-seed")
        size = gr.Number(0, label="Image size (pixels)", precision=0, elem_id="diff-size",
                         info="0: the model's own size")
    with gr.Accordion("Previews, guidance and attention", open=False):
        with gr.Row():
            preview = gr.Radio(options.choices, value=options.default, label="Preview decoder",
                               elem_id="diff-preview", info=preview_info(options))
            every = gr.Number(1, label="Preview every N steps", precision=0, elem_id="diff-every")
            show_noise = gr.Checkbox(False, label="Show the predicted noise", elem_id="diff-show-noise")
        with gr.Row():
            guidance_step = gr.Number(5, label="Explain guidance at step", precision=0, elem_id="diff-guidance-step")
            attention_step = gr.Number(10, label="Cross-attention at step", precision=0, elem_id="diff-attention-step")
            attention_resolution = gr.Number(0, label="Attention level (latent cells per side)", precision=0,
                                             elem_id="diff-attention-resolution",
                                             info="0: the finest level of at most 16 x 16 cells (tiny-shapes-sd: 8)")
    with gr.Row():
        run_button = gr.Button("Denoise", variant="primary", elem_id="diff-run")
        stop_button = gr.Button("Stop", variant="stop", elem_id="diff-stop")
    examples = gr.Examples([[PROMPT, 20, 5.0, 0, "DDIM"],
                            ["a large green star in the center on a black background", 25, 5.0, 1, "Euler ancestral"],
                            ["a small yellow triangle to the left of a large purple diamond on a gray background", 20,
                             5.0, 2, "DPM-Solver++ 2M"],
                            ["", 20, 1.0, 2, "DPM-Solver++ 2M"]],
                           [prompt, steps, guidance, seed, scheduler], label="Try these (a click runs it)",
                           elem_id="diff-examples")
    status = gr.HTML(elem_id="diff-status")
    with gr.Row(equal_height=True, elem_id="diff-images"):
        x_t_image = gr.Image(label="Noisy latent x_t", interactive=False, elem_id="diff-xt", format="png",
                             elem_classes="pg-diff-image")
        x0_image = gr.Image(label="Predicted x0", interactive=False, elem_id="diff-x0", format="png",
                            elem_classes="pg-diff-image")
        noise_image = gr.Image(label="Predicted noise", interactive=False, elem_id="diff-noise", format="png",
                               elem_classes="pg-diff-image", visible=False)
        final_image = gr.Image(label="Final image (VAE)", interactive=False, type="numpy", format="png",
                               elem_id="diff-final", elem_classes="pg-diff-image")
    with gr.Row():
        scrubber = gr.Slider(1, 2, value=1, step=1, label="Preview (scrub through the recorded steps)",
                             elem_id="diff-scrubber", scale=4)
        play_button = gr.Button("▶ Play", elem_id="diff-play", scale=1)
    plot = gr.Plot(label="Noise schedule", show_label=False, elem_id="diff-plot")
    with gr.Accordion("Guidance explained", open=False):
        guidance_view = gr.HTML(elem_id="diff-guidance-gallery", elem_classes="pg-diff-view")
    with gr.Accordion("Cross-attention", open=False):
        attention_note = gr.HTML(elem_id="diff-attention-note", elem_classes="pg-diff-view")
        attention_view = gr.HTML(elem_id="diff-attention-gallery", elem_classes="pg-diff-view")
    with gr.Accordion("All previews and exports", open=False):
        previews = gr.Gallery(columns=4, label="Predicted x0 per step", elem_id="diff-previews", format="png",
                              height="auto", object_fit="contain", elem_classes="pg-diff-gallery")
        timesteps_json = gr.JSON(label="Timesteps", elem_id="diff-timesteps")
        export_button = gr.Button("Export GIF and PNG grid", elem_id="diff-export")
        export_files = gr.File(label="Exports", file_count="multiple", elem_id="diff-export-files")
    loop_inputs = [prompt, model, steps, guidance, seed, scheduler, negative]
    compare_event = diffusion_filmstrips.build(loop_inputs, size, preview, heavy)
    fwd_decoder = diffusion_forward.build(seed, model, options.choices, PROMPT, heavy)
    state = gr.State(None)
    api_button = gr.Button(visible=False)

    run_outputs = [x_t_image, x0_image, noise_image, final_image, previews, timesteps_json, state, status, plot,
                   scrubber, guidance_view, attention_view, attention_note, export_files]
    run_button.click(clear_run, show_noise, run_outputs, queue=False, show_progress="hidden",
                                 api_visibility="private", trigger_mode="always_last").then(
        run, loop_inputs + [size, preview, every, show_noise, guidance_step, attention_step, attention_resolution],
        run_outputs, api_visibility="private", trigger_mode="always_last", **crowd)
    examples.load_input_event.then(None, js=click_js('"diff-run"'), api_visibility="private")
    # The API's inputs are JSON, so a wrong type reaches _settings (which names it) instead of failing in Gradio
    api_inputs = [gr.JSON(visible=False) for _ in loop_inputs]
    api_button.click(denoise_api, api_inputs, [final_image, previews, timesteps_json], api_name="denoise", **crowd)
    scrubber.input(show_step, [scrubber, state], [x_t_image, x0_image, noise_image, status, plot], api_visibility="private")
    play_event = play_button.click(play, state, [scrubber, x_t_image, x0_image, noise_image, status, plot],
                                   api_visibility="private")
    export_button.click(export_run, state, export_files, api_visibility="private")
    # the run stops itself at its next step and says where (cancelling its task raced its last update on a busy
    # server, and the status showed Gradio's "Error"); a playback or a filmstrip is cancelled
    stop_button.click(stop_run, None, None, queue=False, api_visibility="private")
    stop_button.click(None, cancels=[play_event, compare_event], api_visibility="private")
    show_noise.change(lambda on: gr.update(visible=bool(on)), show_noise, noise_image, api_visibility="private",
                      show_progress="hidden")
    model.change(update_previews, [model, preview, fwd_decoder], [preview, fwd_decoder], api_visibility="private",
                 show_progress="hidden")
    for trigger in (scheduler.change, steps.blur):
        trigger(update_schedule, [model, scheduler, steps], plot, api_visibility="private", show_progress="hidden")
    return Controls(run_button, {
        "prompt": prompt, "negative_prompt": negative, "model": model, "scheduler": scheduler, "steps": steps,
        "guidance_scale": guidance, "seed": seed, "size": size, "preview": preview, "preview_every": every,
        "show_noise": show_noise, "guidance_step": guidance_step, "attention_step": attention_step,
        "attention_resolution": attention_resolution}, python_lines)
