"""What the Diffusion tab shows: the noise-schedule figure, escaped HTML for guidance, attention, forward diffusion
and filmstrips, heat maps in Viridis, and the notes under a run. Pure formatting: data in, figures and HTML out.

    >>> figure = schedule_figure([999.0, 500.0, 1.0], [157.4, 1.8, 0.03], [0.00004, 0.24, 0.999], current=1)
    >>> len(figure.data)         # sigma, alpha-bar and the current-step marker
    3
"""

from __future__ import annotations

import base64
import io

import gradio as gr
import numpy as np
from plotly.colors import sample_colorscale

from playground.diffusion import (DISPLAY_SIDE, DenoiseSettings, DenoisingStep, PreviewOptions, attention_overlay,
                                  linear_preview, upscale)
from tabs.common import escape

VIRIDIS = np.array([[int(float(v)) for v in c[4:-1].split(",")]
                    for c in sample_colorscale("Viridis", list(np.linspace(0, 1, 256)))], np.uint8)  # (256, 3)
PLOT_FONT, PLOT_TITLE, PLOT_HEIGHT = 14, 16, 340   # px (projector mode zooms the page)
PREVIEW_WORDS = {
    "vae": "vae: the model's own decoder, exact",
    "linear": "linear: SD's latent-to-RGB factors, approximate colours at 1/8 resolution",
    "taesd": "taesd: a small distilled decoder, close to the VAE and cheaper",
}


def preview_info(options: PreviewOptions) -> str:
    """The preview decoder's help text: what each offered decoder is, and why a linear one may be missing."""
    text = "How x_t and x0 become pictures. " + "; ".join(PREVIEW_WORDS[kind] for kind in options.choices) + "."
    if "linear" not in options.choices:
        text += (" No linear latent-to-RGB matrix is offered: only Stable Diffusion's VAE is close enough to linear "
                 "in colour for one.")
    return text


def schedule_figure(timesteps: list[float], sigmas: list[float], alpha_bars: list[float], current: int | None = None):
    """sigma (log scale) and alpha-bar against the loop step, with the current step marked."""
    import plotly.graph_objects as go

    steps = list(range(1, len(timesteps) + 1))
    hover = [f"t = {t:g}" for t in timesteps]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=steps, y=sigmas, name="sigma (noise / signal)", mode="lines+markers",
                                text=hover, marker={"size": 5}))
    figure.add_trace(go.Scatter(x=steps, y=alpha_bars, name="alpha-bar (signal fraction)", mode="lines+markers",
                                text=hover, marker={"size": 5, "symbol": "square"}, line={"dash": "dash"}, yaxis="y2"))
    if current is not None and 0 <= current < len(steps):
        figure.add_trace(go.Scatter(x=[steps[current]], y=[sigmas[current]], name=f"step {current + 1}",
                                    mode="markers", marker={"size": 14, "symbol": "diamond", "color": "crimson"}))
        figure.add_vline(x=steps[current], line_dash="dot", line_color="crimson")
    figure.update_layout(
        height=PLOT_HEIGHT, margin={"l": 60, "r": 60, "t": 40, "b": 50}, legend={"orientation": "h", "y": -0.3},
        font={"size": PLOT_FONT}, xaxis={"title": "step"}, yaxis={"title": "sigma", "type": "log", "dtick": 1},  # powers of ten only
        yaxis2={"title": "alpha-bar", "overlaying": "y", "side": "right", "range": [0, 1]},
        title={"text": "Noise schedule", "font": {"size": PLOT_TITLE}})
    return figure


