"""playground.inside.contributions: the parts add up to the model's own logit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.inside import contributions, contributions_api_result
from playground.inside.contributions import frozen_scale
from tests.inside_fixtures import PROMPT, reference_logits, tiny, tiny_gemma, tiny_llama  # noqa: F401 (fixtures)


def test_parts_add_up_to_the_models_own_logit(tiny):
    logits = reference_logits(tiny, PROMPT)
    for target in ("", "dog", "rome"):
        result = contributions(PROMPT, tiny, target)
        assert result.logit == pytest.approx(float(logits[result.target_id]), abs=1e-5)
        whole = sum(c.value for c in result.components if c.head is None)
        assert whole == pytest.approx(result.logit, rel=1e-3, abs=1e-6)
        assert result.logprob == pytest.approx(float(torch.log_softmax(logits, -1)[result.target_id]), abs=1e-5)


def test_heads_add_up_to_their_attention_block(tiny):
    result = contributions(PROMPT, tiny, "")
    grid = result.grid()                                             # (L, H + 2)
    assert grid.shape == (3, 4 + 2)
    np.testing.assert_allclose(grid[:, :4].sum(axis=1), grid[:, 4], rtol=1e-4, atol=1e-6)
    kinds = [(c.kind, c.head is None) for c in result.components]
    assert kinds.count(("embedding", True)) == 1 and kinds.count(("mlp", True)) == 3
    assert kinds.count(("attention", True)) == 3 and kinds.count(("attention", False)) == 12


def test_gemma_soft_capping_is_shared_out(tiny_gemma):
    result = contributions(PROMPT, tiny_gemma, "")
    assert any("soft-caps" in note for note in result.notes)
    assert sum(c.value for c in result.components if c.head is None) == pytest.approx(result.logit, rel=1e-3)


def test_promoted_tokens_are_the_top_of_the_components_logit_effect(tiny_llama):
    """The embedding's promoted tokens: the largest entries of W_U @ (e * scale), with the run's final scale."""
    from playground.inside.hooks import load_decoder

    result = contributions(PROMPT, tiny_llama, "")
    decoder = load_decoder(tiny_llama)
    ids = decoder.loaded.tokenizer(PROMPT)["input_ids"]
    final = {}
    with torch.inference_mode():
        embedding = decoder.model.get_input_embeddings()(torch.tensor([ids]))[0, -1]
        # the last layer's output before the final norm (transformers' hidden_states[-1] is after it)
        handle = decoder.layers[-1].register_forward_hook(lambda m, a, out: final.update(h=out[0, -1]))
        decoder.model(input_ids=torch.tensor([ids]))
        handle.remove()
        scale = frozen_scale(decoder.final_norm, final["h"].double(), "final norm")
        effects = decoder.model.get_output_embeddings().weight.double() @ (embedding.double() * scale)
    expected = decoder.loaded.tokenizer.convert_ids_to_tokens(effects.topk(5).indices.tolist())
    assert result.embedding().promotes == expected


def test_frozen_scale_refuses_a_layer_norm():
    norm = torch.nn.LayerNorm(8)
    norm.eps = 1e-5
    with pytest.raises(ValueError, match="is not an RMSNorm"):
        frozen_scale(norm, torch.randn(8, dtype=torch.float64) + 3, "this norm")


def test_api_result_has_the_issue_keys(tiny_llama):
    result = contributions_api_result(contributions(PROMPT, tiny_llama, ""))
    assert {"target", "target_id", "logit", "components"} <= set(result)
    assert all(set(c) == {"layer", "kind", "head", "value"} for c in result["components"])
    whole = sum(c["value"] for c in result["components"] if c["head"] is None)
    assert whole == pytest.approx(result["logit"], rel=1e-3)
