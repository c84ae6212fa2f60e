"""End to end: the Sampling tab of `python app.py` in headless Chromium, and its API through gradio_client.

The tests of what a student sees on the default model (escaping, Stop, the waiting beam column, examples) run
smollm2-135m-instruct; those of layout, projector sizes and contrast run the tiny random LLaMA of
tests/sampling_fixtures.py through the model box (a local folder), which takes seconds instead of minutes.
"""

import pytest

from tests.conftest import contrast_failures
from tests.sampling_fixtures import tiny  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
XSS = "<img src=x onerror=alert(1)>"
OWN_HTML = ("#samp-outputs", "#samp-step-view", "#samp-beam", "#samp-stats")   # the tab's own views
SLIDERS = ("temperature", "k", "p", "beams")


def open_tab(page):
    page.get_by_role("tab", name="Sampling").click()
    page.wait_for_selector("#samp-run", timeout=30_000)


def set_number(page, elem_id, value):
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def choose(page, elem_id, option):
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def use_model(page, model):
    box = page.locator("#samp-model input")
    box.fill(model)
    box.press("Enter")


def greedy_tokens(page):
    return page.locator("#pg-samp-cards .pg-samp-card[data-strategy='0'] .pg-tok").count()


def card_meta(page, index):
    return page.inner_text(f"#pg-samp-cards .pg-samp-card[data-strategy='{index}'] .pg-samp-meta")


def visible_sliders(page, column):
    return [name for name in SLIDERS if page.locator(f"#samp-{name}-{column}").is_visible()]


def run_tiny(page, tiny, tokens=12):
    """A full run of the tiny model (greedy, top-k, top-p, beam ×3, min-p) and its many-samples panel."""
    use_model(page, tiny)
    page.locator("#samp-chat input").uncheck()
    set_number(page, "samp-max-new", tokens)
    page.click("#samp-run")
    page.wait_for_selector("#samp-beam .pg-beam-tree", timeout=120_000)
    page.wait_for_selector("#samp-step-view #pg-samp-steptable", timeout=30_000)
    choose(page, "samp-which", "2. top_k (T=1, k=40)")                 # a table with removed tokens
    page.get_by_text("after top-k").first.wait_for(timeout=30_000)
    page.get_by_text("Many samples: diversity and likelihood").click()
    set_number(page, "samp-n", 3)
    set_number(page, "samp-tokens", 4)
    page.click("#samp-draw")
    page.wait_for_selector("#samp-stats #pg-samp-stats", timeout=120_000)
    page.wait_for_selector("#samp-first .js-plotly-plot .xtick text", timeout=30_000)


def test_comparison_step_inspector_and_escaping(page):
    open_tab(page)
    page.locator("#samp-prompt textarea").fill(f'Repeat exactly: "{XSS}"')
    set_number(page, "samp-max-new", 8)
    page.click("#samp-run")
    page.wait_for_selector("#samp-step-view #pg-samp-steptable", timeout=180_000)
    cards = page.locator("#pg-samp-cards .pg-samp-card")
    assert cards.count() == 5
    labels = page.inner_text("#pg-samp-cards")
    for label in ("greedy", "top_k (T=1, k=40)", "top_p (T=0.8, p=0.9)", "beam ×3", "min_p"):
        assert label in labels
    assert greedy_tokens(page) >= 1
    # escaping: the prompt (and any echo of it) is text, never markup
    page.get_by_text("The prompt the model reads").click()
    assert XSS in page.locator("#samp-raw-prompt textarea").input_value()
    assert "<|im_start|>user" in page.locator("#samp-raw-prompt textarea").input_value()
    assert page.locator("#samp-outputs img, #samp-step-view img, #samp-beam img").count() == 0
    # the step inspector: step 0 of greedy, then another step, then a sampling strategy with its filters
    assert "step 0 of" in page.inner_text("#samp-step-view")
    set_number(page, "samp-step", 2)
    page.get_by_text("step 2 of").first.wait_for(timeout=30_000)
    choose(page, "samp-which", "2. top_k (T=1, k=40)")
    page.get_by_text("after top-k").first.wait_for(timeout=30_000)
    view = page.inner_text("#samp-step-view")
    assert "40 kept" in view and "after temperature" in view and "chosen" in view
    assert page.locator("#pg-samp-steptable .pg-removed").count() >= 1
    # the beam tree: model text escaped exactly once, a quote shows as a quote (in a chip or a stub's tooltip)
    page.wait_for_selector("#samp-beam .pg-beam-tree", timeout=30_000)
    shown = page.evaluate("""() => [...document.querySelectorAll('#samp-beam .pg-beam-chip, #samp-beam title')]
                                   .map(e => e.textContent + '\\n' + (e.getAttribute('title') || '')).join('\\n')""")
    assert '"' in shown and "&quot;" not in shown and "&lt;" not in shown and "&amp;" not in shown
    assert page.dialogs == []


