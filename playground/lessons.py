"""Lessons: guided walkthroughs of a tab, written as Markdown in assets/lessons/ by teachers.

A lesson file belongs to a tab by its name (`sampling.md`, or `sampling-2-beams.md` for a further
lesson on that tab). Its `# heading` is the lesson's title, the text under it an introduction; each
`## heading` starts a step. A step may end with a fenced `try` block: the inputs its "Try this" button
sets (one `key: value` a line; `key: |` followed by indented lines for text over several lines; lists
comma-separated; inputs not named are reset to their defaults), after which the tab runs.

    >>> text = '''# Tokens
    ... What a tokenizer does.
    ...
    ... ## Words and pieces
    ... Common words are one token; rare ones are cut.
    ...
    ... ```try
    ... tokenizers: smollm2-135m-instruct, all-minilm-l6-v2
    ... text: |
    ...   unbelievably
    ...   naïve
    ... ```
    ... '''
    >>> lesson = parse_lesson(text, "tokenization.md")
    >>> lesson.title, lesson.tab, [step.title for step in lesson.steps]
    ('Tokens', 'tokenization', ['Words and pieces'])
    >>> lesson.steps[0].settings
    (('tokenizers', 'smollm2-135m-instruct, all-minilm-l6-v2'), ('text', 'unbelievably\\nnaïve'))
    >>> fields = {"tokenization": [Field("text", "text", ""), Field("tokenizers", "choices", ())]}
    >>> check_lesson(lesson, fields).steps[0].values
    {'tokenizers': ('smollm2-135m-instruct', 'all-minilm-l6-v2'), 'text': 'unbelievably\\nnaïve'}

Errors name the file and the step (and the line, for malformed text), e.g. `LessonError: tokenization.md,
step 1 "Words and pieces": unknown input 'colour'; the tokenization tab has text, tokenizers.`
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from playground.links import Field, coerce

FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\S*)\s*$")
KEY_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s?(.*)$")


class LessonError(ValueError):
    """A lesson file that can't be used, with the file, step and line in the message."""


@dataclass(frozen=True)
class Step:
    title: str
    body: str                                  # Markdown, without the try block
    settings: tuple[tuple[str, str], ...]      # (key, text) in the order written; empty: nothing to try
    line: int                                  # where the step's heading is, for messages
    values: dict | None = None                 # the settings as typed values, once checked against the tab


@dataclass(frozen=True)
class Lesson:
    tab: str                                   # the tab id the file name starts with
    title: str
    intro: str                                 # Markdown under the title, before the first step
    steps: tuple[Step, ...]
    source: str                                # the file name, for messages


def tab_of(name: str) -> str:
    """`sampling-2-beams.md` -> `sampling`."""
    return Path(name).stem.split("-", 1)[0].lower()


def parse_lesson(text: str, source: str) -> Lesson:
    """The lesson in one file's text; LessonError for a file without steps or with a malformed try block."""
    title, intro, sections = _split(text.replace("\r\n", "\n").split("\n"), source)
    if not sections:
        raise LessonError(f"{source}: no steps; start each step with a '## ' heading.")
    steps = tuple(_step(number, heading, line, body, source)
                  for number, (heading, line, body) in enumerate(sections, 1))
    return Lesson(tab_of(source), title or Path(source).stem, "\n".join(intro).strip(), steps, source)


def _split(lines: list[str], source: str) -> tuple[str, list[str], list[tuple[str, int, list[tuple[int, str]]]]]:
    """Title, intro lines and (heading, line number, numbered body lines) per step; fences keep their '#'s."""
    title, intro = "", []
    sections: list[tuple[str, int, list[tuple[int, str]]]] = []
    fence = None
    for number, line in enumerate(lines, 1):
        match = FENCE.match(line.strip()) if fence is None or _closes(line, fence) else None
        if match:
            fence = match.group(1) if fence is None else None
        elif fence is None and line.startswith("## "):
            sections.append((line[3:].strip(), number, []))
            continue
        elif fence is None and line.startswith("# ") and not title and not sections:
            title = line[2:].strip()
            continue
        if sections:
            sections[-1][2].append((number, line))
        else:
            intro.append(line)
    if fence is not None:
        raise LessonError(f"{source}: a {fence} fence is never closed.")
    return title, intro, sections


