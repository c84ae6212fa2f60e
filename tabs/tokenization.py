"""The Tokenization tab: text in, tokens out as coloured chips, several tokenizers side by side.

The handlers adapt the inputs, call playground.tokenization and format what comes back as HTML;
every piece of user or model text goes through `escape`.

    >>> html = render_chips(tokenize("Hi 👋", "smollm2-135m-instruct"))
    >>> 'title="id 26843' in html   # "Hi", then three tokens for the emoji's 4 bytes
    True
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import gradio as gr

from playground.registry import TEXT_MODELS
from playground.settings import current
from playground.token_build import Build, replay
from playground.tokenization import (SAMPLE_CONVERSATION, Tokenization, decode_ids, differing_tokens,
                                     parse_conversation, render_chat, to_csv, to_json, tokenize)
from tabs.common import (ALL_MODELS, clear_on_failure, Controls, escape, friendly_errors, heavy_events,
                         progress_callback, run_on_example_click, show_whitespace)
from tabs.outputs import export_folder, write_atomically

EXAMPLES_FILE = Path(__file__).resolve().parents[1] / "assets" / "examples" / "tokenization.json"
DEFAULT_TEXT = "Tokenizers cut text into pieces: unbelievably, 👋🏽 naïve café, 東京, مرحبا\n\tdef f(x):  return x**2"
CONVERSATION = "\n".join(f"{m['role']}: {m['content']}" for m in SAMPLE_CONVERSATION)


# ---------------------------------------------------------------------------------------------
# Formatting


def split_partial_bytes(data: bytes) -> list[tuple[bool, str]]:
    """Cut a token's bytes into runs of whole characters and runs of loose bytes.

    >>> split_partial_bytes(b" \\xf0\\x9f")
    [(False, ' '), (True, 'F0 9F')]
    """
    decoded = data.decode("utf-8", errors="surrogateescape")
    runs: list[tuple[bool, str]] = []
    for char in decoded:
        loose = "\udc80" <= char <= "\udcff"
        piece = f"{ord(char) - 0xDC00:02X}" if loose else char
        if runs and runs[-1][0] == loose:
            runs[-1] = (loose, runs[-1][1] + (" " if loose else "") + piece)
        else:
            runs.append((loose, piece))
    return runs


def chip_label(result: Tokenization, i: int) -> str:
    """The chip's visible text, as HTML: the token's own bytes, loose bytes of a split character
    shown as hex, WordPiece continuations with their '##'."""
    if result.special[i] or result.unknown[i]:
        return escape(result.pieces[i])
    if result.family == "WordPiece":
        return escape(show_whitespace(result.pieces[i]))
    return bytes_label(result.token_bytes[i])


def bytes_label(data: bytes) -> str:
    """Bytes as chip text (HTML): whitespace made visible, loose bytes of a split character in hex.

    >>> bytes_label(b" caf\\xc3\\xa9 \\xf0\\x9f")
    '·café·<span class="pg-bytes">F0 9F</span>'
    """
    parts = []
    for loose, text in split_partial_bytes(data):
        parts.append(f'<span class="pg-bytes">{escape(text)}</span>' if loose else escape(show_whitespace(text)))
    return "".join(parts)


def chip_title(result: Tokenization, i: int) -> str:
    start, end = result.starts[i], result.ends[i]
    lines = [f"id {result.ids[i]}", f"piece {result.pieces[i]!r}"]
    if result.special[i]:
        lines.append("special token (covers no text)" if start == end else "special token")
    else:
        lines.append(f"text {result.text[start:end]!r}")
    lines.append("bytes " + (result.token_bytes[i].hex(" ").upper() or "(none)"))
    lines.append(f"characters {start}–{end}")
    if result.unknown[i]:
        lines.append("unknown: the vocabulary has no piece for this text")
    data = result.token_bytes[i]
    loose = [run for is_loose, run in split_partial_bytes(data) if is_loose]
    if loose and not result.special[i] and end > start:
        continues = (data[0] & 0xC0) == 0x80  # starts inside a character begun by an earlier token
        char = result.text[start] if continues else result.text[end - 1]
        count = len(loose[0 if continues else -1].split())
        width = len(char.encode("utf-8"))
        which = f"{count} more" if continues else f"the first {count}"
        lines.append(f"{which} of the {width} bytes of {char} U+{ord(char):04X} {unicodedata.name(char, '')}: "
                     "the character is split across tokens")
    return escape("\n".join(lines))


def render_chips(result: Tokenization, differs: list[bool] | None = None, limit: int | None = None) -> str:
    limit = current().chip_limit if limit is None else limit
    chips = []
    for i in range(min(result.num_tokens, limit)):
        classes = ["pg-chip", f"pg-c{i % 6}"]
        if result.special[i]:
            classes.append("pg-special")
        if result.unknown[i]:
            classes.append("pg-unk")
        if differs and differs[i]:
            classes.append("pg-diff")
        chips.append(f'<span class="{" ".join(classes)}" title="{chip_title(result, i)}" data-id="{result.ids[i]}">'
                     f"{chip_label(result, i)}</span>")
        if not result.special[i] and result.token_bytes[i].endswith(b"\n"):
            chips.append("<br>")
    shown = min(result.num_tokens, limit)
    more = (f'<div class="pg-note">Showing the first {shown:,} of {result.num_tokens:,} tokens; the counts '
            f"and exports cover all of them.</div>") if shown < result.num_tokens else ""
    return f'<div class="pg-chips">{"".join(chips)}</div>{more}'


def render_summary(results: list[Tokenization]) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.tokenizer)}</td><td>{escape(r.family)}</td><td>{r.num_tokens:,}</td>"
        f"<td>{r.num_chars:,}</td><td>{r.chars_per_token:.2f}</td>"
        f"<td>{100 * r.context_share:.2f}% of {r.context_window:,}</td></tr>"
        for r in results
    )
    return ('<table class="pg-summary"><thead><tr><th>tokenizer</th><th>family</th><th>tokens</th>'
            "<th>characters</th><th>chars / token</th><th>context window used</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def render_comparison(results: list[Tokenization]) -> str:
    flags = differing_tokens(results) if len(results) > 1 else [None] * len(results)
    panels = []
    for result, differs in zip(results, flags):
        notes = "".join(f'<div class="pg-note">{escape(n)}</div>' for n in result.notes)
        count = sum(differs) if differs else 0
        badge = f' <span class="pg-diff-count">{count:,} cut differently</span>' if differs is not None else ""
        panels.append(f'<div class="pg-panel"><div class="pg-panel-title">{escape(result.tokenizer)} · '
                      f"{escape(result.family)} · {result.num_tokens:,} tokens{badge}</div>{notes}"
                      f"{render_chips(result, differs)}</div>")
    legend = ('<div class="pg-legend">Hover a token for its id, text, bytes and span. '
              '<span class="pg-chip pg-c0 pg-diff">outlined</span> tokens are cut where another tokenizer does not cut; '
              '<span class="pg-chip pg-special">special</span> tokens are added by the tokenizer; '
              '<span class="pg-chip pg-c1"><span class="pg-bytes">F0 9F</span></span> are loose bytes of a character '
              "split across tokens; · is a space, → a tab, ↵ a newline.</div>")
    return legend + "".join(panels)


def render_build(build: Build) -> str:
    """Each step's symbols as chips, written as the token chips above write them (· for a space)."""
    steps = []
    for step in build.steps:
        labels = ([bytes_label(data) for data in step.symbol_bytes] if step.symbol_bytes
                  else [escape(show_whitespace(s)) for s in step.symbols])
        symbols = "".join(
            f'<span class="pg-chip pg-c{j % 6}{" pg-merged" if j == step.merged else ""}" title="{escape(s)}">{label}</span>'
            for j, (s, label) in enumerate(zip(step.symbols, labels))
        )
        steps.append(f'<li><div class="pg-step-action">{escape(step.action)}</div><div class="pg-chips">{symbols}</div></li>')
    notes = "".join(f'<div class="pg-note">{escape(n)}</div>' for n in build.notes)
    verdict = ("matches" if build.agrees else "does not match") + " the tokenizer's own output: " + " ".join(build.tokenizer_pieces)
    return (f'<div class="pg-build"><div class="pg-panel-title">{escape(build.algorithm)} on {escape(build.word)!s}</div>'
            f"{notes}<ol>{''.join(steps)}</ol><div class=\"pg-note\">The replay {escape(verdict)}</div></div>")


