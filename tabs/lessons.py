"""The lesson panel at the top of each tab: a step of explanation, Previous / Next, and "Try this".

The text comes from assets/lessons/*.md (see playground/lessons.py for the format). "Try this" sets the
tab's inputs to the step's settings (the others back to their defaults) and presses the tab's own run
button, so a lesson runs exactly what a user would run. Lesson text is Markdown; the settings it shows
are escaped.

    >>> from playground.lessons import Lesson, Step
    >>> step = Step("Pieces", "Rare words are cut.", (("text", "<b>unbelievably</b>"),), 3, {"text": "<b>x</b>"})
    >>> print(step_markdown(Lesson("tokenization", "Tokens", "", (step,), "tokenization.md"), 0))
    **Step 1 of 1 · Pieces**
    <BLANKLINE>
    Rare words are cut.
    <BLANKLINE>
    <small>Try this sets <b>text</b> = <code>&lt;b&gt;unbelievably&lt;/b&gt;</code>; the other inputs go back to their defaults.</small>
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import gradio as gr

from playground.lessons import Lesson, check_lesson
from playground.links import Field
from tabs.common import Controls, escape
from tabs.share import click_js, updates_for

SHOWN_CHARACTERS = 80  # of a setting's value in the step text


def step_markdown(lesson: Lesson, index: int) -> str:
    step = lesson.steps[index]
    parts = []
    if index == 0 and lesson.intro:
        parts.append(lesson.intro)
    parts += [f"**Step {index + 1} of {len(lesson.steps)} · {step.title}**", step.body]
    if step.settings:
        shown = "; ".join(f"<b>{escape(key)}</b> = <code>{escape(_short(value))}</code>" for key, value in step.settings)
        parts.append(f"<small>Try this sets {shown}; the other inputs go back to their defaults.</small>")
    return "\n\n".join(part for part in parts if part)


def _short(value: str) -> str:
    value = value.replace("\n", " ↵ ")
    return value if len(value) <= SHOWN_CHARACTERS else value[:SHOWN_CHARACTERS - 1] + "…"


@dataclass
class LessonPanel:
    tab_id: str
    lessons: list[Lesson]
    choice: gr.Dropdown
    text: gr.Markdown
    previous: gr.Button
    next: gr.Button
    try_button: gr.Button
    step: gr.State                  # the step shown, per browser session


def build_panel(tab_id: str, lessons: list[Lesson]) -> LessonPanel | None:
    """The accordion (closed) at the top of a tab; None when the tab has no lesson."""
    if not lessons:
        return None
    first = lessons[0]
    with gr.Accordion(f"Lesson: {first.title}" if len(lessons) == 1 else "Lessons", open=False,
                      elem_id=f"{tab_id}-lesson"):
        choice = gr.Dropdown([(lesson.title, i) for i, lesson in enumerate(lessons)], value=0, label="Lesson",
                             visible=len(lessons) > 1, elem_id=f"{tab_id}-lesson-choice")
        text = gr.Markdown(step_markdown(first, 0), elem_id=f"{tab_id}-lesson-text")
        with gr.Row():
            previous = gr.Button("◀ Previous", interactive=False, elem_id=f"{tab_id}-lesson-previous", size="sm")
            following = gr.Button("Next ▶", interactive=len(first.steps) > 1, elem_id=f"{tab_id}-lesson-next",
                                  size="sm")
            try_button = gr.Button("Try this", variant="primary", visible=bool(first.steps[0].settings),
                                   elem_id=f"{tab_id}-lesson-try", size="sm")
        step = gr.State(0)
    return LessonPanel(tab_id, lessons, choice, text, previous, following, try_button, step)


def check_panel(panel: LessonPanel, fields: dict[str, list[Field]]) -> None:
    """Type every step's settings against the tab's inputs (LessonError names the file and step)."""
    panel.lessons = [check_lesson(lesson, fields) for lesson in panel.lessons]


def wire_panel(panel: LessonPanel, controls: Controls, fields: list[Field]) -> None:
    def show(lesson_index, index):
        lesson = panel.lessons[int(lesson_index or 0)]
        index = max(0, min(int(index or 0), len(lesson.steps) - 1))
        return (index, step_markdown(lesson, index), gr.update(interactive=index > 0),
                gr.update(interactive=index < len(lesson.steps) - 1),
                gr.update(visible=bool(lesson.steps[index].settings)))

    def try_step(lesson_index, index):
        step = panel.lessons[int(lesson_index or 0)].steps[int(index or 0)]
        if not step.values:
            raise gr.Error("This step has nothing to try.")
        return updates_for(controls, fields, step.values)

    outputs = [panel.step, panel.text, panel.previous, panel.next, panel.try_button]
    panel.previous.click(lambda lesson, i: show(lesson, (i or 0) - 1), [panel.choice, panel.step], outputs,
                         api_visibility="private", queue=False)
    panel.next.click(lambda lesson, i: show(lesson, (i or 0) + 1), [panel.choice, panel.step], outputs,
                     api_visibility="private", queue=False)
    panel.choice.change(lambda lesson: show(lesson, 0), panel.choice, outputs, api_visibility="private",
                        queue=False)
    panel.try_button.click(try_step, [panel.choice, panel.step], list(controls.inputs.values()),
                           api_visibility="private", queue=False).success(
        None, None, None, js=click_js(json.dumps(controls.run.elem_id), scroll=True), api_visibility="private")
