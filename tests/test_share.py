"""tabs.share (links and Python snippets from the tabs' own components) and the lesson checks at start-up."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import gradio as gr
import pytest

import app
from playground.lessons import LessonError, parse_lesson
from playground.links import decode_link, encode_link
from tabs import lessons as lesson_ui
from tabs import share
from tabs.sampling import slots_to_strategies

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tabs():
    """tab id -> (Controls, fields), from the real tab modules."""
    with gr.Blocks():
        built = {tab_id: module.build() for _, tab_id, module in app.TABS}
    return {tab_id: (controls, share.fields_of(controls)) for tab_id, controls in built.items()}


def fields_by_tab(tabs):
    return {tab_id: fields for tab_id, (_, fields) in tabs.items()}


def test_fields_follow_the_components(tabs):
    fields = {f.key: f for f in tabs["sampling"][1]}
    assert (fields["chat"].kind, fields["chat"].default) == ("bool", True)
    assert (fields["max_new_tokens"].kind, fields["max_new_tokens"].maximum) == ("int", 256)
    assert (fields["temperature3"].kind, fields["temperature3"].default, fields["temperature3"].minimum) == \
        ("float", 0.8, 0.05)
    assert fields["strategy1"].choices[:2] == ("off", "greedy")
    assert fields["model"].choices == ()  # any Hub id or folder may be typed
    tokenizers = {f.key: f for f in tabs["tokenization"][1]}["tokenizers"]
    assert tokenizers.kind == "choices" and "all-minilm-l6-v2" in tokenizers.default
    attention = {f.key: f for f in tabs["attention"][1]}
    assert attention["layer"].maximum is None and attention["head"].minimum == -1  # the model sets the range
    assert attention["kind"].choices == ("Attention weights", "Rollout (Abnar & Zuidema)")
    diffusion = {f.key: f for f in tabs["diffusion"][1]}
    assert diffusion["model"].default == "tiny-shapes-sd" and diffusion["guidance_scale"].kind == "float"


def test_every_tab_runs_from_a_button_with_an_id(tabs):
    for controls, _ in tabs.values():
        assert isinstance(controls.run, gr.Button) and controls.run.elem_id


def test_updates_set_named_values_and_reset_the_rest(tabs):
    controls, fields = tabs["attention"]
    updates = share.updates_for(controls, fields, {"model": "smollm2-135m-instruct", "layer": 20})
    by_key = dict(zip(controls.inputs, updates))
    assert by_key["model"]["value"] == "smollm2-135m-instruct"
    assert by_key["layer"]["value"] == 20 and by_key["layer"]["maximum"] == 20  # the slider must hold it
    assert by_key["head"]["value"] == -1 and by_key["text"]["value"].startswith("The animal")


def assert_compiles(code: str) -> None:
    """The snippet is valid Python (the e2e tests run one against the app)."""
    compile(code, "<snippet>", "exec")


def test_python_snippets_use_the_real_api_signatures(tabs):
    url = "http://127.0.0.1:7860/"
    controls, fields = tabs["tokenization"]
    code = share.python_snippet("tokenization", fields, {"text": "Hi 👋", "tokenizers": ("gemma-3-270m",)}, url,
                                tabs["tokenization"][0].snippet)
    assert_compiles(code)
    assert "text = 'Hi 👋'" in code and "for tokenizer in ['gemma-3-270m']:" in code
    assert 'client.predict(text, tokenizer, api_name="/tokenize")' in code
    assert f"# The same run in the browser: {url}?tab=tokenization&text=Hi+%F0%9F%91%8B&tokenizers=gemma-3-270m" in code

    code = share.python_snippet("attention", tabs["attention"][1], {"model": "gemma-3-270m", "layer": 3, "head": 2,
                                                                    "kind": "Rollout (Abnar & Zuidema)"}, url,
                                tabs["attention"][0].snippet)
    assert_compiles(code)
    assert "client.predict(text, 'gemma-3-270m', 3, 2, api_name=\"/attention\")" in code
    assert "# The page showed attention rollout; the API gives the layer's own weights." in code

    values = {"prompt": "Once", "strategy1": "top_p", "p1": 0.5, "strategy2": "off", "seed": 7, "chat": False}
    code = share.python_snippet("sampling", tabs["sampling"][1], values, url, tabs["sampling"][0].snippet)
    assert_compiles(code)
    namespace: dict = {}
    exec(next(line for line in code.splitlines() if line.startswith("strategies = ")), namespace)
    defaults = {f.key: f.default for f in tabs["sampling"][1]}
    merged = {**defaults, **values}
    slots = [[merged[f"{name}{i}"] for name in ("strategy", "temperature", "k", "p", "beams")] for i in range(1, 6)]
    assert namespace["strategies"] == slots_to_strategies(*slots)
    assert namespace["strategies"][0] == {"name": "top_p", "temperature": 1.0, "p": 0.5}
    assert "'smollm2-135m-instruct', strategies, 40, 7, False, api_name=\"/generate\")" in code

    code = share.python_snippet("diffusion", tabs["diffusion"][1], {"prompt": "a red circle", "size": 96}, url,
                                tabs["diffusion"][0].snippet)
    assert_compiles(code)
    assert ("client.predict(prompt, 'tiny-shapes-sd', 20, 5.0, 0, 'DDIM', '', api_name=\"/denoise\")" in code)
    assert "96 x 96" in code


def test_snippet_values_come_typed_from_the_page(tabs):
    fields = tabs["sampling"][1]
    raw = [f.default for f in fields]
    raw[[f.key for f in fields].index("max_new_tokens")] = 12.0   # sliders send floats
    values = share.typed_values(fields, raw)
    assert values["max_new_tokens"] == 12 and isinstance(values["max_new_tokens"], int)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_browser_link_builder_matches_the_python_decoder(tabs):
    """Run the address-bar script in node with a fake window; Python must read back the same values."""
    controls, fields = tabs["sampling"]
    builder = share.link_builder_js("sampling", fields)
    values = {f.key: f.default for f in fields}
    values.update(prompt="naïve & 👋 ?#=+\nline", max_new_tokens=12, temperature1=1, chat=False, strategy2="off")
    page_values = [list(values[f.key]) if f.kind == "choices" else values[f.key] for f in fields]
    script = (f"const window = {{location: {{search: '?__theme=dark&tab=attention&layer=3&text=old&bogus=1"
              f"&projector=1', "
              f"pathname: '/app/'}}}};\nconsole.log(({builder})({json.dumps(page_values)}));")
    address = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout.strip()
    parts = urlsplit(address)
    assert parts.path == "/app/"
    items = parse_qsl(parts.query, keep_blank_values=True)
    assert ("__theme", "dark") in items and ("projector", "1") in items  # others' parameters stay
    assert {key for key, _ in items} == {"__theme", "projector", "tab", "prompt", "max_new_tokens", "chat",
                                         "strategy2"}
    link = decode_link(items, fields_by_tab(tabs), ignore=share.FOREIGN_KEYS)
    assert link.problems == () and link.tab == "sampling"
    assert link.values == {**values, "max_new_tokens": 12, "temperature1": 1.0}
    assert parts.query.split("&", 2)[2] == encode_link("sampling", fields, values)  # the same link as Python's


def test_query_items_keep_repeats():
    from starlette.datastructures import QueryParams

    request = gr.Request(query_params=QueryParams("tab=tokenization&tokenizers=a&tokenizers=b"))
    assert share.query_items(request) == [("tab", "tokenization"), ("tokenizers", "a"), ("tokenizers", "b")]
    assert share.query_items(gr.Request(query_params={"tab": "sampling"})) == [("tab", "sampling")]
    assert share.query_items(None) == []


def test_notice_escapes_what_the_link_said():
    link = decode_link([("tab", "<img src=x onerror=alert(1)>")], {"tokenization": []})
    text = share.notice_markdown(link)
    assert "<img" not in text and "&lt;img" in text


def test_lesson_step_text_escapes_settings():
    lesson = parse_lesson(
        "# L\n## Go\nRead this.\n```try\ntext: <script>alert(1)</script>\n```\n", "tokenization.md")
    text = lesson_ui.step_markdown(lesson, 0)
    assert "<script>" not in text and "&lt;script&gt;" in text and "Read this." in text


def test_shipped_lessons_fit_the_tabs_at_start_up():
    built = app.build_app()
    assert isinstance(built, gr.Blocks)


def test_a_bad_lesson_stops_start_up_naming_the_file_and_step(tmp_path):
    (tmp_path / "diffusion.md").write_text(
        "# Noise\n\n## Fine\n```try\nsteps: 10\n```\n\n## Broken\n```try\nsteps: ten\n```\n", encoding="utf-8")
    with pytest.raises(LessonError, match=r"diffusion.md, step 2 \"Broken\": steps: 'ten' is not a whole number"):
        app.build_app(lessons_folder=tmp_path)
    (tmp_path / "diffusion.md").write_text("# Noise\n\n## Fine\n```try\nsampler: DDIM\n```\n", encoding="utf-8")
    with pytest.raises(LessonError, match=r"diffusion.md, step 1 \"Fine\": unknown input 'sampler'; the diffusion "
                                          r"tab has prompt, negative_prompt, model, scheduler"):
        app.build_app(lessons_folder=tmp_path)


def test_the_lesson_guide_lists_every_key(tabs):
    guide = (ROOT / "assets" / "lessons" / "README.md").read_text(encoding="utf-8")
    for tab_id, (_, fields) in tabs.items():
        rows = [line for line in guide.splitlines() if line.startswith(f"| {tab_id} |")]
        for field in fields:
            key = field.key.rstrip("12345")
            assert any(f"`{key}`" in row or f"`{key}1`" in row for row in rows), f"{tab_id}: {field.key} is undocumented"


def test_python_app_py_refuses_a_bad_lesson_folder_with_a_message(tmp_path):
    (tmp_path / "sampling.md").write_text("# L\n## Hot\n```try\ntemperature1: 5\n```\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PLAYGROUND_LESSONS": str(tmp_path), "GRADIO_SERVER_PORT": "1"})
    assert result.returncode == 1
    assert 'sampling.md, step 1 "Hot": temperature1: 5 is above the largest allowed value, 3.' in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_every_page_script_parses(tabs):
    builder = share.link_builder_js("tokenization", tabs["tokenization"][1])
    scripts = [share.sync_js(builder), share.copy_link_js(builder), share.click_js('"tok-run"'),
               share.click_js("values[0]"), share.BASE_URL_JS]
    source = "\n".join(f"const f{i} = {script};" for i, script in enumerate(scripts))
    subprocess.run(["node", "--check", "-"], input=source, capture_output=True, text=True, check=True)
