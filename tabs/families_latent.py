"""The Generative families tab's latent space of images: tiny-shapes-sd's VAE turns a 64 x 64 picture into a
latent of 4 x 16 x 16 numbers and back. Interpolation, arithmetic and the four channels, each beside the same
operation on pixels; the computation is playground.families.latent.

    >>> [len(latent.scene_from_caption(text).objects) for text in (INTERPOLATE_A, *ARITHMETIC, CHANNELS)]
    [1, 1, 1, 1, 2]
    >>> latent.expected_caption(*ARITHMETIC)          # red circle - red square + blue square
    'a large blue circle in the center on a white background'
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from playground.diffusion import load_pipeline
from playground.families import latent
from playground.gpu import gpu_task
from tabs.common import escape, friendly_errors, progress_callback
from tabs.families_figures import channels_figure, look_of
from tabs.outputs import image_file

UPSCALE = 4                                                  # 64-pixel pictures shown at 256 pixels
INTERPOLATE_A = "a large red circle in the center on a white background"
INTERPOLATE_B = "a large blue square in the center on a white background"
ARITHMETIC = ("a large red circle in the center on a white background", "a large red square in the center on a white background",
              "a large blue square in the center on a white background")
CHANNELS = "a small red circle above a large blue square on a white background"


def _big(image: np.ndarray, name: str = "image") -> str:
    """A picture upscaled for the page, as a PNG file written whole and named by its content (tabs/outputs.py):
    given an array, Gradio would rewrite one shared file in place for every user who made the same picture."""
    return image_file(image.repeat(UPSCALE, 0).repeat(UPSCALE, 1), name)


def _source(caption: str, upload) -> object:
    return upload if upload is not None else caption


def _vae(progress):
    return load_pipeline("tiny-shapes-sd", progress_callback(progress)).pipe.vae


@gpu_task
@friendly_errors
def interpolate_handler(caption_a, caption_b, upload_a, upload_b, steps, progress=gr.Progress()):
    steps = int(steps) if isinstance(steps, (int, float)) and float(steps).is_integer() else steps
    result = latent.interpolate(_vae(progress), _source(caption_a, upload_a), _source(caption_b, upload_b), steps)
    latent_items = [(_big(image, "latent"), f"latent, α = {alpha:.2f}") for image, alpha in zip(result.latent, result.alphas)]
    pixel_items = [(_big(image, "pixels"), f"pixels, α = {alpha:.2f}") for image, alpha in zip(result.pixel, result.alphas)]
    return latent_items, pixel_items


@gpu_task
@friendly_errors
def arithmetic_handler(a, b, c, progress=gr.Progress()):
    result = latent.arithmetic(_vae(progress), a, b, c)
    items = [(_big(image, label), label) for image, label in zip(result.inputs, ("A", "B", "C"))]
    items += [(_big(result.latent, "latent"), "latent arithmetic"), (_big(result.pixel, "pixels"), "pixel arithmetic")]
    note = ("<p class='fam-note'>Latent arithmetic: decode(z_A − z_B + z_C); pixel arithmetic: A − B + C on the "
            f"pixels. The shapes detector reads the latent result as <b>{escape(result.latent_reads)}</b> and the pixel "
            f"sum as <b>{escape(result.pixel_reads)}</b>.</p>")
    if result.expected is not None:
        items.append((_big(result.expected, "expected"), "expected (the renderer)"))
        note += (f"<p class='fam-note'>A − B + C stands for <q>{escape(result.expected_caption)}</q> (drawn last). Mean squared "
                 f"difference from that drawing (pixels scaled to 0–1): latent {result.latent_error:.4f}, "
                 f"pixels {result.pixel_error:.4f}.</p>")
    return items, note


@gpu_task
@friendly_errors
def channels_handler(caption, upload, display, progress=gr.Progress()):
    result = latent.channels(_vae(progress), _source(caption, upload))
    return _big(result.image, "scene"), _big(result.reconstruction, "decoded"), channels_figure(result.latents, look_of(display))


def build(display: gr.Textbox, live: dict, heavy: dict) -> dict[str, gr.components.Component]:
    """The accordion and its events; returns its inputs by link key (tabs/share.py puts them in the page address).
    `display` is the page's look for the channels figure; `live` and `heavy` are the tab's event settings."""
    with gr.Accordion("Latent space of images: tiny-shapes-sd's VAE", open=False, elem_id="fam-latent"):
        gr.Markdown("The VAE of the Diffusion tab's model turns a 64 × 64 picture into a latent of 4 channels of "
                    "16 × 16 numbers, and back. Scenes are drawn by the shapes renderer from captions in its own words "
                    "(`[a] [small|large] <colour> <shape> [place] [on a <background> background]`, or two objects "
                    "with a relation), or uploaded.")
        with gr.Row():
            interp_a = gr.Textbox(INTERPOLATE_A, label="Scene A", elem_id="fam-interp-a")
            interp_b = gr.Textbox(INTERPOLATE_B, label="Scene B", elem_id="fam-interp-b")
            interp_steps = gr.Number(5, label="Pictures", precision=0, minimum=2, maximum=latent.MAX_STEPS,
                                     elem_id="fam-interp-steps")
        with gr.Row():
            upload_a = gr.Image(label="Or upload A", type="numpy", sources=["upload"], height=140,
                                elem_id="fam-upload-a")
            upload_b = gr.Image(label="Or upload B", type="numpy", sources=["upload"], height=140,
                                elem_id="fam-upload-b")
        interp_button = gr.Button("Interpolate", elem_id="fam-interp-run")
        interp_latent = gr.Gallery(label="Through the latent space: decode((1 − α) z_A + α z_B)", columns=5,
                                   rows=1, height="auto", format="png", elem_id="fam-interp-latent")
        interp_pixel = gr.Gallery(label="Through pixel space: (1 − α) A + α B", columns=5, rows=1,
                                  height="auto", format="png", elem_id="fam-interp-pixel")
        gr.Markdown("**Latent arithmetic**: A − B + C, computed on the latents and decoded, beside the same sum of pixels.")
        with gr.Row():
            arith_a = gr.Textbox(ARITHMETIC[0], label="A", elem_id="fam-arith-a")
            arith_b = gr.Textbox(ARITHMETIC[1], label="− B", elem_id="fam-arith-b")
            arith_c = gr.Textbox(ARITHMETIC[2], label="+ C", elem_id="fam-arith-c")
        arith_button = gr.Button("Compute A − B + C", elem_id="fam-arith-run")
        arith_gallery = gr.Gallery(label="A − B + C", columns=6, rows=1, height="auto", format="png",
                                   elem_id="fam-arith-gallery")
        arith_note = gr.HTML(elem_id="fam-arith-note")
        gr.Markdown("**The four latent channels** of a scene, on one colour scale (hover for values).")
        with gr.Row():
            channels_caption = gr.Textbox(CHANNELS, label="Scene", elem_id="fam-channels-caption", scale=3)
            channels_upload = gr.Image(label="Or upload", type="numpy", sources=["upload"], height=140,
                                       elem_id="fam-channels-upload", scale=1)
            channels_button = gr.Button("Show the channels", elem_id="fam-channels-run", scale=1)
        with gr.Row():
            channels_image = gr.Image(label="The scene", interactive=False, elem_id="fam-channels-image", height=280)
            channels_back = gr.Image(label="Decoded from its latent", interactive=False, elem_id="fam-channels-back",
                                     height=280)
        channels_plot = gr.Plot(show_label=False, elem_id="fam-channels-plot")
    interp_button.click(interpolate_handler, [interp_a, interp_b, upload_a, upload_b, interp_steps],
                        [interp_latent, interp_pixel], api_visibility="private", **heavy)
    arith_button.click(arithmetic_handler, [arith_a, arith_b, arith_c], [arith_gallery, arith_note],
                       api_visibility="private", **heavy)
    channels_button.click(channels_handler, [channels_caption, channels_upload, display],
                          [channels_image, channels_back, channels_plot], **live, **heavy)
    return {"interp_a": interp_a, "interp_b": interp_b, "interp_steps": interp_steps, "arith_a": arith_a,
            "arith_b": arith_b, "arith_c": arith_c, "channels_caption": channels_caption}
