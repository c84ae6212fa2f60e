"""The Generative AI Playground: assembles the tabs into one Gradio app.

    python app.py          # serves http://127.0.0.1:7860 (GRADIO_SERVER_PORT / GRADIO_SERVER_NAME honoured)

No model is loaded here: each tab loads what it needs on first use, with a progress bar.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from tabs import attention, diffusion, sampling, tokenization

ASSETS = Path(__file__).parent / "assets"

TABS = [
    ("Tokenization", "tokenization", tokenization),
    ("Attention", "attention", attention),
    ("Sampling", "sampling", sampling),
    ("Diffusion", "diffusion", diffusion),
]


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Generative AI Playground") as app:
        gr.Markdown((ASSETS / "header.md").read_text(encoding="utf-8"), elem_id="pg-header")
        with gr.Tabs():
            for title, tab_id, module in TABS:
                with gr.Tab(title, id=tab_id):
                    module.build()
    return app


def launch_options() -> dict:
    return {
        "server_name": os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        "server_port": int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        "css_paths": [ASSETS / "style.css"],
        "theme": gr.themes.Soft(),
        "footer_links": ["api", "settings"],
    }


if __name__ == "__main__":
    build_app().queue(default_concurrency_limit=4).launch(**launch_options())