def _step(number: int, heading: str, line: int, body: list[tuple[int, str]], source: str) -> Step:
    where = f'{source}, step {number} "{heading}"'
    if not heading:
        raise LessonError(f"{where}, line {line}: the step has no title after '## '.")
    kept, settings, i = [], None, 0
    while i < len(body):
        at, text = body[i]
        match = FENCE.match(text.strip())
        if match and match.group(2) == "try":
            if settings is not None:
                raise LessonError(f"{where}, line {at}: a second try block; a step has at most one.")
            end = next((j for j in range(i + 1, len(body)) if _closes(body[j][1], match.group(1))), None)
            if end is None:
                raise LessonError(f"{where}, line {at}: the try block is never closed with {match.group(1)}.")
            settings = _settings(body[i + 1:end], where)
            i = end + 1
            continue
        kept.append(text)
        i += 1
    return Step(heading, "\n".join(kept).strip(), settings or (), line)


def _closes(line: str, fence: str) -> bool:
    text = line.strip()
    return text.startswith(fence) and set(text) == {fence[0]}


def _settings(lines: list[tuple[int, str]], where: str) -> tuple[tuple[str, str], ...]:
    settings: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        at, text = lines[i]
        i += 1
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        match = KEY_LINE.match(text)
        if not match:
            raise LessonError(f"{where}, line {at}: expected 'key: value', got {text.strip()!r}.")
        key, value = match.group(1), match.group(2)
        if key in dict(settings):
            raise LessonError(f"{where}, line {at}: {key!r} is set twice.")
        if value.strip() == "|":
            block = []
            while i < len(lines) and (not lines[i][1].strip() or lines[i][1][:1] in " \t"):
                block.append(lines[i][1])
                i += 1
            value = textwrap.dedent("\n".join(block)).strip("\n")
        else:
            value = value.strip()
        settings.append((key, value))
    if not settings:
        raise LessonError(f"{where}: the try block is empty; give at least one 'key: value'.")
    return tuple(settings)


def check_lesson(lesson: Lesson, tabs: Mapping[str, Sequence[Field]]) -> Lesson:
    """The lesson with each step's settings typed against its tab's fields; LessonError naming the step."""
    if lesson.tab not in tabs:
        raise LessonError(f"{lesson.source}: the file name must start with a tab id ({', '.join(tabs)}), "
                          f"not {lesson.tab!r}.")
    fields = {field.key: field for field in tabs[lesson.tab]}
    steps = []
    for number, step in enumerate(lesson.steps, 1):
        where = f'{lesson.source}, step {number} "{step.title}"'
        values: dict[str, Any] = {}
        for key, text in step.settings:
            if key not in fields:
                raise LessonError(f"{where}: unknown input {key!r}; the {lesson.tab} tab has {', '.join(fields)}.")
            try:
                values[key] = coerce(fields[key], text)
            except ValueError as error:
                raise LessonError(f"{where}: {error}") from None
        steps.append(replace(step, values=values if step.settings else None))
    return replace(lesson, steps=tuple(steps))


def read_lessons(folder: Path, tab_ids: Sequence[str]) -> dict[str, list[Lesson]]:
    """Every `*.md` lesson in the folder (but a README), parsed, grouped by tab in file-name order."""
    lessons: dict[str, list[Lesson]] = {tab_id: [] for tab_id in tab_ids}
    for path in sorted(Path(folder).glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        if tab_of(path.name) not in lessons:
            raise LessonError(f"{path.name}: the file name must start with a tab id ({', '.join(tab_ids)}), "
                              f"not {tab_of(path.name)!r}.")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise LessonError(f"{path.name}: not UTF-8 text ({error.reason} at byte {error.start}).") from None
        lessons[tab_of(path.name)].append(parse_lesson(text, path.name))
    return lessons


def load_lessons(folder: Path, tabs: Mapping[str, Sequence[Field]]) -> dict[str, list[Lesson]]:
    """read_lessons, with every step checked against its tab's fields."""
    return {tab: [check_lesson(lesson, tabs) for lesson in lessons]
            for tab, lessons in read_lessons(folder, list(tabs)).items()}
