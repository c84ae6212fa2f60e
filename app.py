"""The Generative AI Playground: assembles the tabs into one Gradio app.

    python app.py          # serves http://127.0.0.1:7860 (GRADIO_SERVER_PORT / GRADIO_SERVER_NAME honoured)

No model is loaded here: each tab loads what it needs on first use, with a progress bar.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from playground.lessons import LessonError, read_lessons
from tabs import attention, diffusion, lessons, sampling, share, tokenization

ASSETS = Path(__file__).parent / "assets"
LESSONS = Path(os.environ.get("PLAYGROUND_LESSONS", ASSETS / "lessons"))

TABS = [
    ("Tokenization", "tokenization", tokenization),
    ("Attention", "attention", attention),
    ("Sampling", "sampling", sampling),
    ("Diffusion", "diffusion", diffusion),
]


def build_app(lessons_folder: Path = LESSONS) -> gr.Blocks:
    """The app; a lesson file that doesn't fit its tab raises LessonError (naming the file and step) here."""
    texts = read_lessons(lessons_folder, [tab_id for _, tab_id, _ in TABS])
    with gr.Blocks(title="Generative AI Playground") as app:
        gr.Markdown((ASSETS / "header.md").read_text(encoding="utf-8"), elem_id="pg-header")
        notice = gr.Markdown(visible=False, elem_id="pg-link-notice")
        run_target = gr.Textbox(visible=False)
        built = {}
        with gr.Tabs() as tabs:
            for title, tab_id, module in TABS:
                with gr.Tab(title, id=tab_id) as tab:
                    panel = lessons.build_panel(tab_id, texts[tab_id])
                    tools = share.build_tools(tab_id)
                    built[tab_id] = (tab, panel, tools, module.build())
        controls = {tab_id: parts[3] for tab_id, parts in built.items()}
        fields = {tab_id: share.wire_tab(tab_id, tab, tab_controls, tools)
                  for tab_id, (tab, _, tools, tab_controls) in built.items()}
        for tab_id, (_, panel, _, tab_controls) in built.items():
            if panel is not None:
                lessons.check_panel(panel, fields)
                lessons.wire_panel(panel, tab_controls, fields[tab_id])
        share.wire_restore(app, tabs, notice, run_target, controls, fields)
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
    try:
        playground_app = build_app()
    except LessonError as error:  # a teacher's lesson file: say which file and step, no traceback
        raise SystemExit(f"Can't start: a lesson in {LESSONS} doesn't fit its tab.\n{error}") from None
    playground_app.queue(default_concurrency_limit=4).launch(**launch_options())