def test_stop_says_stopped_keeps_the_tokens_and_the_beam_column_says_what_it_waits_for(page):
    open_tab(page)
    set_number(page, "samp-max-new", 200)
    page.locator("#samp-prompt textarea").fill("Write a long story about a lighthouse keeper.")
    page.click("#samp-run")
    page.wait_for_function("document.querySelectorAll(\"#pg-samp-cards [data-strategy='0'] .pg-tok\").length >= 3",
                           timeout=180_000)
    # while the sampling rows stream, the beam column (strategy 4) says what it waits for, never "nan"
    beam = card_meta(page, 3)
    assert beam == "waiting: beam search runs after the sampling rows", beam
    assert "nan" not in page.inner_text("#pg-samp-cards") and "generating" in card_meta(page, 0)
    assert "runs after the sampling rows" in page.inner_text("#samp-beam")
    page.click("#samp-stop")
    page.wait_for_function("document.querySelector('#pg-samp-cards').innerText.includes('stopped after')",
                           timeout=30_000)
    # Once stopped, the count stays put: wait (on a loaded machine, a while) for two equal readings 3 s apart.
    stopped_at, counts = None, [greedy_tokens(page)]
    for _ in range(10):
        page.wait_for_timeout(3000)
        counts.append(greedy_tokens(page))
        if counts[-1] == counts[-2]:
            stopped_at = counts[-1]
            break
    assert stopped_at is not None and 3 <= stopped_at < 200, counts
    text = page.inner_text("#pg-samp-cards")
    assert "running" not in text and "generating" not in text and "nan" not in text
    assert card_meta(page, 0).startswith(f"stopped after {stopped_at} tokens")
    assert card_meta(page, 3) == "stopped before beam search ran"
    assert "stopped" in page.inner_text("#samp-outputs .pg-samp-legend")
    assert "stopped before beam search ran" in page.inner_text("#samp-beam")
    page.wait_for_selector("#samp-step-view #pg-samp-steptable", timeout=30_000)   # the partial run is inspectable
    set_number(page, "samp-max-new", 3)
    choose(page, "samp-name-3", "off")
    page.click("#samp-run")
    page.wait_for_function("document.querySelector('#pg-samp-cards') && "
                           "!/generating|stopped/.test(document.querySelector('#pg-samp-cards').innerText)",
                           timeout=120_000)
    assert 1 <= greedy_tokens(page) <= 3


def test_each_column_shows_only_the_sliders_its_strategy_reads(page):
    open_tab(page)
    # the defaults: greedy, top_k, top_p, beam, min_p
    assert [visible_sliders(page, i) for i in range(5)] == [
        [], ["temperature", "k"], ["temperature", "p"], ["beams"], ["temperature", "p"]]
    assert "min-p" in page.inner_text("#samp-p-4") and "p (top-p)" in page.inner_text("#samp-p-2")
    choose(page, "samp-name-0", "typical")
    page.wait_for_function("document.querySelector('#samp-p-0') && "
                           "document.querySelector('#samp-p-0').innerText.includes('typical mass')", timeout=10_000)
    assert visible_sliders(page, 0) == ["temperature", "p"]
    assert "whose surprise is closest" in page.inner_text("#samp-slot-0")
    choose(page, "samp-name-0", "beam")
    page.locator("#samp-beams-0").wait_for(state="visible", timeout=10_000)
    assert visible_sliders(page, 0) == ["beams"]
    set_number(page, "samp-beams-0", 5)
    choose(page, "samp-name-0", "greedy")
    page.locator("#samp-beams-0").wait_for(state="hidden", timeout=10_000)
    choose(page, "samp-name-0", "beam")                          # a hidden slider keeps its value
    page.locator("#samp-beams-0").wait_for(state="visible", timeout=10_000)
    assert page.locator("#samp-beams-0 input[type=number]").input_value() == "5"
    # a hidden slider's value still reaches the strategies (what a lesson or a link sets)
    page.get_by_text("Strategies as the API takes them").click()
    page.get_by_text('"num_beams": 5').first.wait_for(timeout=10_000)


def test_a_link_sets_hidden_sliders_and_shows_the_right_ones(page, app_url):
    page.goto(app_url + "?tab=sampling&strategy2=beam&beams2=6&strategy3=min_p&p3=0.2&max_new_tokens=1")
    page.wait_for_selector("#samp-run", timeout=60_000)
    page.locator("#samp-beams-1").wait_for(state="visible", timeout=30_000)
    assert visible_sliders(page, 1) == ["beams"] and visible_sliders(page, 2) == ["temperature", "p"]
    assert page.locator("#samp-beams-1 input[type=number]").input_value() == "6"
    assert "min-p" in page.inner_text("#samp-p-2")


def test_clicking_an_example_runs_it(page):
    open_tab(page)
    page.locator("#samp-examples").get_by_text("Give me three names for a cat.").click()
    page.wait_for_function("document.querySelector('#samp-prompt textarea').value === 'Give me three names for a cat.'",
                           timeout=30_000)
    page.wait_for_selector("#pg-samp-cards .pg-samp-card", timeout=180_000)      # it ran without a click on Generate
    page.click("#samp-stop")


