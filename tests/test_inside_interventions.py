"""playground.inside.interventions: ablations equal editing the weights; nothing ablated changes nothing."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from playground.inside import ablate, ablate_api_result, edit_prompt
from playground.inside.hooks import Hooks, load_decoder
from playground.inside.interventions import find_span
from tests.inside_fixtures import PROMPT, reference_logits, tiny, tiny_gemma, tiny_llama  # noqa: F401 (fixtures)


def full_distribution(model, ids) -> torch.Tensor:
    with torch.inference_mode():
        return torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].double(), dim=-1)


def test_ablating_nothing_leaves_the_distribution_unchanged(tiny):
    result = ablate(PROMPT, tiny, [], [], "zero")
    assert result.kl == 0.0 and result.description == "nothing switched off"
    np.testing.assert_array_equal(result.before_top.before, result.before_top.after)
    probs = torch.softmax(reference_logits(tiny, PROMPT).double(), -1)
    np.testing.assert_allclose(result.before_top.before, probs[result.before_top.token_ids].numpy(), atol=1e-6)


def test_one_heads_ablation_equals_zeroing_its_slice_of_o_proj(tiny):
    """Zeroing head h's slice of o_proj's input is zeroing o_proj's columns for that head in a copy of the model."""
    result = ablate(PROMPT, tiny, [[1, 2]], [], "zero", top_k=20)
    decoder = load_decoder(tiny)
    edited = copy.deepcopy(decoder.model)
    width = decoder.head_dim
    with torch.no_grad():
        edited.model.layers[1].self_attn.o_proj.weight[:, 2 * width:3 * width] = 0
    ids = decoder.loaded.tokenizer(PROMPT)["input_ids"]
    expected = full_distribution(edited, ids)
    np.testing.assert_allclose(result.after_top.after, expected[result.after_top.token_ids].numpy(), atol=1e-6)
    before = full_distribution(decoder.model, ids)
    kl = float((before * (before.log() - expected.log())).sum())
    assert result.kl == pytest.approx(kl, rel=1e-4, abs=1e-9) and result.kl > 0


def test_an_mlp_ablation_equals_zeroing_its_output_weights(tiny_llama):
    result = ablate(PROMPT, tiny_llama, [], [0, 2], "zero")
    decoder = load_decoder(tiny_llama)
    edited = copy.deepcopy(decoder.model)
    with torch.no_grad():
        for layer in (0, 2):
            edited.model.layers[layer].mlp.down_proj.weight.zero_()
    expected = full_distribution(edited, decoder.loaded.tokenizer(PROMPT)["input_ids"])
    np.testing.assert_allclose(result.after_top.after, expected[result.after_top.token_ids].numpy(), atol=1e-6)


def test_mean_ablation_puts_the_mean_over_positions_in_place(tiny_llama):
    decoder = load_decoder(tiny_llama)
    ids = decoder.loaded.tokenizer(PROMPT)["input_ids"]
    seen = {}
    with Hooks() as hooks, torch.inference_mode():
        hooks.pre(decoder.layers[1].self_attn.o_proj, lambda m, args: seen.setdefault("z", args[0][0].clone()))
        decoder.model(input_ids=torch.tensor([ids]))
    mean = seen["z"][1:].mean(dim=0)                       # the first position (the sink) left out
    width = decoder.head_dim

    def put_mean(module, args):
        z = args[0].clone()
        z[..., 0:width] = mean[0:width]
        return (z,)
    with Hooks() as hooks, torch.inference_mode():
        hooks.pre(decoder.layers[1].self_attn.o_proj, put_mean)
        expected = torch.softmax(decoder.model(input_ids=torch.tensor([ids])).logits[0, -1].double(), -1)
    result = ablate(PROMPT, tiny_llama, [[1, 0]], [], "mean")
    np.testing.assert_allclose(result.after_top.after, expected[result.after_top.token_ids].numpy(), atol=1e-6)
    assert "mean over the prompt's positions" in result.description


