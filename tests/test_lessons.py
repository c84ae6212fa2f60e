"""playground.lessons: the lesson file format, its checks, and the lessons shipped in assets/lessons."""

from pathlib import Path

import pytest

from playground.lessons import LessonError, check_lesson, load_lessons, parse_lesson, read_lessons, tab_of
from playground.links import Field

LESSONS = Path(__file__).resolve().parents[1] / "assets" / "lessons"
TABS = {
    "tokenization": [Field("text", "text", "default"), Field("tokenizers", "choices", ("a",))],
    "sampling": [Field("prompt", "text", ""), Field("seed", "int", 0, 0), Field("chat", "bool", True),
                 Field("strategy1", "choice", "greedy", choices=("greedy", "top_k"))],
}
GOOD = """# Tokens

An introduction, with a heading inside code:

```python
## not a step
```

## First step
Text of the first step.

```try
# a comment
text: Hello, world: a colon inside
tokenizers: a, b
```

More text after the block.

## Second step: no try

Only reading here.

## Third step
```try
text: |
  line one
    indented line two

tokenizers: c
```
"""


def test_parse_steps_titles_bodies_and_settings():
    lesson = parse_lesson(GOOD, "tokenization.md")
    assert lesson.tab == "tokenization" and lesson.title == "Tokens"
    assert "## not a step" in lesson.intro
    assert [step.title for step in lesson.steps] == ["First step", "Second step: no try", "Third step"]
    first, second, third = lesson.steps
    assert first.settings == (("text", "Hello, world: a colon inside"), ("tokenizers", "a, b"))
    assert "```" not in first.body and first.body.endswith("More text after the block.")
    assert second.settings == () and second.body == "Only reading here."
    assert third.settings == (("text", "line one\n  indented line two"), ("tokenizers", "c"))
    assert first.line == 9


def test_check_types_values_against_the_tab():
    lesson = check_lesson(parse_lesson(GOOD, "tokenization-2-more.md"), TABS)
    assert lesson.steps[0].values == {"text": "Hello, world: a colon inside", "tokenizers": ("a", "b")}
    assert lesson.steps[1].values is None


@pytest.mark.parametrize("body, message", [
    ("```try\ncolour: red\n```", 'sampling.md, step 1 "Go": unknown input \'colour\'; the sampling tab has prompt, '
                                 "seed, chat, strategy1"),
    ("```try\nseed: -1\n```", 'sampling.md, step 1 "Go": seed: -1 is below the smallest allowed value, 0.'),
    ("```try\nseed: many\n```", "seed: 'many' is not a whole number"),
    ("```try\nstrategy1: beam\n```", "strategy1: 'beam' is not one of 'greedy', 'top_k'"),
    ("```try\nchat: perhaps\n```", "chat: 'perhaps' is not true or false"),
])
def test_bad_values_name_the_file_and_step(body, message):
    lesson = parse_lesson(f"# L\n\n## Go\n{body}\n", "sampling.md")
    with pytest.raises(LessonError) as error:
        check_lesson(lesson, TABS)
    assert message in str(error.value)


@pytest.mark.parametrize("text, message", [
    ("# L\nno steps at all", "sampling.md: no steps; start each step with a '## ' heading."),
    ("# L\n## Go\n```try\nseed 3\n```", 'sampling.md, step 1 "Go", line 4: expected \'key: value\', got \'seed 3\''),
    ("# L\n## Go\n```try\nseed: 3\nseed: 4\n```", "line 5: 'seed' is set twice"),
    ("# L\n## Go\n```try\n```", 'step 1 "Go": the try block is empty'),
    ("# L\n## Go\n```try\nseed: 3\n", "fence is never closed"),
    ("# L\n## Go\n```try\nseed: 3\n```\n```try\nseed: 4\n```", "line 6: a second try block"),
    ("# L\n## \ntext", "step 1 \"\", line 2: the step has no title"),
])
def test_malformed_files_name_the_file_step_and_line(text, message):
    with pytest.raises(LessonError) as error:
        parse_lesson(text, "sampling.md")
    assert message in str(error.value)


def test_file_names_pick_the_tab(tmp_path):
    assert tab_of("sampling-2-beams.md") == "sampling" and tab_of("Tokenization.md") == "tokenization"
    (tmp_path / "painting.md").write_text("# L\n## Go\n", encoding="utf-8")
    with pytest.raises(LessonError, match=r"painting.md: the file name must start with a tab id \(tokenization, "
                                          r"sampling\), not 'painting'"):
        read_lessons(tmp_path, list(TABS))


def test_lessons_load_in_file_name_order(tmp_path):
    (tmp_path / "sampling.md").write_text("# One\n## Go\n```try\nseed: 1\n```\n", encoding="utf-8")
    (tmp_path / "sampling-2-more.md").write_text("# Two\n## Go\n```try\nseed: 2\n```\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("how to write lessons", encoding="utf-8")
    lessons = load_lessons(tmp_path, TABS)
    assert [lesson.title for lesson in lessons["sampling"]] == ["Two", "One"]
    assert lessons["tokenization"] == []


def test_shipped_lessons_cover_every_tab_and_topic():
    lessons = read_lessons(LESSONS, ["tokenization", "attention", "why", "sampling", "diffusion", "families"])
    text = {tab: " ".join(step.title + " " + step.body for lesson in found for step in lesson.steps).lower()
            for tab, found in lessons.items()}
    for tab, topics in {
        "tokenization": ["token", "bpe", "wordpiece", "sentencepiece", "context window"],
        "attention": ["self-attention", "multi-head", "heads", "query", "key"],
        "why": ["integrated gradients", "contrast", "occlusion", "rollout", "logit", "switch", "patch"],
        "sampling": ["next token", "greedy", "temperature", "top-k", "top-p", "min-p", "typical", "beam", "seed"],
        "diffusion": ["forward", "noise", "u-net", "vae", "guidance", "scheduler", "seed"],
        "families": ["gan", "discriminator", "mode collapse", "vae", "reparameterization", "latent", "flow",
                     "coupling", "exact", "diffusion", "autoregressive", "temperature", "energy distance"],
    }.items():
        assert lessons[tab], f"no lesson for {tab}"
        for topic in topics:
            assert topic in text[tab], f"the {tab} lessons never mention {topic!r}"
        for lesson in lessons[tab]:
            assert all(step.settings for step in lesson.steps), f"{lesson.source}: a step without Try this"
