"""The Why-this-token tools on the embedded decoders themselves (slow: full-size models), including what the
lesson (assets/lessons/why.md) says about SmolLM2 on the default prompt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.inside import ablate, attribute, contributions, edit_prompt, patch, patch_one
from playground.inside.hooks import load_decoder

pytestmark = pytest.mark.slow

PROMPT = "The Eiffel Tower is in the city of"
CORRUPTED = "The Colosseum is in the city of"


def own_logprobs(model: str, text: str) -> torch.Tensor:
    decoder = load_decoder(model)
    ids = decoder.loaded.tokenizer(text)["input_ids"]
    with torch.inference_mode():
        return torch.log_softmax(decoder.model(input_ids=torch.tensor([ids])).logits[0, -1].float(), dim=-1)


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_attribution_and_contributions_hold_on_the_embedded_decoders(model):
    logprobs = own_logprobs(model, PROMPT)
    result = attribute(PROMPT, model, "", "integrated_gradients")
    assert result.target == " Paris" and result.target_id == int(logprobs.argmax())
    assert result.target_logprob == pytest.approx(float(logprobs[result.target_id]), abs=1e-4)
    assert result.completeness_error < 0.05
    parts = contributions(PROMPT, model, "")
    assert sum(c.value for c in parts.components if c.head is None) == pytest.approx(parts.logit, rel=1e-3)
    grid = parts.grid()
    np.testing.assert_allclose(grid[:, :-2].sum(axis=1), grid[:, -2], atol=1e-3 * abs(parts.logit))


@pytest.mark.parametrize("model", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_patching_is_exact_at_both_ends_on_the_embedded_decoders(model):
    decoder = load_decoder(model)
    last = decoder.num_layers - 1
    t = len(decoder.loaded.tokenizer(PROMPT)["input_ids"])
    assert patch_one(PROMPT, CORRUPTED, model, last, list(range(t))).restored[0, 0] == 1.0
    assert patch_one(PROMPT, CORRUPTED, model, last, []).restored[0, 0] == 0.0
    assert ablate(PROMPT, model, [], [], "zero").kl == 0.0


def test_what_the_lesson_says_about_smollm2():
    model = "smollm2-135m-instruct"
    ig = attribute(PROMPT, model, "", "integrated_gradients")
    scores = dict(zip(ig.tokens, ig.scores))
    assert np.exp(ig.target_logprob) == pytest.approx(0.656, abs=0.001)
    assert ig.completeness_error < 0.005 and scores["The"] == 0      # "a small fraction of a percent"
    assert scores[" E"] == pytest.approx(3.6, abs=0.1) and scores["iffel"] == pytest.approx(3.6, abs=0.1)
    assert scores[" in"] == pytest.approx(3.5, abs=0.1) and scores[" of"] == pytest.approx(3.0, abs=0.1)
    versus = attribute(PROMPT, model, "", "integrated_gradients", "Rome")
    contrast = dict(zip(versus.tokens, versus.scores))
    assert versus.explained == pytest.approx(2.86, abs=0.01)
    assert contrast["iffel"] == pytest.approx(1.5, abs=0.1) and contrast[" of"] == pytest.approx(-2.5, abs=0.1)
    occlusion = dict(zip(*[(r := attribute(PROMPT, model, "", "occlusion")).tokens, r.scores]))
    assert occlusion[" of"] == pytest.approx(27.7, abs=0.1) and occlusion["iffel"] == pytest.approx(3.8, abs=0.1)
    assert max(v for k, v in occlusion.items() if k != " of") == occlusion["iffel"]
    gxi = attribute(PROMPT, model, "", "gradient_x_input")
    assert [gxi.tokens[i] for i in np.argsort(-np.abs(gxi.scores))[:2]] == [" Tower", "iffel"]
    rollout = attribute(PROMPT, model, "", "attention_rollout")
    assert rollout.scores[0] > 0.995
    parts = contributions(PROMPT, model, "")
    assert parts.logit == pytest.approx(13.69, abs=0.01)
    by_name = {(c.layer, c.kind, c.head): c for c in parts.components}
    assert by_name[(29, "mlp", None)].value == pytest.approx(6.9, abs=0.05)
    assert by_name[(23, "attention", None)].value == pytest.approx(2.9, abs=0.05)
    assert by_name[(23, "attention", 4)].promotes[0] == " Paris"
    assert by_name[(24, "mlp", None)].promotes[:3] == [" capitals", " metropolis", " capital"]
    off = ablate(PROMPT, model, [[23, 1], [23, 4], [23, 5]], [], "zero")
    assert off.after_top.before[0] == pytest.approx(0.656, abs=0.001)
    assert off.after_top.tokens[:2] == [" Paris", " Tokyo"] and off.after_top.after[0] == pytest.approx(0.149, abs=0.001)
    assert off.kl == pytest.approx(0.98, abs=0.005)
    edited = edit_prompt(PROMPT, model, "Eiffel", "")
    assert edited.after_top.tokens[0] == " New" and " Paris" not in edited.after_top.tokens[:5]
    traced = patch(PROMPT, CORRUPTED, model, "")
    assert traced.p_corrupted == pytest.approx(0.0001, abs=0.00005)
    assert (traced.restored[2:23, 2] > 0.6).all() and (traced.restored[23:, 2] < 0.05).all()
    assert (traced.restored[23:, -1] > 0.4).all()
    heads = patch(PROMPT, CORRUPTED, model, "", "attention")
    assert np.unravel_index(np.argmax(heads.restored), heads.restored.shape) == (23, 8)
    assert np.sort(heads.restored.ravel())[-2] < 0.1