def test_beam_tree_rows_labels_and_projector_sizes(page, tiny):
    open_tab(page)
    run_tiny(page, tiny, tokens=16)
    # labels never overlap; the returned sequence is the first row of every column it reaches
    boxes = page.evaluate("""() => [...document.querySelectorAll('#samp-beam .pg-beam-tree .pg-beam-chip')]
                                   .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    assert len(boxes) > 16
    overlaps = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5]
    assert overlaps == []
    rows = page.evaluate("""() => [...document.querySelectorAll('#samp-beam .pg-beam-tree .pg-beam-chip.pg-beam-out')]
                                  .map(e => [...e.closest('.pg-beam-cells').children].indexOf(e.parentElement))""")
    returned = page.locator("#pg-samp-cards .pg-samp-card[data-strategy='3'] .pg-tok").count()
    assert len(rows) == returned >= 2 and set(rows) == {0}
    # projector mode: every view of the tab at least 1.3x larger, the Plotly figures' own fonts included
    sizes = """() => Object.fromEntries(Object.entries({
        text: '#samp-outputs .pg-samp-text', table: '#pg-samp-steptable td', beam: '#samp-beam .pg-beam-chip',
        legend: '#samp-outputs .pg-samp-legend', samples: '#pg-samp-stats td',
        entropy: '#samp-entropy .xtick text', first: '#samp-first .xtick text', title: '#samp-entropy .gtitle',
      }).map(([key, selector]) => { const e = document.querySelector(selector);
                                    return [key, parseFloat(getComputedStyle(e).fontSize) * (e.currentCSSZoom || 1)]; }))"""
    # sizes as drawn on screen: CSS pixels times the zoom that applies (projector mode zooms the page)
    before = page.evaluate(sizes)
    chip = page.locator("#samp-beam .pg-beam-chip.pg-beam-out").nth(1).bounding_box()
    page.click("#pg-projector-toggle")
    page.wait_for_timeout(1500)
    after = page.evaluate(sizes)
    assert all(after[key] >= 1.3 * before[key] for key in before), (before, after)
    assert page.locator("#samp-beam .pg-beam-chip.pg-beam-out").nth(1).bounding_box()["height"] >= 1.3 * chip["height"]
    page.click("#pg-projector-toggle")                       # and back
    page.wait_for_timeout(1500)
    assert page.evaluate(sizes) == before


def test_the_tabs_own_text_passes_the_contrast_audit_in_every_mode(page, tiny):
    open_tab(page)
    run_tiny(page, tiny)
    failures = {}
    for mode, toggles in (("light", []), ("dark", ["#pg-dark-toggle"]), ("projector", ["#pg-dark-toggle", "#pg-projector-toggle"])):
        for toggle in toggles:
            page.click(toggle)
        page.wait_for_timeout(500)
        failures[mode] = [node for selector in OWN_HTML for node in contrast_failures(page, selector)]
    assert failures == {"light": [], "dark": [], "projector": []}


def test_many_samples_panel(page):
    open_tab(page)
    page.get_by_text("Many samples: diversity and likelihood").click()
    set_number(page, "samp-n", 4)
    set_number(page, "samp-tokens", 4)
    page.click("#samp-draw")
    page.wait_for_selector("#samp-stats #pg-samp-stats", timeout=180_000)
    text = page.inner_text("#samp-stats")
    assert "distinct-1" in text and "perplexity" in text and "deterministic" in text
    assert page.locator("#samp-stats #pg-samp-stats tr").count() == 6     # header + five strategies
    page.wait_for_selector("#samp-first .js-plotly-plot", timeout=30_000)


def test_empty_prompt_gives_a_clear_message(page):
    open_tab(page)
    page.locator("#samp-prompt textarea").fill("   ")
    page.click("#samp-run")
    page.get_by_text("prompt is empty").first.wait_for(timeout=60_000)


def test_api_generate_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    strategies = [{"name": "greedy"}, {"name": "top_k", "k": 1}, {"name": "top_p", "p": 0.9},
                  {"name": "min_p", "min_p": 0.1}]
    data = client.predict("Name a colour.", "smollm2-135m-instruct", strategies, 6, 0, True, api_name="/generate")
    results = data["results"]
    assert [r["strategy"]["name"] for r in results] == ["greedy", "top_k", "top_p", "min_p"]
    assert results[0]["token_ids"] == results[1]["token_ids"] and len(results[0]["token_ids"]) <= 6
    assert all(len(r["token_logprobs"]) == len(r["token_ids"]) for r in results)
    with pytest.raises(Exception, match="temperature must be above 0"):
        client.predict("hi", "smollm2-135m-instruct", [{"name": "top_k", "temperature": 0}], 4, 0, True,
                       api_name="/generate")
