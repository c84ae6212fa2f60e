"""playground.inside.attribution against the models themselves, Captum and hand-written references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.inside import attribute, attribute_api_result
from playground.inside.attribution import METHODS, _objective, pad_token_baseline
from playground.inside.paths import integrate
from playground.inside.hooks import load_decoder
from tests.inside_fixtures import PROMPT, reference_logits, tiny, tiny_gemma, tiny_llama  # noqa: F401 (fixtures)


def embeddings(name: str, text: str) -> tuple:
    decoder = load_decoder(name)
    ids = decoder.loaded.tokenizer(text)["input_ids"]
    with torch.no_grad():
        return decoder, decoder.model.get_input_embeddings()(torch.tensor([ids])).clone()


@pytest.mark.parametrize("method", METHODS)
def test_target_logprob_is_the_models_own(tiny, method):
    logits = reference_logits(tiny, PROMPT)
    result = attribute(PROMPT, tiny, "", method)
    expected = torch.log_softmax(logits, dim=-1)
    assert result.target_id == int(logits.argmax())                  # empty target: the most likely next token
    assert result.target_logprob == pytest.approx(float(expected[result.target_id]), abs=1e-5)
    assert result.scores.shape == (len(result.tokens),) and np.isfinite(result.scores).all()
    named = attribute(PROMPT, tiny, "dog", method)
    assert named.target == "dog"
    assert named.target_logprob == pytest.approx(float(expected[named.target_id]), abs=1e-5)


def test_integrated_gradients_completeness_with_the_default_steps(tiny):
    for target, contrast in (("", ""), ("dog", ""), ("", "rome")):
        result = attribute(PROMPT, tiny, target, "integrated_gradients", contrast)
        gap = result.explained - result.baseline_value
        assert result.completeness_error == pytest.approx(abs(result.scores.sum() - gap) / abs(gap))
        assert result.completeness_error < 0.05, (target, contrast, result.completeness_error)
        assert result.scores[0] == 0 and result.kept[0]              # the first token is kept in the baseline


def test_integrated_gradients_agree_with_captum(tiny_llama):
    """Our adaptive rule and Captum's IntegratedGradients (512 Gauss-Legendre points) integrate the same path."""
    from captum.attr import IntegratedGradients

    decoder, inputs = embeddings(tiny_llama, PROMPT)
    logits = reference_logits(tiny_llama, PROMPT)
    forward = _objective(decoder, int(logits.argmax()), None)
    baseline = pad_token_baseline(decoder, inputs, [True] + [False] * 7)
    ours = integrate(forward, inputs, baseline, steps=64, intervals=16)
    theirs = IntegratedGradients(forward).attribute(inputs, baselines=baseline, n_steps=512, internal_batch_size=128)
    theirs = theirs[0].sum(dim=-1).double().numpy()
    np.testing.assert_allclose(ours.scores, theirs, atol=0.01 * np.abs(theirs).max())
    with torch.no_grad():
        assert ours.value == pytest.approx(float(forward(inputs)[0]), abs=1e-5)
        assert ours.baseline_value == pytest.approx(float(forward(baseline)[0]), abs=1e-5)


def test_gradient_x_input_is_the_gradient_dotted_with_the_embedding(tiny):
    result = attribute(PROMPT, tiny, "", "gradient_x_input")
    decoder, inputs = embeddings(tiny, PROMPT)
    inputs.requires_grad_(True)
    value = _objective(decoder, result.target_id, None)(inputs)
    grad, = torch.autograd.grad(value.sum(), inputs)
    np.testing.assert_allclose(result.scores, (grad * inputs)[0].sum(-1).detach().double().numpy(), rtol=1e-4,
                               atol=1e-7)
    assert not any(result.kept)


def test_occlusion_replaces_one_token_at_a_time(tiny):
    result = attribute(PROMPT, tiny, "", "occlusion")
    decoder, inputs = embeddings(tiny, PROMPT)
    baseline = pad_token_baseline(decoder, inputs, result.kept)
    forward = _objective(decoder, result.target_id, None)
    with torch.no_grad():
        whole = float(forward(inputs)[0])
        for i in (0, 3, len(result.tokens) - 1):
            occluded = inputs.clone()
            occluded[0, i] = baseline[0, i]
            assert result.scores[i] == pytest.approx(whole - float(forward(occluded)[0]), abs=1e-5)
    assert result.explained == pytest.approx(whole, abs=1e-6)


def test_attention_rollout_is_the_last_row_of_the_rollout(tiny_llama):
    from playground.attention import rollout, run_attention

    result = attribute(PROMPT, tiny_llama, "", "attention_rollout")
    expected = rollout(run_attention(PROMPT, tiny_llama).weights)[-1][-1]
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5)
    assert result.scores.sum() == pytest.approx(1.0, abs=1e-4)
    assert result.completeness_error is None and result.explained is None


def test_contrast_explains_the_difference_of_log_probabilities(tiny_llama):
    result = attribute(PROMPT, tiny_llama, "dog", "integrated_gradients", "rome")
    assert result.contrast == "rome"
    assert result.explained == pytest.approx(result.target_logprob - result.contrast_logprob, abs=1e-4)
    plain = attribute(PROMPT, tiny_llama, "dog", "gradient_x_input")
    versus = attribute(PROMPT, tiny_llama, "dog", "gradient_x_input", "rome")
    alone = attribute(PROMPT, tiny_llama, "rome", "gradient_x_input")
    np.testing.assert_allclose(versus.scores, plain.scores - alone.scores, atol=1e-6)   # linear in F


def test_a_target_of_several_tokens_uses_the_first_and_says_so(tiny_llama):
    result = attribute(PROMPT, tiny_llama, "dog cat", "gradient_x_input")
    assert result.target == "dog" and "2 tokens" in result.target_note and "the first, 'dog'" in result.target_note


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": "  "}, "prompt is empty"),
    ({"method": "lime"}, "method must be one of gradient_x_input, integrated_gradients, occlusion, attention_rollout"),
    ({"contrast": "tired", "method": "attention_rollout"}, "attention rollout is the same for every target"),
    ({"target": "dog", "contrast": "dog"}, "contrast 'dog' is the same token as the target"),
    ({"steps": 2}, "steps must be between 8 and 512"),
])
def test_bad_input_is_named(tiny_llama, kwargs, message):
    arguments = {"prompt": PROMPT, "model": tiny_llama, "target": "", "method": "integrated_gradients", "contrast": ""}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        attribute(**arguments)


def test_models_it_cannot_read_are_refused_by_name():
    with pytest.raises(ValueError, match="all-minilm-l6-v2' is an encoder"):
        attribute(PROMPT, "all-minilm-l6-v2", "", "gradient_x_input")
    with pytest.raises(ValueError, match="not-a-model"):
        attribute(PROMPT, "not-a-model!", "", "gradient_x_input")


def test_api_result_has_the_issue_keys(tiny_llama):
    ig = attribute_api_result(attribute(PROMPT, tiny_llama, "", "integrated_gradients"))
    assert {"tokens", "token_ids", "scores", "target", "target_id", "target_logprob", "completeness_error"} <= set(ig)
    assert len(ig["scores"]) == len(ig["tokens"]) == len(ig["token_ids"])
    plain = attribute_api_result(attribute(PROMPT, tiny_llama, "", "occlusion"))
    assert "completeness_error" not in plain
