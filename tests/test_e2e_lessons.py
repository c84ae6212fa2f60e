"""End to end: lessons, shared links and Python snippets in `python app.py`, driven in headless Chromium
with every request to anything but 127.0.0.1 blocked."""

from __future__ import annotations

import contextlib
import io
import re
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from playwright.sync_api import expect

from tests.tiny_diffusion import build_tiny_pipeline

pytestmark = pytest.mark.e2e


@pytest.fixture
def offline_page(browser, app_url):
    """A page that may reach only 127.0.0.1; what else it asked for is kept in page.blocked."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.blocked, page.dialogs = [], []

    def only_local(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            page.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def open_app(page, app_url, query=""):
    page.goto(app_url + (f"?{query}" if query else ""))
    page.wait_for_selector("#pg-header", timeout=60_000)
    page.wait_for_function("window.pgLinkRestored === true", timeout=60_000)  # the page's link has been read


def address(page) -> dict:
    return dict(parse_qsl(urlsplit(page.url).query))


def test_a_lesson_step_sets_the_inputs_and_runs_the_tab(offline_page, app_url):
    page = offline_page
    open_app(page, app_url)
    page.wait_for_selector("#tok-chips .pg-chip", timeout=120_000)   # the landing run's result, as a teacher sees it
    page.get_by_text("Lesson: What a model reads: tokens").click()
    expect(page.locator("#tokenization-lesson-text")).to_contain_text("Step 1 of 6 · What a token is")
    page.click("#tokenization-lesson-next")
    page.click("#tokenization-lesson-next")
    expect(page.locator("#tokenization-lesson-text")).to_contain_text("BPE, WordPiece and SentencePiece")
    page.click("#tokenization-lesson-try")
    expect(page.locator("#tok-text textarea")).to_have_value(
        "Tokenizers disagree: unbelievably, Unbelievably, UNBELIEVABLY.", timeout=30_000)
    # the landing run's result is on the page already: wait for the lesson's own
    expect(page.locator("#tok-chips")).to_contain_text("disagree", timeout=120_000)
    expect(page.locator("#tok-chips .pg-panel")).to_have_count(3, timeout=60_000)
    # the run put the lesson's settings in the address, ready to share
    expect(page).to_have_url(re.compile(r"tab=tokenization&text=Tokenizers\+disagree"), timeout=10_000)
    page.click("#tokenization-lesson-previous")
    expect(page.locator("#tokenization-lesson-text")).to_contain_text("Rare words are cut into pieces")
    assert page.dialogs == []


def test_a_shared_link_restores_the_tab_and_runs_it(offline_page, app_url):
    page = offline_page
    open_app(page, app_url, "tab=tokenization&text=" + quote("Shared from a slide 👋") + "&tokenizers=all-minilm-l6-v2")
    page.wait_for_selector("#tok-summary table", timeout=120_000)
    expect(page.locator("#tok-text textarea")).to_have_value("Shared from a slide 👋")
    summary = page.inner_text("#tok-summary")
    assert "all-minilm-l6-v2" in summary and "smollm2" not in summary
    assert "[UNK]" in page.inner_text("#tok-chips")  # WordPiece has no piece for the emoji


def test_a_link_to_another_tab_selects_it_and_sets_numbers(offline_page, app_url):
    page = offline_page
    open_app(page, app_url, "tab=attention&text=The+cat+sat+on+the+mat.&layer=2&head=3")
    page.wait_for_selector("#att-summary-panel", timeout=120_000)
    expect(page.get_by_role("tab", name="Attention")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#att-text textarea")).to_have_value("The cat sat on the mat.")
    expect(page.locator("#att-heatmap")).to_contain_text("layer 2, head 3", timeout=60_000)
    expect(page.locator("#att-layer input[type=number]")).to_have_value("2")


def test_bad_links_say_what_was_wrong_and_never_show_a_traceback(offline_page, app_url):
    page = offline_page
    open_app(page, app_url, "tab=attention&text=Fine+text.&layer=abc&colour=%3Cimg+src%3Dx+onerror%3Dalert(1)%3E")
    notice = page.locator("#pg-link-notice")
    expect(notice).to_contain_text("layer: 'abc' is not a whole number; the default 0 was used", timeout=60_000)
    expect(notice).to_contain_text("colour: the attention tab has no such setting")
    page.wait_for_selector("#att-summary-panel", timeout=120_000)  # the rest of the link still ran
    open_app(page, app_url, "tab=%3Cb%3Epainting%3C%2Fb%3E")
    expect(page.locator("#pg-link-notice")).to_contain_text("tab '<b>painting</b>', which does not exist",
                                                            timeout=60_000)
    assert "Traceback" not in page.inner_text("body")
    assert page.locator("#pg-link-notice b:text('painting')").count() == 0
    assert page.dialogs == []


def test_the_address_follows_the_inputs_and_copy_link_gives_it(offline_page, app_url):
    page = offline_page
    open_app(page, app_url)
    page.locator("#tok-text textarea").fill("typed by hand")
    expect(page).to_have_url(re.compile(r"tab=tokenization&text=typed\+by\+hand"), timeout=10_000)
    page.get_by_text("Share this run: link and Python").first.click()
    page.click("#tokenization-copy-link")
    expect(page.locator("#tokenization-link textarea")).to_have_value(re.compile(r"text=typed\+by\+hand"),
                                                                      timeout=10_000)
    link = page.locator("#tokenization-link textarea").input_value()
    assert link.startswith(app_url.rstrip("/")) and link == page.url
    page.get_by_role("tab", name="Sampling").click()
    expect(page).to_have_url(re.compile(r"\?tab=sampling$"), timeout=10_000)  # all at their defaults


def test_copy_as_python_shows_a_snippet_that_repeats_the_run(offline_page, app_url):
    page = offline_page
    open_app(page, app_url)
    page.locator("#tok-text textarea").fill("Hello snippet")
    page.get_by_text("Share this run: link and Python").first.click()
    page.click("#tokenization-copy-python")
    code = page.locator("#tokenization-python .cm-content")
    expect(code).to_contain_text('api_name="/tokenize"', timeout=30_000)
    snippet = "\n".join(line.inner_text() for line in page.locator("#tokenization-python .cm-line").all())
    assert "text = 'Hello snippet'" in snippet and f"Client('{app_url}')" in snippet
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "<snippet>", "exec"), {})
    lines = [line for line in printed.getvalue().splitlines() if not line.startswith("Loaded as API")]
    assert [line.split()[0] for line in lines] == ["smollm2-135m-instruct", "all-minilm-l6-v2", "gemma-3-270m"]
    assert "'hello'" in lines[1] and "'Hello'" in lines[0]  # WordPiece lowercases; BPE keeps the case


def test_a_diffusion_link_with_a_local_pipeline_runs(offline_page, app_url, tmp_path_factory):
    folder = build_tiny_pipeline(tmp_path_factory.mktemp("links") / "tiny-sd")
    page = offline_page
    open_app(page, app_url, f"tab=diffusion&model={quote(str(folder))}&steps=3&seed=5&prompt=a+red+circle")
    page.get_by_text("Done: 3 steps of DDIM").wait_for(timeout=180_000)
    expect(page.locator("#diff-prompt textarea")).to_have_value("a red circle")
    assert address(page)["steps"] == "3"
