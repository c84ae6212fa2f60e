"""The Diffusion tab: Stable Diffusion's denoising loop, one step at a time.

The handlers adapt the inputs, call playground.diffusion and format what comes back: images,
Plotly figures, escaped HTML. The run handler streams a preview per step; Stop cancels it.

    >>> figure = schedule_figure([999.0, 500.0, 1.0], [157.4, 1.8, 0.03], [0.00004, 0.24, 0.999], current=1)
    >>> len(figure.data)         # sigma, alpha-bar and the current-step marker
    3
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np
from plotly.colors import sample_colorscale

from playground.diffusion import (DEFAULT_PIPELINE, EMBEDDED_PIPELINES, PREVIEWS, SCHEDULERS, DenoiseSettings, Denoised,
                                  DenoisingStep, attention_overlay, denoise, export_gif, export_grid_png, filmstrip,
                                  forward_diffusion, generate, grid_image, linear_preview, load_image, load_pipeline,
                                  noise_schedule)
from playground.gpu import gpu_task
from tabs.common import Controls, escape, friendly_errors, progress_callback

EXAMPLE_IMAGES = Path(__file__).resolve().parents[1] / "assets" / "examples" / "diffusion"
DISPLAY_SIDE = 256        # small models make tiny images: exports are scaled up to about this many pixels
SCHEDULER_NAMES = list(SCHEDULERS)
PLOT_EVERY_SECONDS = 0.5
VIRIDIS = np.array([[int(float(v)) for v in c[4:-1].split(",")]
                    for c in sample_colorscale("Viridis", list(np.linspace(0, 1, 256)))], np.uint8)  # (256, 3)
PROMPT = "a small red circle above a large blue square on a white background"


def model_choices() -> list[tuple[str, str]]:
    trained = (EMBEDDED_PIPELINES[DEFAULT_PIPELINE] / "model_index.json").is_file()
    label = "tiny-shapes-sd (embedded)" if trained else "tiny-shapes-sd (embedded; not trained yet)"
    return [(label, DEFAULT_PIPELINE)]


# ---------------------------------------------------------------------------------------------
# Formatting


def schedule_figure(timesteps: list[float], sigmas: list[float], alpha_bars: list[float], current: int | None = None):
    """sigma (log scale) and alpha-bar against the loop step, with the current step marked."""
    import plotly.graph_objects as go

    steps = list(range(1, len(timesteps) + 1))
    hover = [f"t = {t:g}" for t in timesteps]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=steps, y=sigmas, name="sigma (noise / signal)", mode="lines+markers",
                                text=hover, marker={"size": 4}))
    figure.add_trace(go.Scatter(x=steps, y=alpha_bars, name="alpha-bar (signal fraction)", mode="lines+markers",
                                text=hover, marker={"size": 4, "symbol": "square"}, line={"dash": "dash"}, yaxis="y2"))
    if current is not None and 0 <= current < len(steps):
        figure.add_trace(go.Scatter(x=[steps[current]], y=[sigmas[current]], name=f"step {current + 1}",
                                    mode="markers", marker={"size": 14, "symbol": "diamond", "color": "crimson"}))
        figure.add_vline(x=steps[current], line_dash="dot", line_color="crimson")
    figure.update_layout(
        height=300, margin={"l": 50, "r": 50, "t": 30, "b": 40}, legend={"orientation": "h", "y": -0.25},
        xaxis={"title": "step"}, yaxis={"title": "sigma", "type": "log"},
        yaxis2={"title": "alpha-bar", "overlaying": "y", "side": "right", "range": [0, 1]},
        title={"text": "Noise schedule", "font": {"size": 13}})
    return figure


def scaled(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Nearest-neighbour upscale of a small image so its pixels stay crisp in exports."""
    factor = max(1, side // max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


def step_caption(step: dict) -> str:
    return (f"Step {step['index'] + 1} of {step['total']} · t = {step['timestep']:g} · "
            f"sigma = {step['sigma']:.3g} · alpha-bar = {step['alpha_bar']:.3g}")


def tokens_html(tokens) -> str:
    chips = " ".join(f'<code class="pg-diff-token">{escape(piece)}</code>' for piece in tokens.tokens)
    note = (f'<p class="pg-diff-warning">The prompt was truncated to {tokens.max_length} tokens; the text encoder '
            f'never saw: <q>{escape(tokens.dropped)}</q></p>' if tokens.truncated else "")
    return f"<p>Tokens, as the text encoder's tokenizer cuts them: {chips}</p>{note}"


def heat_image(values: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Values scaled to their maximum, in Viridis: lightness rises with the value, so the map reads the
    same in grayscale and for colour-blind viewers."""
    values = np.asarray(values, dtype=np.float32)
    values = values / values.max() if values.max() > 0 else values
    return scaled(VIRIDIS[(values.clip(0, 1) * 255).astype(np.uint8)], side)


def _record(step: DenoisingStep) -> dict:
    return {"index": step.index, "total": step.total, "timestep": step.timestep, "sigma": step.sigma,
            "alpha_bar": step.alpha_bar, "x_t": step.x_t, "x0": step.x0, "noise": step.noise}


def _settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt, size=None, preview="linear",
              every=1, show_noise=False, guidance_step=None, attention_step=None) -> DenoiseSettings:
    def whole(value, label):
        if value is None or value == "":
            return None
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{label} must be a whole number, got {value}.")
        return int(value)

    return DenoiseSettings(
        prompt=prompt or "", negative_prompt=negative_prompt or "", steps=whole(steps, "steps"),
        guidance_scale=float(guidance_scale) if guidance_scale is not None else 7.5,
        seed=whole(seed, "seed") if seed is not None else 0, scheduler=scheduler,
        height=whole(size, "image size") or None, width=whole(size, "image size") or None, preview=preview,
        preview_every=whole(every, "preview every") or 1, show_noise=bool(show_noise),
        guidance_step=None if guidance_step is None else whole(guidance_step, "guidance step") - 1,
        attention_step=None if attention_step is None else whole(attention_step, "attention step") - 1)


# ---------------------------------------------------------------------------------------------
# Handlers


RUN_OUTPUTS = ("x_t", "x0", "noise", "final", "previews", "timesteps", "state", "status", "plot", "scrubber",
               "guidance", "attention", "attention_note")


def _outputs(**values) -> tuple:
    """One value per RUN_OUTPUTS entry; the ones not given stay as they are (gr.skip)."""
    return tuple(values[name] if name in values else gr.skip() for name in RUN_OUTPUTS)


@gpu_task
@friendly_errors
def run(prompt, model, steps, guidance_scale, seed, scheduler, negative_prompt, size, preview, every, show_noise,
        guidance_step, attention_step, attention_resolution=0, progress=gr.Progress(track_tqdm=True)):
    """Stream the denoising loop: one preview per step, then the final image and the panels."""
    settings = _settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt, size or None, preview,
                         every, show_noise, guidance_step, attention_step)
    if attention_resolution:
        settings = DenoiseSettings(**{**settings.__dict__, "attention_resolution": int(attention_resolution)})
    loaded = load_pipeline(model, progress_callback(progress))
    record: dict = {"steps": [], "final": None}
    schedule = noise_schedule(loaded, settings.scheduler, settings.steps)
    record.update(timesteps=schedule.timesteps, sigmas=schedule.sigmas, alpha_bars=schedule.alpha_bars)
    plotted = 0.0
    for item in denoise(loaded, settings):
        if isinstance(item, Denoised):
            break
        if item.guidance is not None:
            record["guidance"] = item.guidance
        if item.attention is not None:
            record["attention"] = item.attention
        if item.x0 is None:
            continue
        step = _record(item)
        record["steps"].append(step)
        values = dict(
            x_t=_big(item.x_t), x0=_big(item.x0), noise=_big(item.noise),
            status=f"{step_caption(step)} · {item.seconds * 1000:.0f} ms U-Net + step, "
                   f"{item.preview_seconds * 1000:.0f} ms preview ({settings.preview})",
            scrubber=gr.update(maximum=max(2, len(record["steps"])), value=len(record["steps"])))
        if time.monotonic() - plotted > PLOT_EVERY_SECONDS or item.index == item.total - 1:
            # redrawing Plotly on every step would keep a slow browser busy; the marker moves about twice a second
            values["plot"] = schedule_figure(schedule.timesteps, schedule.sigmas, schedule.alpha_bars, item.index)
            plotted = time.monotonic()
        yield _outputs(**values)
    record["final"] = item.image
    gallery = [(step["x0"], f"step {step['index'] + 1}: t = {step['timestep']:g}") for step in record["steps"]]
    yield _outputs(
        final=item.image, previews=gallery, timesteps=item.timesteps, state=record,
        status=f"Done: {len(item.timesteps)} steps of {escape(settings.scheduler)} in {item.seconds:.2f} s "
               f"(text encoder: {escape(loaded.text_encoder_note)}). {_preview_note(loaded, settings.preview)}"
               "Scrub or play the steps below.",
        guidance=_guidance_items(record.get("guidance")),
        attention=_attention_items(record.get("attention"), item.image),
        attention_note=_attention_note(record.get("attention"), item.tokens, settings.attention_step))


@gpu_task
@friendly_errors
def denoise_api(prompt: str, model: str, steps: int, guidance_scale: float, seed: int, scheduler: str,
                negative_prompt: str, progress=gr.Progress(track_tqdm=True)):
    """The API: (final image, per-step predicted-x0 previews, timesteps)."""
    settings = _settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt)
    loaded = load_pipeline(model, progress_callback(progress))
    steps_out, result = generate(loaded, settings)
    gallery = [(step.x0, f"step {step.index + 1}: t = {step.timestep:g}") for step in steps_out]
    return result.image, gallery, result.timesteps


def _preview_note(loaded, preview: str) -> str:
    if preview != "linear":
        return ""
    linear = linear_preview(loaded)
    if linear.r2 is None:
        return f"Linear preview: {linear.source}. "
    return (f"Linear preview: {linear.source} against this VAE, explaining {100 * linear.r2:.0f}% of its "
            "pixel variance. ")


def _guidance_items(guidance) -> list:
    if guidance is None:
        return []
    g = guidance
    return [(scaled(g.uncond_noise), "noise, unconditional"), (scaled(g.cond_noise), "noise, with the prompt"),
            (scaled(g.guided_noise), f"noise, guided (scale {g.scale:g})"),
            (scaled(g.uncond_x0), "x0, unconditional"), (scaled(g.cond_x0), "x0, with the prompt"),
            (scaled(g.guided_x0), "x0, guided"),
            (heat_image(g.difference), f"|cond - uncond| (relative size {g.difference_norm:.3f})")]


def _attention_items(attention, image) -> list:
    if attention is None:
        return []
    base = scaled(image)
    return [(attention_overlay(base, heat), f"{piece} · {100 * heat.mean():.1f}%")
            for piece, heat in zip(attention.tokens.tokens, attention.maps)]


def _attention_note(attention, tokens, requested) -> str:
    html = tokens_html(tokens)
    if attention is None:
        if requested is not None:
            html += f"<p>Step {requested + 1} was not reached, so no cross-attention was captured.</p>"
        return html
    h, w = attention.resolution
    others = ", ".join(f"{r[0]}x{r[1]}" for r in attention.resolutions)
    return html + (f"<p>Step {attention.step + 1} (t = {attention.timestep:g}): mean over heads and "
                   f"{attention.layers} cross-attention layers at {h}x{w} latent cells (levels: {escape(others)}). "
                   "Each map is stretched from its own minimum to maximum; the caption gives the token's mean share "
                   "of the attention (the rest goes to padding and other tokens).</p>")


def _big(image):
    return None if image is None else scaled(image)


def show_step(position, record):
    """The scrubber: show the previews of the chosen recorded step."""
    if not record or not record.get("steps"):
        return None, None, None, "Run the loop first.", None
    index = min(max(int(position or 1), 1), len(record["steps"])) - 1
    step = record["steps"][index]
    figure = schedule_figure(record["timesteps"], record["sigmas"], record["alpha_bars"], step["index"])
    return _big(step["x_t"]), _big(step["x0"]), _big(step["noise"]), step_caption(step), figure


def play(record):
    """Step through the recorded previews, about eight a second."""
    if not record or not record.get("steps"):
        raise gr.Error("Run the loop first, then play it back.")
    for position in range(1, len(record["steps"]) + 1):
        x_t, x0, noise, caption, figure = show_step(position, record)
        yield position, x_t, x0, noise, caption, figure
        time.sleep(0.12)


@friendly_errors
def export_run(record):
    """Animated GIF of the predicted x0 per step, and a PNG grid of x_t over x0."""
    if not record or record.get("final") is None or not record.get("steps"):
        raise ValueError("nothing to export yet: run the denoising loop first.")
    steps = record["steps"]
    folder = Path(tempfile.mkdtemp(prefix="pg-diffusion-"))
    frames = [scaled(np.hstack([s["x_t"], np.full((s["x_t"].shape[0], 2, 3), 255, np.uint8), s["x0"]]))
              for s in steps]
    final = record["final"]
    frames.append(scaled(np.hstack([final, np.full((final.shape[0], 2, 3), 255, np.uint8), final])))
    gif = export_gif(frames, folder / "denoising.gif")
    picks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 10)).round().astype(int))
    grid = np.stack([[steps[p]["x_t"] for p in picks] + [final], [steps[p]["x0"] for p in picks] + [final]])
    labels = [f"step {steps[p]['index'] + 1}" for p in picks] + ["final"]
    scale = max(1, 96 // final.shape[0])
    png = folder / "denoising-grid.png"
    from PIL import Image

    Image.fromarray(grid_image(grid, ["x_t", "x0"], labels, scale=scale)).save(png)
    return [str(gif), str(png)]


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
    settings = _settings(prompt, steps, guidance_scale, seed, scheduler, negative_prompt, size or None, preview)
    loaded = load_pipeline(model, progress_callback(progress))
    strip = filmstrip(loaded, settings, vary, _parse_values(vary, values), int(columns), progress_callback(progress))
    folder = Path(tempfile.mkdtemp(prefix="pg-filmstrip-"))
    scale = max(1, 96 // strip.frames.shape[2])
    png = export_grid_png(strip, folder / f"filmstrip-{vary}.png", scale=scale)
    frames = [scaled(np.vstack(list(strip.frames[:, c]))) for c in range(strip.frames.shape[1])]
    gif = export_gif(frames, folder / f"filmstrip-{vary}.gif", milliseconds=400)
    return str(png), [str(png), str(gif)]


@gpu_task
@friendly_errors
def noise_image_forward(upload, example, timesteps_text, seed, model, preview, progress=gr.Progress(track_tqdm=True)):
    source = upload if upload else (EXAMPLE_IMAGES / example if example else None)
    if source is None:
        raise ValueError("pick an example image or upload one.")
    image = load_image(source)  # before loading a model: a bad upload is refused at once
    try:
        timesteps = [int(part) for part in str(timesteps_text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"timesteps must be whole numbers such as 0, 250, 500, 999; got {timesteps_text!r}.") from None
    loaded = load_pipeline(model, progress_callback(progress))
    result = forward_diffusion(loaded, image, timesteps, int(seed or 0), preview)
    items = [(scaled(result.original), "x0: the image"), (scaled(result.reconstruction), "VAE round trip (t = 0)")]
    items += [(scaled(image), f"t = {t}: alpha-bar = {a:.3f}")
              for t, image, a in zip(result.timesteps, result.images, result.alpha_bars)]
    return items


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
    gr.Markdown(
        "Stable Diffusion in the open: the prompt is encoded by the text encoder, the loop starts from seeded random "
        "latent noise, and at every step the U-Net predicts the noise (once without and once with the prompt: "
        "**classifier-free guidance** pushes away from the first), the **scheduler** removes part of it, and at the "
        "end the **VAE** decodes the latent into pixels. Every step is shown: the noisy latent **x_t** and the clean "
        "image **x0** the U-Net predicts from it.")
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
            preview = gr.Radio(list(PREVIEWS), value="linear", label="Preview decoder", elem_id="diff-preview",
                               info="linear: a latent-to-RGB matrix (cheap); vae: the full decoder; taesd: a tiny "
                                    "decoder, where one is available")
            every = gr.Number(1, label="Preview every N steps", precision=0, elem_id="diff-every")
            show_noise = gr.Checkbox(False, label="Show the predicted noise", elem_id="diff-show-noise")
        with gr.Row():
            guidance_step = gr.Number(5, label="Explain guidance at step", precision=0, elem_id="diff-guidance-step")
            attention_step = gr.Number(10, label="Cross-attention at step", precision=0, elem_id="diff-attention-step")
            attention_resolution = gr.Number(0, label="Attention level (latent cells per side)", precision=0,
                                             elem_id="diff-attention-resolution",
                                             info="0: the level with the most cross-attention layers")
    with gr.Row():
        run_button = gr.Button("Denoise", variant="primary", elem_id="diff-run")
        stop_button = gr.Button("Stop", variant="stop", elem_id="diff-stop")
    status = gr.Markdown(elem_id="diff-status")
    with gr.Row(equal_height=True):
        x_t_image = gr.Image(label="Noisy latent x_t", interactive=False, elem_id="diff-xt", height=240)
        x0_image = gr.Image(label="Predicted x0", interactive=False, elem_id="diff-x0", height=240)
        noise_image = gr.Image(label="Predicted noise", interactive=False, elem_id="diff-noise", height=240)
        final_image = gr.Image(label="Final image (VAE)", interactive=False, type="numpy", format="png",
                               elem_id="diff-final", height=240)
    with gr.Row():
        scrubber = gr.Slider(1, 2, value=1, step=1, label="Preview (scrub through the recorded steps)",
                             elem_id="diff-scrubber", scale=4)
        play_button = gr.Button("▶ Play", elem_id="diff-play", scale=1)
    plot = gr.Plot(label="Noise schedule", elem_id="diff-plot")
    with gr.Accordion("Guidance explained", open=False):
        gr.Markdown("At the chosen step: the noise predicted without the prompt, with it, and the guided mix "
                    "uncond + scale × (cond − uncond); below each, the clean image it implies.")
        guidance_gallery = gr.Gallery(columns=3, label="Guidance", elem_id="diff-guidance-gallery", format="png",
                                      height="auto")
    with gr.Accordion("Cross-attention", open=False):
        attention_html = gr.HTML(elem_id="diff-attention-note")
        attention_gallery = gr.Gallery(columns=6, label="Where each token attends", elem_id="diff-attention-gallery",
                                       format="png", height="auto")
    with gr.Accordion("All previews and exports", open=False):
        previews = gr.Gallery(columns=8, label="Predicted x0 per step", elem_id="diff-previews", format="png",
                              height="auto")
        timesteps_json = gr.JSON(label="Timesteps", elem_id="diff-timesteps")
        export_button = gr.Button("Export GIF and PNG grid", elem_id="diff-export")
        export_files = gr.File(label="Exports", file_count="multiple", elem_id="diff-export-files")
    with gr.Accordion("Comparisons (filmstrips)", open=False):
        with gr.Row():
            vary = gr.Radio(["guidance", "scheduler", "seed"], value="guidance", label="Vary",
                            elem_id="diff-vary")
            values = gr.Textbox("1, 3, 7.5", label="Values", elem_id="diff-values",
                                info="Comma-separated: guidance scales, scheduler names, or seeds")
            columns = gr.Number(6, label="Columns", precision=0, elem_id="diff-columns")
            compare_button = gr.Button("Make filmstrip", elem_id="diff-compare")
        strip_image = gr.Image(label="Filmstrip", interactive=False, elem_id="diff-strip", type="filepath")
        strip_files = gr.File(label="Filmstrip PNG and GIF", file_count="multiple", elem_id="diff-strip-files")
    with gr.Accordion("Forward diffusion: noising an image", open=False):
        gr.Markdown("q(x_t | x0) = N(√ᾱ_t · x0, (1 − ᾱ_t) · I): the image is encoded by the VAE, noised in latent "
                    "space at the chosen timesteps under the model's schedule, and decoded again.")
        with gr.Row():
            examples = sorted(p.name for p in EXAMPLE_IMAGES.glob("*.png"))
            example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Example image",
                                  elem_id="diff-fwd-example")
            upload = gr.File(label="Or upload an image", file_types=["image"], type="filepath",
                             elem_id="diff-fwd-upload")
            fwd_steps = gr.Textbox("0, 100, 250, 500, 750, 999", label="Timesteps", elem_id="diff-fwd-steps")
            fwd_decoder = gr.Radio(list(PREVIEWS), value="vae", label="Decoder", elem_id="diff-fwd-decoder")
            fwd_button = gr.Button("Noise it", elem_id="diff-fwd-run")
        fwd_gallery = gr.Gallery(columns=8, label="x_t", elem_id="diff-fwd-gallery", format="png", height="auto")
    state = gr.State({})
    api_button = gr.Button(visible=False)
    gr.Examples([[PROMPT, 20, 5.0, 0, "DDIM"], ["a large green star in the center on a black background", 25, 5.0, 1,
                                              "Euler ancestral"],
                 ["", 20, 1.0, 2, "DPM-Solver++ 2M"]], [prompt, steps, guidance, seed, scheduler], label="Try these")

    loop_inputs = [prompt, model, steps, guidance, seed, scheduler, negative]
    run_event = run_button.click(
        run, loop_inputs + [size, preview, every, show_noise, guidance_step, attention_step, attention_resolution],
        [x_t_image, x0_image, noise_image, final_image, previews, timesteps_json, state, status, plot, scrubber,
         guidance_gallery, attention_gallery, attention_html], api_visibility="private")
    api_button.click(denoise_api, loop_inputs, [final_image, previews, timesteps_json], api_name="denoise")
    scrubber.input(show_step, [scrubber, state], [x_t_image, x0_image, noise_image, status, plot], api_visibility="private")
    play_event = play_button.click(play, state, [scrubber, x_t_image, x0_image, noise_image, status, plot],
                                   api_visibility="private")
    export_button.click(export_run, state, export_files, api_visibility="private")
    compare_event = compare_button.click(
        compare, loop_inputs + [size, preview, vary, values, columns], [strip_image, strip_files], api_visibility="private")
    fwd_button.click(noise_image_forward, [upload, example, fwd_steps, seed, model, fwd_decoder], fwd_gallery,
                     api_visibility="private")
    stop_button.click(None, cancels=[run_event, play_event, compare_event], api_visibility="private")
    for trigger in (scheduler.change, steps.blur):
        trigger(update_schedule, [model, scheduler, steps], plot, api_visibility="private", show_progress="hidden")
    return Controls(run_button, {
        "prompt": prompt, "negative_prompt": negative, "model": model, "scheduler": scheduler, "steps": steps,
        "guidance_scale": guidance, "seed": seed, "size": size, "preview": preview, "preview_every": every,
        "show_noise": show_noise, "guidance_step": guidance_step, "attention_step": attention_step,
        "attention_resolution": attention_resolution}, python_lines)
