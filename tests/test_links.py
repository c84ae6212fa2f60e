"""playground.links: a tab's inputs as a query string and back, and what a bad link says."""

from urllib.parse import parse_qsl

import pytest

from playground.links import MAX_VALUE_CHARS, Field, coerce, decode_link, encode_link

FIELDS = [
    Field("prompt", "text", "Write one sentence about the sea."),
    Field("model", "choice", "smollm2-135m-instruct"),
    Field("chat", "bool", True),
    Field("max_new_tokens", "int", 40, 1, 256),
    Field("temperature1", "float", 1.0, 0.05, 3.0),
    Field("strategy1", "choice", "greedy", choices=("off", "greedy", "top_k")),
    Field("tokenizers", "choices", ("a", "b"), choices=()),
]
TABS = {"sampling": FIELDS, "tokenization": [Field("text", "text", "")]}


def pairs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def test_a_link_holds_the_tab_and_only_what_differs_from_the_defaults():
    query = encode_link("sampling", FIELDS, {"prompt": "Write one sentence about the sea.", "max_new_tokens": 12,
                                             "temperature1": 1, "chat": False})
    assert query == "tab=sampling&chat=false&max_new_tokens=12"


def test_round_trip_keeps_every_value_exactly():
    values = {"prompt": "naïve 👋 a&b=c?#%+ \n\tx", "model": "HuggingFaceTB/SmolLM2-135M", "chat": False,
              "max_new_tokens": 256, "temperature1": 0.35, "strategy1": "top_k", "tokenizers": ("x", "y,z", "w")}
    link = decode_link(pairs(encode_link("sampling", FIELDS, values)), TABS)
    assert link.problems == ()
    assert link.tab == "sampling" and link.run
    # a comma inside a list item splits it: lists are given as repeated keys or comma-separated
    assert link.values == {**values, "tokenizers": ("x", "y", "z", "w")}


def test_names_not_given_take_their_defaults():
    link = decode_link([("tab", "sampling"), ("prompt", "Hi")], TABS)
    assert link.values == {"prompt": "Hi", "model": "smollm2-135m-instruct", "chat": True, "max_new_tokens": 40,
                           "temperature1": 1.0, "strategy1": "greedy", "tokenizers": ("a", "b")}


def test_a_plain_visit_is_not_a_link_and_gradio_parameters_are_left_alone():
    assert decode_link([], TABS).tab is None
    link = decode_link([("__theme", "dark")], TABS)
    assert link.tab is None and link.problems == ()
    link = decode_link([("__theme", "dark"), ("tab", "tokenization"), ("text", "x")], TABS)
    assert link.tab == "tokenization" and link.problems == ()


def test_bad_values_are_named_and_replaced_by_defaults():
    link = decode_link([("tab", "sampling"), ("max_new_tokens", "9999"), ("temperature1", "hot"),
                        ("strategy1", "random"), ("chat", "maybe"), ("colour", "red"), ("prompt", "kept")], TABS)
    assert link.tab == "sampling"
    assert link.values["prompt"] == "kept"
    assert link.values["max_new_tokens"] == 40 and link.values["temperature1"] == 1.0
    assert link.values["strategy1"] == "greedy" and link.values["chat"] is True
    text = "\n".join(link.problems)
    assert "max_new_tokens: 9999 is above the largest allowed value, 256; the default 40 was used." in text
    assert "temperature1: 'hot' is not a number" in text
    assert "strategy1: 'random' is not one of 'off', 'greedy', 'top_k'" in text
    assert "chat: 'maybe' is not true or false" in text
    assert "colour: the sampling tab has no such setting" in text
    assert len(link.problems) == 5


def test_unknown_or_missing_tab_says_which_tabs_exist():
    link = decode_link([("tab", "painting"), ("prompt", "x")], TABS)
    assert link.tab is None and "tab 'painting', which does not exist; tabs: sampling, tokenization" in link.problems[0]
    link = decode_link([("prompt", "x")], TABS)
    assert link.tab is None and "no tab=" in link.problems[0]


def test_repeated_scalar_and_run_flag():
    link = decode_link([("tab", "sampling"), ("prompt", "a"), ("prompt", "b"), ("run", "false")], TABS)
    assert link.values["prompt"] == "Write one sentence about the sea."
    assert "prompt: given 2 times; give it once" in link.problems[0]
    assert link.run is False


@pytest.mark.parametrize("raw, expected", [("20", 20), ("20.0", 20), ("-0", 0)])
def test_whole_numbers(raw, expected):
    assert coerce(Field("n", "int", minimum=-5), raw) == expected


@pytest.mark.parametrize("raw", ["2.5", "nan", "inf", "", "1e400"])
def test_not_whole_numbers(raw):
    with pytest.raises(ValueError, match="^n: "):
        coerce(Field("n", "int"), raw)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind 'colour'"):
        Field("x", "colour")


def test_a_value_too_long_for_an_address_stays_out_of_the_link():
    """Every request carries the page address (Referer); 100k characters in it make the server refuse them."""
    field = Field("text", "text", "Hello")
    long_text = "x" * (MAX_VALUE_CHARS + 1)
    assert encode_link("tokenization", [field], {"text": long_text}) == "tab=tokenization"
    assert encode_link("tokenization", [field], {"text": "Hi"}) == "tab=tokenization&text=Hi"
