"""The Generative AI Playground: assembles the tabs into one Gradio app.

    python app.py          # serves http://127.0.0.1:7860 (GRADIO_SERVER_PORT / GRADIO_SERVER_NAME honoured)

No model is loaded here: each tab loads what it needs on first use, with a progress bar.
On Hugging Face Spaces (SPACE_ID set) public mode is on: see playground/public.py. The heavy events of
each tab (those with a progress bar, and the API endpoints) share one concurrency group per tab
(tabs.common.heavy_events, set on each listener), so one busy tab can't hold every worker; events that join a batch shared by everyone (Sampling's decoding) have
their own, larger group, since their work is done one batch at a time anyway:

    >>> app = build_app()
    >>> sorted({fn.concurrency_id for fn in app.fns.values() if fn.concurrency_id in TAB_IDS})
    ['attention', 'diffusion', 'families', 'tokenization', 'why']
"""

from __future__ import annotations

import os
from pathlib import Path

# A classroom laptop may be offline, and a school may not want usage reports: no Gradio analytics
# unless asked for.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Several users' work shares the cores: OpenMP threads that spin while waiting for work (its default) burn the
# time another request needs (measured: a lone call wasted 25-30 s of CPU spinning on a busy 2-core machine).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gradio as gr  # noqa: E402 (after the setting above)

from playground import memory, public
from playground.lessons import LessonError, read_lessons
from playground.settings import current
from tabs import attention, diffusion, families, lessons, sampling, share, tokenization, why

ASSETS = Path(__file__).parent / "assets"

TABS = [
    ("Tokenization", "tokenization", tokenization),
    ("Attention", "attention", attention),
    ("Why this token?", "why", why),
    ("Sampling", "sampling", sampling),
    ("Diffusion", "diffusion", diffusion),
    ("Generative families", "families", families),
]
TAB_IDS = [tab_id for _, tab_id, _ in TABS]

# Display toggles: a class on <body> (Gradio's own dark mode is the `dark` class), remembered in
# localStorage; ?projector=1 in the URL turns projector mode on for a shared link (?__theme=dark: Gradio's).
TOGGLE_JS = """(cls, key, id) => {
  const on = document.body.classList.toggle(cls);
  localStorage.setItem(key, on ? "1" : "0");
  document.getElementById(id)?.setAttribute("aria-pressed", String(on));
}"""
RESTORE_JS = """() => {
  const url = new URL(window.location.href).searchParams;
  const theme = url.get("__theme");  // Gradio has applied it already: it wins over a remembered choice
  const toggles = [["pg-projector", "pg-projector", "pg-projector-toggle", url.get("projector")],
                   ["dark", "pg-dark", "pg-dark-toggle", theme === "dark" ? "1" : theme === "light" ? "0" : null]];
  for (const [cls, key, id, fromUrl] of toggles) {
    const saved = fromUrl ?? localStorage.getItem(key);
    if (saved === "1" || saved === "0") document.body.classList.toggle(cls, saved === "1");
    document.getElementById(id)?.setAttribute("aria-pressed", String(document.body.classList.contains(cls)));
  }
}"""


# Error toasts stay 10 s and stack ("Error (3)") when a student clicks again; the next click on a button
# closes the old ones, so the toast on screen is about the latest run.
CLOSE_OLD_ERRORS_JS = """() => {
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || button.closest("[data-testid=toast-body]")) return;
    for (const close of document.querySelectorAll(".toast-body.error [data-testid=toast-close]")) close.click();
  }, true);
}"""


