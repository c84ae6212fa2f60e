"""The Attention tab: its formatting functions, and the tab driven end to end in headless Chromium."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
import urllib.request

import gradio as gr
import numpy as np
import plotly.graph_objects as go
import pytest

from playground.attention import logit_lens, run_attention, select_weights
from tabs import attention as tab
from tabs import attention_compare, attention_views as views
from tabs.common import escape
from tests.conftest import fill_and_commit

XSS = "<img src=x onerror=alert(1)> it was"


def test_plotly_labels_escape_token_text():
    assert views.plotly_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert views.plotly_text("a\nb") == "a↵b"


def test_heatmap_carries_the_shown_weights_compactly_and_exactly():
    result = run_attention("The cat sat on the mat.", "all-minilm-l6-v2")
    plot = json.loads(views.heatmap_figure(result, 2, 5, "weights").to_json())   # what Gradio sends the page
    trace = plot["data"][0]
    assert trace["type"] == "heatmap" and trace["x"][0] == "0 [CLS]" and len(trace["x"]) == result.num_tokens
    z = trace["z"]   # a plotly.js typed array: base64 of the float32 values, with their shape
    values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
    np.testing.assert_array_equal(values.reshape(result.weights.shape[-2:]), result.weights[2, 5])
    assert plot["layout"]["yaxis"]["autorange"] == "reversed" and plot["layout"]["template"]["layout"]["font"]
    assert plot["layout"]["xaxis"]["tickvals"] == trace["x"]                   # every token labelled


def test_overview_image_maps_clicks_to_layer_and_head():
    result = run_attention("The cat sat on the mat.", "all-minilm-l6-v2")
    picture = views.overview_image(result)
    assert picture.groups == 1 and "full resolution" in picture.note and "L0–L5" in picture.note
    for layer in range(6):
        for head in range(12):
            x = picture.left + head * picture.map_px + picture.map_px // 2
            y = picture.top + layer * picture.map_px + picture.map_px // 2
            assert picture.pick(x, y) == (layer, head)
    assert picture.pick(5, 5) is None                           # the labels' corner
    assert picture.image.shape[1] == picture.left + 12 * picture.map_px


def test_a_click_on_the_overview_opens_that_layer_and_head():
    text = "The cat sat on the mat."
    result = run_attention(text, "smollm2-135m-instruct")           # 30 layers x 9 heads: two groups of 15
    picture = views.overview_image(result)
    assert (picture.groups, picture.per_group) == (2, 15)
    pick = tab.pick_from_overview.__wrapped__
    group_width = result.num_heads * picture.map_px + picture.group_gap

    def click(x, y):
        return pick(text, "smollm2-135m-instruct", True, gr.SelectData(None, {"index": [x, y], "value": None}))

    for layer, head in ((0, 0), (2, 7), (17, 4), (29, 8)):
        group, row = divmod(layer, 15)
        x = picture.left + group * group_width + head * picture.map_px + picture.map_px - 2   # near the right edge
        y = picture.top + row * picture.map_px + 1
        layer_box, head_box, figure, kind = click(x, y)
        assert (layer_box["value"], head_box["value"], kind["value"]) == (layer, head, "Attention weights")
        assert f"layer {layer}, head {head}" in figure.layout.title.text
        z = json.loads(figure.to_json())["data"][0]["z"]
        shown = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(result.weights.shape[-2:])
        np.testing.assert_array_equal(shown, result.weights[layer, head])
    height, width = picture.image.shape[:2]
    outside = [(picture.left - 3, picture.top + 5),                                 # the layer labels
               (picture.left + 5, picture.top - 3),                                 # the head labels
               (picture.left + 9 * picture.map_px + picture.group_gap // 2, picture.top + 40),  # between the groups
               (width + 5, picture.top + 5), (picture.left + 5, height + 5)]        # past the right and the bottom
    for x, y in outside:
        assert click(x, y) == (gr.skip(),) * 4, (x, y)


def test_a_deep_narrow_model_wraps_its_layers_into_groups_that_still_map_clicks():
    rng = np.random.default_rng(0)
    weights = rng.random((30, 9, 7, 7)).astype(np.float32)
    weights /= weights.sum(-1, keepdims=True)
    base = run_attention("The cat sat on the mat.", "all-minilm-l6-v2")
    result = dataclasses.replace(base, weights=weights, num_kv_heads=3, kv_head_of=[h // 3 for h in range(9)],
                                 tokens=base.tokens[:7], token_ids=base.token_ids[:7])
    picture = views.overview_image(result)
    assert (picture.groups, picture.per_group) == (2, 15)          # SmolLM2's 30 x 9: two groups of 15 layers
    height, width = picture.image.shape[:2]
    assert 0.5 < width / height < 2                                 # about square, not a 30-row strip
    group_width = 9 * picture.map_px + picture.group_gap
    for layer in (0, 14, 15, 29):
        group, row = divmod(layer, 15)
        x = picture.left + group * group_width + 4 * picture.map_px + picture.map_px // 2
        y = picture.top + row * picture.map_px + picture.map_px // 2
        assert picture.pick(x, y) == (layer, 4)
    assert picture.pick(picture.left + 9 * picture.map_px + picture.group_gap // 2, picture.top + 2) is None


def test_the_colour_scale_can_leave_out_the_attention_sink():
    result = run_attention("The animal didn't cross the street because it was too tired.", "smollm2-135m-instruct")
    weights = select_weights(result, 10, -1)
    top, sink = views.colour_top(weights, without_sink=True)
    assert sink == pytest.approx(float(weights[1:, 0].max())) and top == pytest.approx(float(weights[1:, 1:].max()))
    assert top < sink
    assert views.colour_top(weights, without_sink=False) == (pytest.approx(float(weights.max())), None)
    plot = json.loads(views.heatmap_figure(result, 10, -1, "weights").to_json())
    assert plot["data"][0]["zmax"] == pytest.approx(top) and "attention sink" in plot["layout"]["title"]["text"]
    plot = json.loads(views.heatmap_figure(result, 10, -1, "weights", without_sink=False).to_json())
    assert "attention sink" not in plot["layout"]["title"]["text"]


def test_compare_shows_a_difference_and_where_it_is_largest():
    a = "The animal didn't cross the street because it was too tired."
    b = "The animal didn't cross the street because it was too wide."
    pair = tab.compare(a, b, "all-minilm-l6-v2", "it")
    layer, head = tab.compare_layer_head(pair, 0, -1, most_changed=True)
    assert (layer, head) == pair.most_changed() and pair.change[layer, head] > 0.3
    plot = json.loads(attention_compare.compare_figure(pair, layer, head).to_json())
    difference = next(trace for trace in plot["data"] if trace.get("colorbar", {}).get("title", {}).get("text") == "B − A")
    values = np.frombuffer(base64.b64decode(difference["z"]["bdata"]), dtype=difference["z"]["dtype"])
    np.testing.assert_allclose(values, (pair.second.weights[layer, head] - pair.first.weights[layer, head]).ravel())
    assert np.abs(values).max() > 0.3 and difference["zmax"] == pytest.approx(np.abs(values).max())
    note = attention_compare.compare_note(pair, layer, head)
    assert f"layer {layer}, head {head}" in note and "tired" in note and "wide" in note

    decoder = tab.compare(a, b, "smollm2-135m-instruct", "it")
    assert decoder.blind and float(decoder.change.max()) == 0.0
    assert tab.compare_layer_head(decoder, 2, 3, most_changed=True) == (2, 3)   # nothing changes: the sliders'
    assert "comes before the first difference" in attention_compare.compare_note(decoder, 2, 3)


def test_the_logit_lens_of_an_encoder_reads_the_default_decoder():
    html = tab.show_lens.__wrapped__("The cat sat on the mat.", "all-minilm-l6-v2", 0, progress=lambda *a, **k: None)
    assert "is an encoder" in html and "smollm2-135m-instruct" in html and 'id="att-lens-table"' in html


def test_summary_and_lens_escape_tokens():
    result = run_attention(XSS, "all-minilm-l6-v2")
    html = views.summary_html(result)
    assert "<img" not in html and "&lt;" in html


def test_the_logit_lens_table_shows_every_layers_top_tokens_escaped():
    text = '<div class="a"><img src="x"></div>\n<p>'
    result = run_attention(text, "smollm2-135m-instruct")
    lens = logit_lens(result, top_k=3, start=0, stop=result.num_tokens)
    html = views.lens_html(result, 0, lambda *a: None)
    tops = {t for layer in lens.tokens for position in layer for t in position[:1]}
    assert any("<" in t for t in tops) and any('"' in t for t in tops)   # the escaping below is put to the test
    assert '<div class="a">' not in html and '<img src="x">' not in html and "</div>\n<p>" not in html
    header = re.search(r"<tr><th>layer</th>(.*?)</tr>", html).group(1)
    assert re.findall(r'<th title="position (\d+)">\d+<br>(.*?)</th>', header) == [
        (str(p), escape(views.visible(token))) for p, token in enumerate(result.tokens)]
    rows = re.findall(r"<tr><th>L(\d+)</th>(.*?)</tr>", html)
    assert [int(layer) for layer, _ in rows] == list(range(result.num_layers))
    for layer, row in rows:
        cells = re.findall(r'<td title="([^"]*)" style="background:rgb\(\d+,\d+,\d+\);color:#(?:000|fff)">'
                           r"(.*?)<br><small>(\d+)%</small></td>", row)
        assert len(cells) == result.num_tokens
        for p, (title, shown, percent) in enumerate(cells):
            candidates, probs = lens.tokens[int(layer)][p], lens.probs[int(layer), p]
            assert shown == escape(views.visible(candidates[0])) and f"{percent}%" == f"{float(probs[0]):.0%}"
            assert title == " · ".join(f"{escape(views.visible(t))} {float(q):.0%}" for t, q in zip(candidates, probs))
    assert "L29" in html and rows[-1][1].count("<td") == result.num_tokens


@pytest.mark.e2e
def test_downloaded_bertviz_file_works_offline_on_its_own(browser, tmp_path):
    result = run_attention(XSS, "all-minilm-l6-v2")
    html, path = tab.show_bertviz.__wrapped__(XSS, "all-minilm-l6-v2", "Head view", 0, progress=lambda *a, **k: None)
    assert "att-bertviz-frame" in html
    context = browser.new_context()
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file://") else route.continue_())
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"file://{path}")
    page.locator("svg text").first.wait_for(timeout=30_000)
    texts = page.locator("svg text").all_text_contents()
    assert [t.strip() for t in texts[:len(result.tokens)]] == [t.strip() for t in result.tokens]
    assert requests == [] and dialogs == [] and page.locator("img[src='x']").count() == 0
    context.close()


@pytest.mark.e2e
def test_attention_tab_end_to_end(page, app_url):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    blocked: list[str] = []

    def offline(route):
        host = re.match(r"https?://([^/:]+)", route.request.url)
        if host and host.group(1) not in ("127.0.0.1", "localhost"):
            blocked.append(route.request.url)
            return route.abort()
        return route.continue_()

    page.context.route("**/*", offline)
    page.get_by_role("tab", name="Attention").click()
    page.locator("#att-text textarea").fill(XSS)
    page.locator("#att-run").click()

    heatmap = page.locator("#att-heatmap .js-plotly-plot")
    heatmap.wait_for(timeout=120_000)
    page.wait_for_function("document.querySelector('#att-summary-panel') !== null", timeout=60_000)
    summary = page.locator("#att-summary-panel").inner_text()
    assert "<" in summary and "all-minilm-l6-v2" in summary
    assert page.locator("img[src='x']").count() == 0 and page.dialogs == []
    assert "mean over heads" in heatmap.inner_text()
    assert "<" in heatmap.inner_text()            # the token "<" shows as text on the axes

    # The overview: one downsampled-or-not note, and a click on layer 2, head 5 opens that head.
    note = page.locator("#att-overview-note").inner_text()
    assert "tensor stays on the server" in note
    image = page.locator("#att-overview img")
    image.wait_for(timeout=30_000)
    result = run_attention(XSS, "all-minilm-l6-v2")
    natural = page.evaluate("() => { const i = document.querySelector('#att-overview img');"
                            " return [i.naturalWidth, i.clientWidth]; }")
    shown = natural[1] / natural[0]
    picture = views.overview_image(result)
    middle = picture.map_px / 2
    image.click(position={"x": (picture.left + 5 * picture.map_px + middle) * shown,
                          "y": (picture.top + 2 * picture.map_px + middle) * shown})
    page.wait_for_function("document.querySelector('#att-heatmap').innerText.includes('layer 2, head 5')",
                           timeout=30_000)

    layer_box = page.locator("#att-layer input[type=number]")
    layer_box.fill("4")
    layer_box.press("Enter")
    page.wait_for_function("document.querySelector('#att-heatmap').innerText.includes('layer 4, head 5')",
                           timeout=30_000)

    # Switching layer and head redraws from the cached run: the API answers with the model's own weights.
    api = page.evaluate("""async (text) => {
        const r = await fetch('gradio_api/call/attention', {method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({data: [text, 'all-minilm-l6-v2', 3, -1]})});
        const {event_id} = await r.json();
        const s = await (await fetch('gradio_api/call/attention/' + event_id)).text();
        return s;
    }""", XSS)
    data = json.loads(api.split("data:", 1)[1].strip())[0]
    assert data["tokens"] == result.tokens and len(data["weights"]) == result.num_tokens
    expected = result.weights[3].mean(axis=0)
    assert max(abs(a - b) for row, ref in zip(data["weights"], expected) for a, b in zip(row, ref)) < 1e-6

    # Statistics table and GQA note are filled.
    page.get_by_text("What the heads do: statistics").click()
    page.locator("#att-stats").get_by_text("first-token (sink) head").first.wait_for(state="attached",
                                                                                 timeout=30_000)

    # BertViz, with every request off this machine blocked.
    page.get_by_text("BertViz", exact=True).first.click()
    page.locator("#att-bv-run").click()
    frame = page.frame_locator("#att-bertviz-frame")
    frame.locator("svg text").first.wait_for(timeout=60_000)
    texts = frame.locator("svg text").all_text_contents()
    assert any("<" in t for t in texts)
    assert frame.locator("img[src='x']").count() == 0 and page.dialogs == []
    page.get_by_label("Model view").check()
    page.locator("#att-bv-run").click()
    page.wait_for_function("() => { const f = document.querySelector('#att-bertviz-frame');"
                           " return f && f.srcdoc.includes('model_view') || (f && f.srcdoc.includes('Heads')); }",
                           timeout=60_000)
    frame = page.frame_locator("#att-bertviz-frame")
    frame.locator("svg").first.wait_for(timeout=60_000)
    assert not [url for url in blocked if "cdnjs" in url], blocked

    # A focus word that is not in the text: the message quotes it as text.
    page.get_by_text("Token focus", exact=True).first.click()
    word = "<b>bold</b><img src=x onerror=alert(1)>"
    fill_and_commit(page.locator("#att-token textarea, #att-token input").first, word)
    page.locator("#att-focus-run").click()
    toast = page.locator("[data-testid=toast-text]").first
    try:
        toast.wait_for(timeout=120_000)
    except PlaywrightTimeout:
        box = page.locator("#att-token textarea, #att-token input").first.input_value()
        pytest.fail(f"no error toast; the token box holds {box!r}, the focus plot: "
                    f"{page.locator('#att-focus').inner_text()[:300]!r}")
    assert "<b>bold</b><img src=x onerror=alert(1)>" in toast.inner_text()
    assert page.locator("img[src='x']").count() == 0 and page.dialogs == []
    page.locator("#att-token textarea, #att-token input").first.fill("it")

    # Exports: JSON of the weights shown, and PNG/SVG when Kaleido finds a Chromium.
    page.get_by_text("Export", exact=True).first.click()
    page.locator("#att-export").click()
    page.locator("#att-export-note .pg-note").wait_for(timeout=240_000)
    names = page.locator("#att-export-files").inner_text().replace("\n", "")
    assert "attention-L4-H5-weights.json" in names and "overview.png" in names
    if "drawn by Kaleido" in page.locator("#att-export-note").inner_text():
        assert "head-stats.svg" in names and "compare.svg" in names

    # Errors are messages, not tracebacks: an out-of-range layer through the API.
    time.sleep(0.2)
    with urllib.request.urlopen(urllib.request.Request(
            app_url + "gradio_api/call/attention", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"data": ["hello", "all-minilm-l6-v2", 9, 0]}).encode())) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(app_url + f"gradio_api/call/attention/{event}") as response:
        stream = response.read().decode()
    assert "layer 9 is out of range" in stream
