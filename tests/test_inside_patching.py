"""playground.inside.patching: exact at the ends, and the batched heatmap equals one run per cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground.inside import patch, patch_api_result, patch_one
from tests.inside_fixtures import CORRUPTED, PROMPT, reference_logits, tiny, tiny_gemma, tiny_llama  # noqa: F401

TARGET = "tired"     # a word whose probability the corruption changes in both tiny models


@pytest.mark.parametrize("kind", ["residual", "attention", "mlp"])
def test_patching_every_position_of_the_last_layer_restores_exactly_1_and_nothing_0(tiny, kind):
    everything = patch_one(PROMPT, CORRUPTED, tiny, 2, list(range(8)), TARGET, kind)
    nothing = patch_one(PROMPT, CORRUPTED, tiny, 2, [], TARGET, kind)
    if kind == "residual":
        assert everything.restored[0, 0] == 1.0
    else:   # the last layer's attention or MLP output alone: only the part after it is the clean run's
        assert np.isfinite(everything.restored[0, 0])
    assert nothing.restored[0, 0] == 0.0


def test_probabilities_are_the_models_own(tiny):
    result = patch(PROMPT, CORRUPTED, tiny, TARGET)
    clean = torch.softmax(reference_logits(tiny, PROMPT), -1)[result.target_id]
    corrupted = torch.softmax(reference_logits(tiny, CORRUPTED), -1)[result.target_id]
    assert result.p_clean == pytest.approx(float(clean), abs=1e-6)
    assert result.p_corrupted == pytest.approx(float(corrupted), abs=1e-6)
    assert result.restored.shape == (3, 8)
    np.testing.assert_allclose(result.restored[-1], [0] * 7 + [1], atol=1e-5)   # last layer: only the last position
    np.testing.assert_allclose(result.restored[:, 0], 0, atol=1e-5)    # position 0 is the same in both prompts


@pytest.mark.parametrize("kind", ["residual", "attention", "mlp"])
def test_the_batched_heatmap_equals_one_run_per_cell(tiny, kind, monkeypatch):
    from playground.inside import patching

    monkeypatch.setattr(patching, "ROWS_PER_CHUNK", 40)     # several chunks per layer
    result = patch(PROMPT, CORRUPTED, tiny, TARGET, kind)
    for layer, position in ((0, 1), (1, 1), (1, 5), (2, 7), (0, 7)):
        one = patch_one(PROMPT, CORRUPTED, tiny, layer, [position], TARGET, kind)
        assert result.p_patched[layer, position] == pytest.approx(one.p_patched[0, 0], abs=1e-6), (layer, position)


def test_prompts_of_different_lengths_are_refused_with_both_counts(tiny_llama):
    with pytest.raises(ValueError, match="the clean prompt is 8 tokens and the corrupted prompt is 6 tokens"):
        patch(PROMPT, "the dog sat on the mat", tiny_llama)


@pytest.mark.parametrize("clean, corrupted, kind, message", [
    (PROMPT, PROMPT, "residual", "the clean and corrupted prompts are the same tokens"),
    ("", CORRUPTED, "residual", "clean prompt is empty"),
    (PROMPT, CORRUPTED, "heads", "kind must be one of residual, attention, mlp"),
])
def test_bad_input_is_named(tiny_llama, clean, corrupted, kind, message):
    with pytest.raises(ValueError, match=message):
        patch(clean, corrupted, tiny_llama, "", kind)


def test_api_result_has_the_issue_keys(tiny_llama):
    result = patch_api_result(patch(PROMPT, CORRUPTED, tiny_llama, TARGET))
    assert {"tokens", "target", "p_clean", "p_corrupted", "restored"} <= set(result)
    assert len(result["restored"]) == 3 and len(result["restored"][0]) == len(result["tokens"]) == 8