def build_app(lessons_folder: Path | None = None) -> gr.Blocks:
    """The app; a lesson file that doesn't fit its tab raises LessonError (naming the file and step) here.
    Lessons come from `lessons_folder`, else PLAYGROUND_LESSONS, else assets/lessons."""
    texts = read_lessons(lessons_folder or current().lessons, [tab_id for _, tab_id, _ in TABS])
    with gr.Blocks(title="Generative AI Playground") as app:
        with gr.Row(equal_height=True):
            gr.Markdown((ASSETS / "header.md").read_text(encoding="utf-8"), elem_id="pg-header")
            display_toggles()
        if public.enabled():
            gr.Markdown(public_note(), elem_id="pg-public-note")
        notice = gr.Markdown(visible=False, elem_id="pg-link-notice")
        run_target = gr.Textbox(visible=False)
        built = {}
        with gr.Tabs() as tabs:
            for title, tab_id, module in TABS:
                with gr.Tab(title, id=tab_id) as tab:
                    panel = lessons.build_panel(tab_id, texts[tab_id])
                    tools = share.build_tools(tab_id)
                    tab_controls = module.build()
                    built[tab_id] = (tab, panel, tools, tab_controls)
        controls = {tab_id: parts[3] for tab_id, parts in built.items()}
        fields = {tab_id: share.wire_tab(tab_id, tab, tab_controls, tools)
                  for tab_id, (tab, _, tools, tab_controls) in built.items()}
        for tab_id, (_, panel, _, tab_controls) in built.items():
            if panel is not None:
                lessons.check_panel(panel, fields)
                lessons.wire_panel(panel, tab_controls, fields[tab_id])
        share.wire_restore(app, tabs, notice, run_target, controls, fields)
        app.load(None, js=RESTORE_JS)
        app.load(None, js=CLOSE_OLD_ERRORS_JS)
    return app


def public_note() -> str:
    limits = ", ".join(f"{public.limit(key):,} {spec.unit}" for key, spec in public.LIMITS.items()
                       if key in ("max_new_tokens", "diffusion_steps", "text_chars"))
    return (f"*A shared server: the embedded models and a few small Hub models, and limits such as {limits}. "
            "Run the Playground on your own machine for anything larger (see the README).*")


def display_toggles() -> None:
    """Projector mode (larger text) and dark theme: ordinary buttons, so Tab and Enter/Space reach them."""
    with gr.Column(scale=0, min_width=190, elem_id="pg-display"):
        projector = gr.Button("Projector mode", size="sm", elem_id="pg-projector-toggle")
        dark = gr.Button("Dark theme", size="sm", elem_id="pg-dark-toggle")
    projector.click(None, js=f"() => ({TOGGLE_JS})('pg-projector', 'pg-projector', 'pg-projector-toggle')")
    dark.click(None, js=f"() => ({TOGGLE_JS})('dark', 'pg-dark', 'pg-dark-toggle')")


def playground_theme() -> gr.themes.Base:
    """Gradio's Soft theme with every text at WCAG AA contrast (4.5:1) in the light and the dark theme: its
    labels, info lines, selected tab and primary buttons use indigo 500 (#6366f1) on light indigo or white,
    3 to 4.3:1, and its subdued grey 2.5:1; one shade darker (lighter in the dark theme) passes."""
    return gr.themes.Soft().set(
        block_label_text_color="*primary_700", block_title_text_color="*primary_700",
        block_label_background_fill_dark="*primary_700",
        block_info_text_color="*neutral_600", block_info_text_color_dark="*neutral_300",
        body_text_color_subdued="*neutral_600", body_text_color_subdued_dark="*neutral_300",
        button_primary_background_fill="*primary_600", button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover="*primary_700", button_primary_background_fill_hover_dark="*primary_600",
        checkbox_label_background_fill_selected="*primary_600",
        checkbox_label_background_fill_selected_dark="*primary_700",
        color_accent="*primary_600", color_accent_soft_dark="*primary_700",
    )


def launch_options() -> dict:
    return {
        "server_name": current().server_name,
        "server_port": current().server_port,
        "css_paths": [ASSETS / "style.css"],
        "theme": playground_theme(),
        "footer_links": ["api", "settings"],
        "max_file_size": public.max_upload(),
    }


def convert_in_background() -> None:
    """On Spaces the embedded GGUF models are converted while the app already serves (see prepare.convert)."""
    import logging
    import threading

    from playground.prepare import convert
    from playground.registry import TEXT_MODELS

    def run() -> None:
        try:
            convert(list(TEXT_MODELS))
        except ValueError as error:  # a model that can't be found now says so again when it is asked for
            logging.getLogger("playground").warning("preparing the embedded models: %s", error)

    threading.Thread(target=run, name="playground-convert", daemon=True).start()


if __name__ == "__main__":
    memory.limit_malloc_arenas()   # before Gradio starts its worker threads
    memory.trim_periodically(30.0)
    try:
        playground_app = build_app()
    except LessonError as error:  # a teacher's lesson file: say which file and step, no traceback
        raise SystemExit(f"Can't start: a lesson in {current().lessons} doesn't fit its tab.\n{error}") from None
    if public.on_spaces():
        convert_in_background()
    playground_app.queue(default_concurrency_limit=4, max_size=public.queue_size()).launch(**launch_options())
