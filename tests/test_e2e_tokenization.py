"""End to end: `python app.py`, driven in headless Chromium and through gradio_client."""


import pytest

pytestmark = pytest.mark.e2e
XSS = "<img src=x onerror=alert(1)>"


def fill_and_tokenize(page, text):
    page.locator("#tok-text textarea").fill(text)
    page.click("#tok-run")


def test_tokens_show_as_chips_with_counts(page):
    fill_and_tokenize(page, "Hello world 👋")
    page.wait_for_selector("#tok-summary table", timeout=90_000)
    assert "smollm2-135m-instruct" in page.inner_text("#tok-summary")
    chip = page.locator("#tok-chips .pg-chip[data-id='905']").first
    assert chip.inner_text() == "·world"
    assert "characters 5–11" in chip.get_attribute("title")
    assert page.locator("#tok-chips .pg-bytes").count() >= 1  # the emoji's loose bytes
    assert page.locator("#tok-chips .pg-special").count() >= 3  # [CLS], [SEP], <bos>


def test_user_text_is_shown_as_text_never_run(page):
    fill_and_tokenize(page, XSS)
    page.wait_for_selector("#tok-chips .pg-chip", timeout=90_000)
    page.wait_for_timeout(500)
    assert page.locator("#tok-chips img").count() == 0
    assert page.dialogs == []
    assert "img" in page.inner_text("#tok-chips")


def test_empty_text_gives_a_clear_message_and_the_app_stays_up(page):
    fill_and_tokenize(page, "")
    page.get_by_text("text is empty").first.wait_for(timeout=30_000)
    fill_and_tokenize(page, "still working")
    page.wait_for_selector("#tok-chips .pg-chip", timeout=60_000)


def test_large_input_renders_and_says_what_is_shown(page):
    fill_and_tokenize(page, "The quick brown fox jumps over the lazy dog. " * 2300)  # ~100k characters
    page.get_by_text("Showing the first").first.wait_for(timeout=60_000)
    assert "103,500" in page.inner_text("#tok-summary")


def test_replay_and_export(page):
    page.get_by_text("How a token was built").click()
    page.click("#tok-replay")
    page.wait_for_selector("#tok-build ol li", timeout=60_000)
    assert "matches the tokenizer" in page.inner_text("#tok-build")
    page.get_by_text("Export the tokens").click()
    page.click("#tok-export")
    page.wait_for_selector("#tok-files a", timeout=60_000)
    links = [page.locator("#tok-files a").nth(i).get_attribute("href") for i in range(page.locator("#tok-files a").count())]
    assert any(link.endswith("tokens.json") for link in links) and any(link.endswith("tokens.csv") for link in links)


def test_api_tokenize_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    data = client.predict("Hi 👋", "gemma-3-270m", api_name="/tokenize")
    assert data["tokenizer"] == "gemma-3-270m" and data["num_chars"] == 4
    assert data["tokens"][0] == {**data["tokens"][0], "special": True, "start": 0, "end": 0}
    with pytest.raises(Exception, match="not an embedded model"):
        client.predict("hi", "nobody/nothing", api_name="/tokenize")
