"""End to end: the Sampling tab of `python app.py` in headless Chromium, and its API through gradio_client."""

import pytest

pytestmark = pytest.mark.e2e
XSS = "<img src=x onerror=alert(1)>"


def open_tab(page):
    page.get_by_role("tab", name="Sampling").click()
    page.wait_for_selector("#samp-run", timeout=30_000)


def set_number(page, elem_id, value):
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def greedy_tokens(page):
    return page.locator("#pg-samp-cards .pg-samp-card[data-strategy='0'] .pg-tok").count()


def test_comparison_step_inspector_and_escaping(page):
    open_tab(page)
    page.locator("#samp-prompt textarea").fill(f"Repeat exactly: {XSS}")
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
    assert page.locator("#samp-outputs img, #samp-step-view img").count() == 0
    # the step inspector: step 0 of greedy, then another step, then a sampling strategy with its filters
    assert "step 0 of" in page.inner_text("#samp-step-view")
    set_number(page, "samp-step", 2)
    page.get_by_text("step 2 of").first.wait_for(timeout=30_000)
    page.locator("#samp-which input").click()
    page.get_by_role("option", name="2. top_k (T=1, k=40)").click()
    page.get_by_text("after top-k").first.wait_for(timeout=30_000)
    view = page.inner_text("#samp-step-view")
    assert "40 kept" in view and "after temperature" in view and "chosen" in view
    assert page.locator("#pg-samp-steptable .pg-removed").count() >= 1
    page.wait_for_selector("#samp-beam .js-plotly-plot", timeout=30_000)
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_stop_ends_a_long_run_and_the_tab_keeps_working(page):
    open_tab(page)
    page.locator("#samp-name-3 input").click()
    page.get_by_role("option", name="off").click()          # no beam: the loop itself is what is stopped
    set_number(page, "samp-max-new", 200)
    page.locator("#samp-prompt textarea").fill("Write a long story about a lighthouse keeper.")
    page.click("#samp-run")
    page.wait_for_selector("#pg-samp-cards .pg-tok", timeout=180_000)
    page.wait_for_function("document.querySelectorAll(\"#pg-samp-cards [data-strategy='0'] .pg-tok\").length >= 3",
                           timeout=60_000)
    page.click("#samp-stop")
    # Once stopped, the count stays put: wait (on a loaded machine, a while) for two equal readings 3 s apart.
    stopped_at, counts = None, [greedy_tokens(page)]
    for _ in range(10):
        page.wait_for_timeout(3000)
        counts.append(greedy_tokens(page))
        if counts[-1] == counts[-2]:
            stopped_at = counts[-1]
            break
    assert stopped_at is not None and stopped_at < 200, counts
    assert "running" in page.inner_text("#pg-samp-cards")
    page.wait_for_selector("#samp-step-view #pg-samp-steptable", timeout=30_000)   # the partial run is inspectable
    set_number(page, "samp-max-new", 3)
    page.click("#samp-run")
    page.wait_for_function("document.querySelector('#pg-samp-cards') && "
                           "!document.querySelector('#pg-samp-cards').innerText.includes('running')", timeout=120_000)
    assert 1 <= greedy_tokens(page) <= 3


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