def test_whole_layers_of_heads(tiny_llama):
    result = ablate(PROMPT, tiny_llama, [[1, None]], [], "zero")
    assert result.description.startswith("4 heads (L1.H0, L1.H1, L1.H2, L1.H3)")


def test_hooks_act_only_in_their_own_thread(tiny_llama):
    """The model is shared: another request running it meanwhile must not see this one's ablation."""
    decoder = load_decoder(tiny_llama)
    ids = decoder.loaded.tokenizer(PROMPT)["input_ids"]
    plain = full_distribution(decoder.model, ids)
    other = {}
    with Hooks() as hooks:
        hooks.pre(decoder.layers[0].self_attn.o_proj, lambda m, args: (args[0] * 0,))
        thread = threading.Thread(target=lambda: other.setdefault("p", full_distribution(decoder.model, ids)))
        thread.start()
        thread.join()
        mine = full_distribution(decoder.model, ids)
    torch.testing.assert_close(other["p"], plain)
    assert not torch.allclose(mine, plain)
    torch.testing.assert_close(full_distribution(decoder.model, ids), plain)   # removed on leaving


def test_removing_or_replacing_a_token_reruns_the_new_prompt(tiny):
    removed = edit_prompt(PROMPT, tiny, "mat", "")
    assert removed.description == "removed 'mat' (position 5)"
    assert removed.tokens_after == ["the", "cat", "sat", "on", "the", "it", "was"]
    probs = torch.softmax(reference_logits(tiny, "the cat sat on the it was").double(), -1)
    np.testing.assert_allclose(removed.after_top.after, probs[removed.after_top.token_ids].numpy(), atol=1e-6)
    replaced = edit_prompt(PROMPT, tiny, "1", "dog")
    assert replaced.description == "replaced 'cat' (position 1) by 'dog'"
    assert replaced.tokens_after[1] == "dog"
    words = edit_prompt(PROMPT, tiny, "on the mat", "")
    assert words.description == "removed 'onthemat' (positions 3-5)" and len(words.tokens_after) == 5


def test_find_span():
    tokens = ["The", " E", "iffel", " Tower", " is"]
    assert find_span(tokens, "tower") == (3, 4) and find_span(tokens, 2) == (2, 3)
    assert find_span(tokens, "Eiffel") == (1, 3) and find_span(tokens, " EIFFEL Tower") == (1, 4)
    with pytest.raises(ValueError, match="token position 9 is out of range: the prompt has positions 0 to 4"):
        find_span(tokens, "9")
    with pytest.raises(ValueError, match="token 'Eiffels' is not in the prompt"):
        find_span(tokens, "Eiffels")


@pytest.mark.parametrize("heads, mlps, mode, message", [
    ([[3, 0]], [], "zero", "heads: layer 3 is out of range: .* has layers 0 to 2"),
    ([[0, 4]], [], "zero", "heads: head 4 is out of range: .* has heads 0 to 3"),
    ([[0]], [], "zero", "heads: each entry must be a \\[layer, head\\] pair"),
    ("0.1", [], "zero", "heads must be a list of \\[layer, head\\] pairs"),
    ([], [7], "zero", "mlps: layer 7 is out of range"),
    ([], [], "resample", "mode must be one of zero, mean"),
])
def test_bad_input_is_named(tiny_llama, heads, mlps, mode, message):
    with pytest.raises(ValueError, match=message):
        ablate(PROMPT, tiny_llama, heads, mlps, mode)


def test_api_result_has_the_issue_keys(tiny_llama):
    result = ablate_api_result(ablate(PROMPT, tiny_llama, [[0, 1]], [1], "zero"))
    assert {"before", "after", "kl"} <= set(result)
    assert len(result["before"]) == 20 and {"token", "id", "p"} == set(result["before"][0])
    assert result["after"][0]["p"] >= result["after"][1]["p"]
