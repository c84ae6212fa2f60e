"""The step-by-step replays end where the tokenizers themselves end."""

import pytest

from playground.token_build import replay

WORDS = ["lower", "tokenization", "unbelievably", "Hello", "naïve", "東京", "👋", "don't", "x2"]


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "all-minilm-l6-v2", "gemma-3-270m"])
@pytest.mark.parametrize("word", WORDS)
def test_replay_agrees_with_the_tokenizer(name, word):
    build = replay(word, name)
    assert build.final == build.tokenizer_pieces
    assert build.agrees


def test_bpe_replay_applies_real_merges_in_rank_order():
    build = replay("there", "smollm2-135m-instruct")
    assert build.algorithm == "BPE"
    assert build.steps[0].symbols == list("there")
    ranks = [int(s.action.split("#")[1].split()[0].replace(",", "")) for s in build.steps if s.action.startswith("Merge")]
    assert ranks and len(ranks) == len(build.steps) - 2
    assert build.steps[-1].symbols == ["there"]


def test_sentencepiece_replay_falls_back_to_bytes_for_rare_characters():
    build = replay("𓀀", "gemma-3-270m")
    assert build.final == build.tokenizer_pieces
    assert all(p.startswith("<0x") for p in build.final) or build.final == ["𓀀"]


def test_wordpiece_replay_is_greedy_longest_match():
    build = replay("unbelievably", "all-minilm-l6-v2")
    assert build.algorithm == "WordPiece"
    assert build.final == ["un", "##bel", "##ie", "##va", "##bly"]
    assert "longer candidate" in build.steps[1].action


def test_bad_words_are_refused():
    with pytest.raises(ValueError, match="word is empty"):
        replay("  ", "all-minilm-l6-v2")
    with pytest.raises(ValueError, match="at most"):
        replay("a" * 100, "all-minilm-l6-v2")
