"""The tab's formatting: escaping, visible whitespace, loose bytes, limits and errors."""

import gradio as gr
import pytest

from playground.tokenization import tokenize
from tabs.common import show_whitespace
from tabs.tokenization import (chip_title, compare, render_build, render_chips, render_comparison,
                               split_partial_bytes, tokenize_api)
from playground.token_build import replay

XSS = "<img src=x onerror=alert(1)>"


def test_user_text_is_escaped_in_chips_and_titles():
    for name in ("smollm2-135m-instruct", "all-minilm-l6-v2", "gemma-3-270m"):
        html = render_comparison([tokenize(XSS + ' "quoted"', name)])
        assert "<img" not in html and "&lt;" in html
        assert 'onerror=alert(1)"' not in html


def test_build_steps_are_escaped():
    assert "<b>" not in render_build(replay("<b>", "smollm2-135m-instruct"))


def test_whitespace_and_controls_are_visible():
    assert show_whitespace(" \t\n\x00\x1b\u200b") == "·→↵␀␛⟨U+200B⟩"
    assert show_whitespace("日本") == "日本"


def test_loose_bytes_of_a_split_character_are_shown_as_hex():
    assert split_partial_bytes(b" \xf0\x9f") == [(False, " "), (True, "F0 9F")]
    assert split_partial_bytes(b"\x91") == [(True, "91")]
    result = tokenize("Hi 👋", "smollm2-135m-instruct")
    html = render_chips(result)
    assert '<span class="pg-bytes">F0 9F</span>' in html
    assert "the first 2 of the 4 bytes of 👋 U+1F44B WAVING HAND SIGN" in chip_title(result, 1)
    assert "1 more of the 4 bytes of 👋" in chip_title(result, 2)


def test_hover_title_has_id_text_bytes_and_span():
    result = tokenize("Hello world", "smollm2-135m-instruct")
    title = chip_title(result, 1)
    assert "id 905" in title and "text &#x27; world&#x27;" in title
    assert "bytes 20 77 6F 72 6C 64" in title and "characters 5–11" in title


def test_long_input_is_cut_for_display_and_says_so():
    result = tokenize("word " * 3000, "smollm2-135m-instruct")
    html = render_chips(result, limit=100)
    assert html.count('class="pg-chip ') == 100
    assert f"first 100 of {result.num_tokens:,} tokens" in html


def test_handlers_turn_bad_input_into_page_errors():
    with pytest.raises(gr.Error, match="text is empty"):
        compare("", ["all-minilm-l6-v2"])
    with pytest.raises(gr.Error, match="choose at least one tokenizer"):
        compare("hi", [])
    with pytest.raises(gr.Error, match="lone surrogate"):
        tokenize_api("a\udc00", "all-minilm-l6-v2")


def test_api_result_is_the_wrapper_dict():
    data = tokenize_api("Hello", "all-minilm-l6-v2")
    assert data["num_tokens"] == 3 and data["tokens"][1]["text"] == "Hello"
