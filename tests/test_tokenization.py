"""Reference tests: ids and offsets equal what the tokenizers themselves give, on awkward text."""

from __future__ import annotations

import csv
import io
import json

import pytest
from huggingface_hub import constants as hub_constants
from transformers import AutoTokenizer

from playground.catalog import resolve
from playground.models import load_tokenizer
from playground.settings import current
from playground.tokenization import (check_text, cut_points, decode_ids, differing_tokens, parse_conversation,
                                     parse_ids, render_chat, to_csv, to_json, tokenize)

EMBEDDED = ["smollm2-135m-instruct", "all-minilm-l6-v2", "gemma-3-270m"]
AWKWARD = [
    "Hello world",
    "Emoji 👋🏽 🧑‍🚀 🇫🇷 and a family 👨‍👩‍👧",
    "東京は日本の首都です。 中文分词 한국어",
    "مرحبا بالعالم — שלום עולם",
    "combining: e\u0301 a\u0308 n\u0303, precomposed é ä ñ",
    "def f(x):\n\treturn x ** 2  # code\n\n",
    "   runs   of\t\twhitespace   \n\n\n   ",
    "zero\u200bwidth and\u00a0nbsp, control \x01\x1b chars",
    "<img src=x onerror=alert(1)> & \"quotes\"",
]


@pytest.mark.parametrize("name", EMBEDDED)
@pytest.mark.parametrize("text", AWKWARD)
def test_ids_and_offsets_match_the_tokenizer(name, text):
    reference = load_tokenizer(name).tokenizer(text, return_offsets_mapping=True)
    result = tokenize(text, name)
    assert result.ids == reference["input_ids"]
    for start, end, special, (ref_start, ref_end) in zip(result.starts, result.ends, result.special,
                                                          reference["offset_mapping"]):
        if special and ref_start == ref_end:
            assert start == end
        else:
            assert (start, end) == (ref_start, ref_end)


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_converted_tokenizer_equals_the_gguf_tokenizer(name):
    """The cached conversion gives exactly AutoTokenizer.from_pretrained(dir, gguf_file=...)'s ids."""
    source = resolve(name)
    original = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    for text in AWKWARD:
        assert tokenize(text, name).ids == original(text)["input_ids"], text


def test_minilm_ids_equal_autotokenizer_on_the_package_folder():
    original = AutoTokenizer.from_pretrained(resolve("all-minilm-l6-v2").path)
    for text in AWKWARD:
        assert tokenize(text, "all-minilm-l6-v2").ids == original(text)["input_ids"]


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_token_bytes_reassemble_the_text(name):
    """Byte-level BPE and byte-fallback SentencePiece keep every byte: joined, they are the text."""
    text = "Emoji 👋🏽 東京 e\u0301 \t code\n"
    result = tokenize(text, name)
    joined = b"".join(b for b, s in zip(result.token_bytes, result.special) if not s)
    assert joined.decode("utf-8") == text


def test_emoji_split_across_byte_tokens_is_reported_truthfully():
    result = tokenize("Hi 👋", "smollm2-135m-instruct")
    assert result.token_bytes[-3:] == [b" \xf0\x9f", b"\x91", b"\x8b"]
    assert [result.token_text(i) for i in range(1, 4)] == [" 👋", "👋", "👋"]


def test_special_tokens_are_marked_and_cover_no_text():
    result = tokenize("hello world", "all-minilm-l6-v2")
    assert result.pieces[0] == "[CLS]" and result.pieces[-1] == "[SEP]"
    assert result.special[0] and result.special[-1] and not any(result.special[1:-1])
    assert result.starts[-1] == result.ends[-1] == len("hello world")
    gemma = tokenize("hello", "gemma-3-270m")
    assert gemma.pieces[0] == "<bos>" and gemma.special[0] and gemma.starts[0] == gemma.ends[0] == 0


def test_unknown_tokens_are_marked():
    result = tokenize("a 👋 b", "all-minilm-l6-v2")
    assert result.unknown == [False, False, True, False, False]


def test_counts_and_context_share():
    result = tokenize("hello world", "all-minilm-l6-v2")
    assert (result.num_tokens, result.num_chars, result.context_window) == (4, 11, 512)
    assert result.context_share == pytest.approx(4 / 512)
    assert result.chars_per_token == pytest.approx(11 / 4)


def test_api_dict_shape():
    data = tokenize("Hi 👋", "gemma-3-270m").to_dict()
    assert {"tokenizer", "num_tokens", "num_chars", "tokens"} <= data.keys()
    assert set(data["tokens"][0]) >= {"id", "text", "start", "end", "special"}
    json.dumps(data)


@pytest.mark.parametrize("bad, message", [
    ("", "text is empty"),
    ("x" * (current().max_chars + 1), "limit"),
    ("ok \ud800 no", r"lone surrogate U\+D800 at character 3"),
    (None, "must be a string"),
])
def test_bad_text_is_refused_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message):
        check_text(bad)


def test_whitespace_only_and_control_characters_tokenize_with_notes():
    result = tokenize("   \t\n", "all-minilm-l6-v2")
    assert result.num_tokens == 2
    assert any("only whitespace" in n for n in result.notes)
    assert tokenize("a\x00b\x1bc", "smollm2-135m-instruct").num_tokens > 0


def test_unknown_tokenizer_name_is_refused(monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match="'someone/missing-model'.*HF_HUB_OFFLINE"):
        tokenize("hi", "someone/missing-model")
    with pytest.raises(ValueError, match="valid Hub id"):
        tokenize("hi", "not a model!")


def test_cut_points_ignore_whitespace_conventions():
    bpe = tokenize("Hi there", "smollm2-135m-instruct")
    wordpiece = tokenize("Hi there", "all-minilm-l6-v2")
    assert cut_points(bpe) == cut_points(wordpiece) == {0, 3, 8}
    assert differing_tokens([bpe, wordpiece]) == [[False, False], [False, False, False, False]]


def test_differing_cuts_are_flagged():
    results = [tokenize("unbelievably", n) for n in ("smollm2-135m-instruct", "all-minilm-l6-v2")]
    flags = differing_tokens(results)
    assert any(flags[0]) and any(flags[1])


def test_ids_to_text_round_trip():
    ids = tokenize("Hello 👋 world", "smollm2-135m-instruct").ids
    assert decode_ids(", ".join(map(str, ids)), "smollm2-135m-instruct").text == "Hello 👋 world"
    assert parse_ids("[1, 2 3;4]") == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="whole numbers"):
        parse_ids("1, two")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        decode_ids("99999999", "smollm2-135m-instruct")


def test_chat_template_marks_its_special_tokens():
    messages = parse_conversation("system: Be brief.\nuser: Hi!\nassistant: Hello.")
    result = render_chat(messages, "smollm2-135m-instruct")
    assert result.text.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    marked = {result.pieces[i] for i in range(result.num_tokens) if result.special[i]}
    assert marked == {"<|im_start|>", "<|im_end|>"}
    with pytest.raises(ValueError, match="no chat template"):
        render_chat(messages, "gemma-3-270m")
    with pytest.raises(ValueError, match="must start with"):
        parse_conversation("hello there")


def test_exports_cover_every_token():
    results = [tokenize("a, b 👋", n) for n in EMBEDDED]
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert len(rows) == sum(r.num_tokens for r in results)
    assert rows[0].keys() >= {"tokenizer", "id", "text", "start", "end", "special", "bytes_hex"}
    assert [d["num_tokens"] for d in json.loads(to_json(results))] == [r.num_tokens for r in results]