# ---------------------------------------------------------------------------------------------
# Handlers


def _names(choices: list[str] | str | None) -> list[str]:
    if isinstance(choices, str):
        choices = [choices]
    names = [c.strip() for c in (choices or []) if c and c.strip()]
    if not names:
        raise ValueError("tokenizers: choose at least one tokenizer to compare.")
    if len(names) > 6:
        raise ValueError(f"tokenizers: {len(names)} chosen; compare at most 6 at once.")
    return list(dict.fromkeys(names))


@friendly_errors
def compare(text: str, tokenizers: list[str], progress=gr.Progress(track_tqdm=True)):
    names = _names(tokenizers)
    results = [tokenize(text, name, progress_callback(progress)) for name in names]
    return render_summary(results), render_comparison(results)


@friendly_errors
def export(text: str, tokenizers: list[str], progress=gr.Progress()):
    results = [tokenize(text, name, progress_callback(progress)) for name in _names(tokenizers)]
    folder = export_folder("tokens")
    json_file = write_atomically(folder / "tokens.json", to_json(results).encode("utf-8"))
    csv_file = write_atomically(folder / "tokens.csv", to_csv(results).encode("utf-8"))
    return [str(json_file), str(csv_file)]


@friendly_errors
def explain(word: str, tokenizer: str, progress=gr.Progress()):
    # The word as the text has it: mid-sentence a word keeps its leading space, which BPE and SentencePiece
    # make part of the first token ("Ġunbelie"), so " unbelievably" replays the chips above.
    return render_build(replay(word, tokenizer, progress_callback(progress)))


