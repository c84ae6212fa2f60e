"""The Diffusion tab's forward diffusion: q(x_t | x0), an image noised at chosen timesteps under the model's
schedule and decoded back (playground.diffusion.forward_diffusion); the examples are scenes of the world
tiny-shapes-sd was trained on (scripts/make_diffusion_examples.py).

    >>> first = "a large green star in the center on a black background"
    >>> example_choices(first)[0] == (first, "a-large-green-star-in-the-center-on-a-black-background.png")
    True
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from playground.diffusion import forward_diffusion, load_image, load_pipeline
from playground.gpu import gpu_task
from tabs.common import friendly_errors, progress_callback
from tabs.diffusion_views import forward_html

EXAMPLE_IMAGES = Path(__file__).resolve().parents[1] / "assets" / "examples" / "diffusion"


def example_choices(first: str) -> list[tuple[str, str]]:
    """Forward-diffusion examples (scripts/make_diffusion_examples.py), shown by their captions; the scene
    captioned `first` first."""
    found = [(path.stem.replace("-", " "), path.name) for path in sorted(EXAMPLE_IMAGES.glob("*.png"))]
    return sorted(found, key=lambda choice: choice[0] != first)


@gpu_task
@friendly_errors
def noise_image_forward(upload, example, timesteps_text, seed, model, preview, progress=gr.Progress(track_tqdm=True)):
    """q(x_t | x0) at the chosen timesteps, as pictures."""
    source = upload if upload else (EXAMPLE_IMAGES / example if example else None)
    if source is None:
        raise ValueError("pick an example image or upload one.")
    image = load_image(source)  # before loading a model: a bad upload is refused at once
    try:
        timesteps = [int(part) for part in str(timesteps_text).replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"timesteps must be whole numbers such as 0, 250, 500, 999; got {timesteps_text!r}.") from None
    loaded = load_pipeline(model, progress_callback(progress))
    return forward_html(forward_diffusion(loaded, image, timesteps, int(seed or 0), preview or "vae"))


def build(seed, model, decoders: list[str], first: str, heavy: dict) -> gr.Radio:
    """The forward diffusion's accordion and event, on the tab's `seed` and `model`; `decoders` are the model's
    preview decoders and `first` the caption of the example shown first. Returns the decoder choice (the tab
    updates its choices when the model changes)."""
    with gr.Accordion("Forward diffusion: noising an image", open=False):
        gr.Markdown("q(x_t | x0) = N(√ᾱ_t · x0, (1 − ᾱ_t) · I): the image is encoded by the VAE, noised in latent "
                    "space at the chosen timesteps under the model's schedule, and decoded again. The examples are "
                    "drawn by the renderer tiny-shapes-sd was trained on.")
        with gr.Row():
            choices = example_choices(first)
            example = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Example image",
                                  elem_id="diff-fwd-example", scale=2)
            upload = gr.File(label="Or upload an image", file_types=["image"], type="filepath",
                             elem_id="diff-fwd-upload")
            fwd_steps = gr.Textbox("0, 100, 250, 500, 750, 999", label="Timesteps", elem_id="diff-fwd-steps")
            fwd_decoder = gr.Radio(decoders, value="vae", label="Decoder", elem_id="diff-fwd-decoder")
            fwd_button = gr.Button("Noise it", elem_id="diff-fwd-run")
        fwd_view = gr.HTML(elem_id="diff-fwd-gallery", elem_classes="pg-diff-view")
    # a noising first clears the last one, so a failed one leaves nothing that looks like its result
    fwd_button.click(lambda: "", None, fwd_view, queue=False, show_progress="hidden", api_visibility="private").then(
        noise_image_forward, [upload, example, fwd_steps, seed, model, fwd_decoder], fwd_view, api_visibility="private",
        **heavy)
    return fwd_decoder
