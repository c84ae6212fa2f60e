"""The Why-this-token tab: input parsing, what it draws (escaped once, readable colours), its API handlers."""

from __future__ import annotations

import dataclasses
import re

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import pytest

from playground.inside import ablate, attribute, contributions, count_tokens, edit_prompt, patch
from tabs import why as tab
from tabs import why_views as views
from tests.inside_fixtures import CORRUPTED, PROMPT, tiny_llama  # noqa: F401 (fixture)

XSS = "<img src=x onerror=alert(1)>"


def contrast(background: str, text: str) -> float:
    lum = views._luminance(background)
    other = 0.0 if text == "#000" else 1.0
    bright, dark = max(lum, other), min(lum, other)
    return (bright + 0.05) / (dark + 0.05)


def test_heads_and_layers_are_parsed_or_named():
    assert tab.parse_heads("3.4, L10.H2 12.*") == [(3, 4), (10, 2), (12, None)]
    assert tab.parse_heads("") == [] and tab.parse_layers(" 3, 10;L4") == [3, 10, 4]
    with pytest.raises(ValueError, match="heads: '3' is not layer.head"):
        tab.parse_heads("3")
    with pytest.raises(ValueError, match="MLP blocks: 'x' is not a layer number"):
        tab.parse_layers("x")


def test_chip_colours_keep_aa_contrast_and_order_in_grayscale():
    shares = np.linspace(-1, 1, 41)
    for share in shares:
        background, text = views.chip_colours(float(share))
        assert contrast(background, text) >= 4.5, (share, background, text)
    # lightness falls away from 0 on both sides: the size of a score reads in grayscale (its sign in the outline)
    lightness = [views._luminance(views.chip_colours(float(s))[0]) for s in shares]
    middle = len(shares) // 2
    assert all(a <= b + 1e-9 for a, b in zip(lightness[:middle], lightness[1:middle + 1]))
    assert all(a >= b - 1e-9 for a, b in zip(lightness[middle:], lightness[middle + 1:]))


def test_chips_escape_token_text_once_and_mark_the_sign():
    html = views.score_chips([XSS, " a\n", "b"], np.array([1.0, -0.5, 0.0]), [False, False, True], "log-probability")
    assert "<img" not in html and html.count("&lt;img src=x onerror=alert(1)&gt;") == 2   # chip and its title
    assert "&amp;lt;" not in html                                                          # not twice
    assert 'why-chip why-pos' in html and 'why-chip why-neg' in html and "why-kept" in html
    assert " a↵" in html and "0 by construction" in html


def test_views_of_real_results_escape_and_validate(tiny_llama, monkeypatch):
    result = attribute(PROMPT, tiny_llama, "", "integrated_gradients", "rome")
    poisoned = dataclasses.replace(result, tokens=[XSS] + result.tokens[1:], target=XSS)
    html = views.attribution_html(poisoned)
    assert "<img" not in html and "Completeness" in html and "why the target" not in html
    assert "and not <b>&#x27;rome&#x27;</b>" in html
    figure = views.attribution_plot(poisoned)
    go.Figure(figure.to_dict())                                          # a valid Plotly figure
    assert figure.data[0].x[0] == "0 &lt;img src=x onerror=alert(1)&gt;"
    parts = contributions(PROMPT, tiny_llama, "")
    poisoned_parts = dataclasses.replace(parts, target=XSS)
    assert "<img" not in views.contributions_html(poisoned_parts)
    chart = views.contributions_plot(parts)
    assert chart.data[0].z.shape == (3, 6) and "<img" not in chart.layout.title.text
    np.testing.assert_allclose(chart.data[1].x, parts.grid()[:, 4] + parts.grid()[:, 5])


def test_intervention_and_patching_views(tiny_llama):
    result = ablate(PROMPT, tiny_llama, [[0, 1]], [2], "zero")
    assert "KL(before ‖ after)" in views.intervention_html(result)
    figure = views.intervention_plot(result)
    assert [trace.name for trace in figure.data] == ["before", "after"]
    edited = edit_prompt(PROMPT, tiny_llama, "cat", "dog")
    assert "Prompt run after the change" in views.intervention_html(edited)
    patched = patch(PROMPT, CORRUPTED, tiny_llama, "tired")
    chart = views.patching_plot(patched)
    assert chart.data[0].z.shape == (3, 8) and chart.data[0].x[1] == "1 cat / dog"
    assert "p = " in views.patching_html(patched)
    counts = views.counts_html(count_tokens(PROMPT, CORRUPTED, tiny_llama))
    assert "the same length: ready" in counts and counts.count("pg-diff") == 2
    uneven = views.counts_html(count_tokens(PROMPT, "the dog", tiny_llama))
    assert "different lengths: 8 and 2 tokens" in uneven


def test_api_handlers_on_a_tiny_model(tiny_llama):
    result = tab.attribute_api(PROMPT, tiny_llama, "", "integrated_gradients", "")
    assert result["completeness_error"] < 0.05 and len(result["scores"]) == 8
    assert tab.contributions_api(PROMPT, tiny_llama, "dog")["target"] == "dog"
    assert tab.ablate_api(PROMPT, tiny_llama, [], [], "zero")["kl"] == 0.0
    assert len(tab.patch_api(PROMPT, CORRUPTED, tiny_llama, "tired")["restored"]) == 3
    with pytest.raises(gr.Error, match="the clean prompt is 8 tokens and the corrupted prompt is 2 tokens"):
        tab.patch_api(PROMPT, "the dog", tiny_llama, "")
    with pytest.raises(gr.Error, match="method must be one of"):
        tab.attribute_api(PROMPT, tiny_llama, "", "saliency", "")


def test_explain_streams_the_attribution_then_the_contributions(tiny_llama):
    steps = list(tab.explain(PROMPT, tiny_llama, "", "Occlusion", "", 32, progress=lambda *a, **k: None))
    assert len(steps) == 2
    first, second = steps
    assert "Occlusion on" in first[0] and first[2] is None
    assert "The logit of" in second[2] and isinstance(second[3], go.Figure)


def test_copy_as_python_is_valid_python_with_the_values():
    values = {"prompt": "It's \"quoted\"", "model": "smollm2-135m-instruct", "target": "", "method": "Occlusion",
              "contrast": "Rome", "steps": 32, "heads": "3.4, 10.*, bad", "mlps": "2", "mode": "zero",
              "edit_token": "Eiffel", "edit_with": "", "clean": "a b", "corrupted": "a c", "patch_target": "",
              "kind": "Residual stream"}
    lines = tab.python_lines(values)
    compile("\n".join(lines), "snippet", "exec")
    text = "\n".join(lines)
    assert "'occlusion'" in text and "api_name=\"/patch\"" in text
    assert "client.predict(prompt, model, [], [2], 'zero'" in text          # heads that don't parse: none
    heads = "\n".join(tab.python_lines({**values, "heads": "3.4, 10.*"}))
    assert "[[3, 4], [10, None]]" in heads


def test_each_example_has_a_whole_label():
    """Gradio cuts an example's label after 50 characters (the method, at the end, was lost)."""
    assert len(tab.EXAMPLE_LABELS) == len(tab.EXAMPLES)
    assert all(len(label) <= 50 for label in tab.EXAMPLE_LABELS), [len(label) for label in tab.EXAMPLE_LABELS]
    for label, (prompt, model, target, method, contrast) in zip(tab.EXAMPLE_LABELS, tab.EXAMPLES):
        assert method.lower() in label.lower() or contrast in label, label