@friendly_errors
def ids_to_text(ids: str, tokenizer: str, progress=gr.Progress()):
    decoded = decode_ids(ids, tokenizer, progress_callback(progress))
    pieces = " ".join(decoded.pieces)
    return decoded.text, pieces


@friendly_errors
def chat(conversation: str, tokenizer: str, progress=gr.Progress()):
    result = render_chat(parse_conversation(conversation), tokenizer, progress_callback(progress))
    return result.text, render_comparison([result])


@friendly_errors
def tokenize_api(text: str, tokenizer: str) -> dict:
    """Tokenize `text` with one tokenizer: ids, pieces and character offsets as JSON."""
    return tokenize(text, tokenizer).to_dict()


def _examples() -> list[list]:
    rows = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return [[row["text"], row.get("tokenizers", ALL_MODELS)] for row in rows]


def python_lines(values: dict) -> list[str]:
    """Copy as Python: the lines after `client = Client(url)` that repeat this tab's run through its API."""
    return [f"text = {values['text']!r}",
            f"for tokenizer in {list(values['tokenizers'])!r}:",
            '    result = client.predict(text, tokenizer, api_name="/tokenize")',
            '    print(tokenizer, result["num_tokens"], "tokens:", [token["piece"] for token in result["tokens"]])']



def build() -> Controls:
    heavy = heavy_events("tokenization")   # this tab's model-running events: one concurrency group
    gr.Markdown("Type or paste text and see how each tokenizer cuts it. **BPE** merges frequent byte pairs, "
                "**WordPiece** takes the longest vocabulary match, **SentencePiece** works on raw text with `▁` "
                "for spaces. Outlined tokens are where the tokenizers disagree.")
    with gr.Row():
        text = gr.Textbox(value=DEFAULT_TEXT, lines=5, max_lines=14, label="Text", elem_id="tok-text", scale=3)
        with gr.Column(scale=2):
            tokenizers = gr.Dropdown(
                ALL_MODELS, value=ALL_MODELS, multiselect=True, allow_custom_value=True, label="Tokenizers",
                info="The embedded BPE, WordPiece and SentencePiece tokenizers; type a Hub id (such as gpt2) "
                     "or a local folder to add another (Hub ids need a connection).", elem_id="tok-names")
            run = gr.Button("Tokenize", variant="primary", elem_id="tok-run")
    summary = gr.HTML(elem_id="tok-summary")
    chips = gr.HTML(elem_id="tok-chips")
    examples = gr.Examples(_examples(), [text, tokenizers], label="Try these")
    with gr.Accordion("Export the tokens", open=False):
        export_button = gr.Button("Make JSON and CSV files", elem_id="tok-export")
        files = gr.File(label="Tokens", file_count="multiple", elem_id="tok-files")
    with gr.Accordion("How a token was built", open=False):
        with gr.Row():
            word = gr.Textbox(value=" unbelievably", label="Word", elem_id="tok-word",
                              info="Keep the leading space of a word in mid-sentence: BPE and SentencePiece make it "
                                   "part of the first token.")
            word_tokenizer = gr.Dropdown(ALL_MODELS, value=ALL_MODELS[0], allow_custom_value=True, label="Tokenizer")
            replay_button = gr.Button("Replay", elem_id="tok-replay")
        build_steps = gr.HTML(elem_id="tok-build")
    with gr.Accordion("Ids to text", open=False):
        with gr.Row():
            ids = gr.Textbox(value="19556, 905, 15107, 235, 229", label="Token ids", elem_id="tok-ids")
            ids_tokenizer = gr.Dropdown(ALL_MODELS, value=ALL_MODELS[0], allow_custom_value=True, label="Tokenizer")
            decode_button = gr.Button("Decode", elem_id="tok-decode")
        decoded = gr.Textbox(label="Text", elem_id="tok-decoded")
        decoded_pieces = gr.Textbox(label="Pieces")
    with gr.Accordion("Chat template", open=False):
        chat_models = [n for n, s in TEXT_MODELS.items() if s.chat]
        with gr.Row():
            conversation = gr.Textbox(value=CONVERSATION, lines=4, label="Conversation (role: text per line)")
            chat_tokenizer = gr.Dropdown(chat_models, value=chat_models[0], allow_custom_value=True, label="Chat model")
            chat_button = gr.Button("Render", elem_id="tok-chat")
        rendered = gr.Textbox(label="Rendered prompt, exactly as the model reads it", lines=6)
        chat_chips = gr.HTML(elem_id="tok-chat-chips")

    # A failed run clears the old result instead of leaving it under the new input (tabs.common).
    # always_last: a click while a run is pending (the landing run, a lesson's Try this) runs after it, never lost
    clear_on_failure(run.click(compare, [text, tokenizers], [summary, chips], api_name="compare_tokenizers",
                               show_progress_on=[chips], trigger_mode="always_last", **heavy), [summary, chips])
    clear_on_failure(text.submit(compare, [text, tokenizers], [summary, chips], api_visibility="private",
                                 show_progress_on=[chips], **heavy), [summary, chips])
    clear_on_failure(export_button.click(export, [text, tokenizers], files, api_visibility="private", **heavy), [files])
    clear_on_failure(replay_button.click(explain, [word, word_tokenizer], build_steps, api_name="replay_token", **heavy),
                     [build_steps])
    clear_on_failure(decode_button.click(ids_to_text, [ids, ids_tokenizer], [decoded, decoded_pieces],
                                         api_name="decode", **heavy), [decoded, decoded_pieces])
    clear_on_failure(chat_button.click(chat, [conversation, chat_tokenizer], [rendered, chat_chips],
                                       api_name="chat_template", **heavy), [rendered, chat_chips])
    run_on_example_click(examples, run)
    gr.api(tokenize_api, api_name="tokenize", **heavy)
    return Controls(run, {"text": text, "tokenizers": tokenizers}, python_lines)