def scaled(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """Nearest-neighbour upscale of a small image so its pixels stay crisp on the page and in exports."""
    return upscale(image, side)


def step_caption(step: DenoisingStep) -> str:
    return (f"Step {step.index + 1} of {step.total} · t = {step.timestep:g} · "
            f"sigma = {step.sigma:.3g} · alpha-bar = {step.alpha_bar:.3g}")


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


def image_tag(image: np.ndarray, alt: str) -> str:
    """An <img> holding the picture itself (PNG, upscaled to at least DISPLAY_SIDE pixels, nearest-neighbour)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(scaled(np.asarray(image, dtype=np.uint8))).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def figure_html(image: np.ndarray | None, caption: str, extra_class: str = "") -> str:
    """One picture with its caption under it (an empty cell when there is no picture)."""
    if image is None:
        return f'<figure class="pg-diff-figure pg-diff-empty {extra_class}"></figure>'
    return (f'<figure class="pg-diff-figure {extra_class}">{image_tag(image, caption)}'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def guidance_html(guidance, settings: DenoiseSettings | None = None, distilled: bool = False) -> str:
    """Guidance explained: the noise predicted without and with the prompt, their difference and the guided mix;
    under them, the clean image each prediction implies. No inner scroll: every picture is on the page. Without a
    picture (guidance off, an LCM model, or the step not reached) it says why."""
    if guidance is None:
        if settings is None or settings.guidance_step is None:
            return ""
        if distilled:
            why = "This LCM-distilled U-Net takes the guidance scale as an input and runs once per step: nothing to compare."
        elif settings.guidance_scale <= 1:
            why = (f"At guidance scale {settings.guidance_scale:g} the U-Net runs once per step, with the prompt "
                   "only, so there is no unconditional prediction to compare: set a scale above 1.")
        else:
            why = f"Step {settings.guidance_step + 1} was not reached, so guidance was not captured."
        return f'<p class="pg-diff-caption">{escape(why)}</p>'
    g = guidance
    noises = [figure_html(g.uncond_noise, "without the prompt (uncond)"),
              figure_html(g.cond_noise, "with the prompt (cond)"),
              figure_html(heat_image(g.difference), f"|cond − uncond|: where the prompt changes the prediction "
                                                    f"(brighter: more; in all {g.difference_norm:.2f} of uncond)"),
              figure_html(g.guided_noise, f"guided: uncond + {g.scale:g} × (cond − uncond)")]
    clean = [figure_html(g.uncond_x0, "x0 without the prompt"), figure_html(g.cond_x0, "x0 with the prompt"),
             figure_html(None, ""), figure_html(g.guided_x0, "x0 guided: where this step heads")]
    return (f'<p class="pg-diff-caption">Step {g.step + 1} (t = {g.timestep:g}), guidance scale {g.scale:g}.</p>'
            f'<h4 class="pg-diff-heading">The noise the U-Net predicts</h4><div class="pg-diff-row">{"".join(noises)}</div>'
            f'<h4 class="pg-diff-heading">The clean image x0 each prediction implies</h4>'
            f'<div class="pg-diff-row">{"".join(clean)}</div>')


def attention_html(attention, image) -> str:
    """One picture per prompt token: where its cross-attention gathers, as a warm overlay on the final image."""
    if attention is None:
        return ""
    figures = [figure_html(attention_overlay(image, heat), f"{piece} · {100 * heat.mean():.1f}%")
               for piece, heat in zip(attention.tokens.tokens, attention.maps)]
    return f'<div class="pg-diff-grid">{"".join(figures)}</div>'


def forward_html(result) -> str:
    figures = [figure_html(result.original, "x0: the image"),
               figure_html(result.reconstruction, "VAE round trip (t = 0)")]
    figures += [figure_html(image, f"t = {t}: alpha-bar = {a:.3f}")
                for t, image, a in zip(result.timesteps, result.images, result.alpha_bars)]
    return f'<div class="pg-diff-grid">{"".join(figures)}</div>'


def filmstrip_html(strip) -> str:
    """The compared values side by side as columns, the steps as rows (a page scrolls down, not across)."""
    head = "".join(f'<th scope="col">{escape(label)}</th>' for label in strip.row_labels)
    rows = []
    for c, label in enumerate(strip.column_labels):
        cells = "".join(f"<td>{image_tag(strip.frames[r, c], f'{strip.row_labels[r]}, {label}')}</td>"
                        for r in range(strip.frames.shape[0]))
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    return (f'<div class="pg-diff-strip"><table><thead><tr><th scope="col">step</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def preview_note(loaded, preview: str, seconds: float) -> str:
    """What the previews were drawn with, and how faithful that is."""
    if preview == "vae":
        what = "the model's own VAE decoder: exact, the same decoder as the final image"
    elif preview == "taesd":
        what = "TAESD, a small distilled decoder: close to the VAE, not exact"
    elif linear_preview(loaded).r2 is None:
        what = "Stable Diffusion's linear latent-to-RGB factors: approximate colours, one per 8 × 8 pixels"
    else:
        what = (f"a latent-to-RGB matrix fitted to this VAE, explaining {100 * linear_preview(loaded).r2:.0f}% of "
                "its pixel variance: approximate")
    return f"Previews: {what} ({seconds:.2f} s of decoding in all, on a second thread while the U-Net ran the next step)."


def failure_status(error: Exception) -> str:
    """The status after a failed run: what went wrong, so the page never keeps an earlier run's "Done"."""
    reason = str(error) if isinstance(error, (ValueError, gr.Error)) else f"something went wrong ({type(error).__name__})"
    return (f"<strong>The run failed:</strong> {escape(reason)} The pictures were cleared; change the input and "
            "press Denoise again.")


def attention_note(attention, tokens, requested) -> str:
    """The prompt's tokens, and what the cross-attention maps above them average (or why there are none)."""
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
