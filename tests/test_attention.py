"""playground.attention: the weights are the model's own, and the derived views are right on hand-made matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from playground import attention as att

SENTENCE = "The animal didn't cross the street because it was too tired."


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    """A tiny random LLaMA with grouped-query attention (4 query heads, 2 kv heads), saved like a Hub model."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path_factory.mktemp("tiny-llama")
    vocab = {w: i for i, w in enumerate(["<unk>", "the", "cat", "sat", "on", "mat", "it", "was", "tired", "."])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>").save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    LlamaForCausalLM(config).eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(folder)  # the folder loads as a tokenizer
    return str(folder)


def reference_attentions(name: str, text: str) -> tuple[list[int], np.ndarray]:
    """The eager attentions straight from transformers, without the Playground in between."""
    from playground.models import load_model

    loaded = load_model(name, attn_implementation="eager")
    ids = loaded.tokenizer(text)["input_ids"]
    with torch.inference_mode():
        out = loaded.model(input_ids=torch.tensor([ids]), output_attentions=True)
    return ids, torch.stack([a[0] for a in out.attentions]).float().numpy()


def test_tiny_llama_weights_are_the_models_own(tiny_llama):
    result = att.run_attention("the cat sat on the mat", tiny_llama)
    ids, expected = reference_attentions(tiny_llama, "the cat sat on the mat")
    assert result.token_ids == ids
    assert result.weights.shape == (3, 4, 6, 6)
    np.testing.assert_allclose(result.weights, expected, atol=1e-6)
    assert result.architecture == "decoder"
    assert result.num_kv_heads == 2 and result.kv_head_of == [0, 0, 1, 1]


def test_rows_sum_to_one_and_decoders_are_causal(tiny_llama):
    result = att.run_attention("the cat sat on the mat it was tired .", tiny_llama)
    np.testing.assert_allclose(result.weights.sum(axis=-1), 1.0, atol=1e-5)
    upper = np.triu(np.ones((result.num_tokens,) * 2, dtype=bool), k=1)
    assert np.all(result.weights[..., upper] == 0)


def test_result_is_cached_and_switching_reuses_it(tiny_llama):
    first = att.run_attention("the cat sat", tiny_llama)
    assert att.run_attention("the cat sat", tiny_llama) is first
    np.testing.assert_allclose(att.select_weights(first, 1, -1), first.weights[1].mean(axis=0))
    np.testing.assert_array_equal(att.select_weights(first, 2, 3), first.weights[2, 3])


@pytest.mark.parametrize("layer, head, message", [(3, 0, "layer 3 is out of range"), (-1, 0, "layer -1"),
                                                  (0, 4, "head 4 is out of range"), (0, -2, "head -2")])
def test_layer_and_head_out_of_range(tiny_llama, layer, head, message):
    result = att.run_attention("the cat sat", tiny_llama)
    with pytest.raises(ValueError, match=message):
        att.select_weights(result, layer, head)


def test_bad_text(tiny_llama, monkeypatch):
    with pytest.raises(ValueError, match="text is empty"):
        att.run_attention("   ", tiny_llama)
    monkeypatch.setenv("PLAYGROUND_ATTENTION_MAX_TOKENS", "8")
    with pytest.raises(ValueError, match="at most 8 fit"):
        att.run_attention("the mat it was tired . the cat sat", tiny_llama)


def test_context_window_is_enforced(tiny_llama):
    with pytest.raises(ValueError, match="context window is 64"):
        att.run_attention(" ".join(["the"] * 65), tiny_llama)


def test_a_model_without_attentions_is_a_clear_error(tiny_llama, monkeypatch):
    from playground.models import load_model

    loaded = load_model(tiny_llama, attn_implementation="eager")
    original = loaded.model.forward

    def forward(*args, **kwargs):
        out = original(*args, **kwargs)
        out.attentions = None
        return out

    monkeypatch.setattr(loaded.model, "forward", forward)
    with pytest.raises(ValueError, match="returned no attention weights"):
        att.run_attention("the cat sat on it", tiny_llama)


def test_logit_lens_last_layer_is_the_models_prediction(tiny_llama):
    from playground.models import load_model

    result = att.run_attention("the cat sat on the", tiny_llama)
    lens = att.logit_lens(result, top_k=2)
    loaded = load_model(tiny_llama, attn_implementation="eager")
    with torch.inference_mode():
        logits = loaded.model(input_ids=torch.tensor([result.token_ids])).logits[0]
    assert lens.token_ids.shape == (3, 5, 2) and lens.positions == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(lens.token_ids[-1, :, 0], logits.argmax(-1).numpy())
    np.testing.assert_allclose(lens.probs[-1, :, 0], torch.softmax(logits, -1).max(-1).values.numpy(), atol=1e-5)
    assert np.all(np.diff(lens.probs, axis=-1) <= 0)
    window = att.logit_lens(result, top_k=2, start=2, stop=4)
    np.testing.assert_array_equal(window.token_ids, lens.token_ids[:, 2:4])
    with pytest.raises(ValueError, match="out of range"):
        att.logit_lens(result, start=7)


def test_rollout_on_hand_made_matrices():
    # Layer 0: every token attends fully to token 0; layer 1: to itself.
    to_first = np.array([[1, 0], [1, 0]], dtype=np.float32)
    to_self = np.eye(2, dtype=np.float32)
    weights = np.stack([np.stack([to_first]), np.stack([to_self])])            # (2, 1, 2, 2)
    flows = att.rollout(weights)
    mixed = 0.5 * np.eye(2) + 0.5 * to_first                                   # [[1, 0], [.5, .5]]
    np.testing.assert_allclose(flows[0], mixed)
    np.testing.assert_allclose(flows[1], np.eye(2) @ mixed)                    # identity layer changes nothing
    np.testing.assert_allclose(flows.sum(-1), 1.0)


def test_head_stats_name_the_heads():
    t = 6
    previous = np.eye(t, k=-1); previous[0, 0] = 1
    sink = np.zeros((t, t)); sink[:, 0] = 1
    uniform = np.tril(np.ones((t, t))); uniform /= uniform.sum(-1, keepdims=True)
    weights = np.stack([np.stack([previous, sink, uniform])]).astype(np.float32)   # (1, 3, T, T)
    stats = att.head_stats(weights, causal=True)
    assert stats.kinds[0] == ["previous-token head", "first-token (sink) head", "broad (averaging) head"]
    np.testing.assert_allclose(stats.previous[0], [1, 0.2, np.mean([1 / (i + 1) for i in range(1, t)])], atol=1e-6)
    np.testing.assert_allclose(stats.sink[0, 1], 1)
    np.testing.assert_allclose(stats.entropy[0, 0], 0, atol=1e-6)
    np.testing.assert_allclose(stats.entropy_share[0, 2], 1, atol=1e-6)


def test_head_stats_encoder_self_and_next():
    t = 5
    weights = np.stack([np.stack([np.eye(t), np.eye(t, k=1) + np.diag([0] * (t - 1) + [1])])]).astype(np.float32)
    stats = att.head_stats(weights, causal=False)
    assert stats.kinds[0] == ["self head", "next-token head"]


def test_overview_pools_blocks_and_keeps_rows_summing_to_one():
    rng = np.random.default_rng(0)
    raw = rng.random((2, 3, 10, 10)).astype(np.float32)
    weights = raw / raw.sum(-1, keepdims=True)
    view = att.overview(weights, size=4, gap=1)
    assert (view.size, view.block) == (4, 3)
    assert view.image.shape == (2 * 5 - 1, 3 * 5 - 1)
    tile = view.image[5:9, 10:14]                                   # layer 1, head 2
    np.testing.assert_allclose(tile.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(tile[0, 0], weights[1, 2, 0:3, 0:3].sum() / 3, atol=1e-6)
    assert np.isnan(view.image[4]).all()


def test_focus_and_find_token(tiny_llama):
    result = att.run_attention("the cat sat on the mat it was tired", tiny_llama)
    index = att.find_token(result, "it")
    assert index == 6
    data = att.focus(result, index, head=1)
    np.testing.assert_array_equal(data.attends_to, result.weights[:, 1, 6, :])
    np.testing.assert_array_equal(data.attended_by, result.weights[:, 1, :, 6])
    with pytest.raises(ValueError, match="not one token"):
        att.find_token(result, "dog")


def test_api_dict(tiny_llama):
    result = att.run_attention("the cat sat", tiny_llama)
    api = att.to_api(result, 2, -1)
    assert api["tokens"] == ["the", "cat", "sat"] and api["num_layers"] == 3 and api["num_heads"] == 4
    np.testing.assert_allclose(api["weights"], result.weights[2].mean(0), atol=1e-7)


def test_bertviz_page_is_offline_first_and_script_safe(tiny_llama):
    text = "the cat sat on the mat"
    result = att.run_attention(text, tiny_llama)
    fake = att.AttentionResult(**{**result.__dict__, "tokens": ["</script><img src=x onerror=alert(1)>"] +
                                  result.tokens[1:]})
    page = att.bertviz_document(fake, "model", att.bertviz_window(fake, 0), "vendor/")
    assert "<script src='vendor/require.js'>" in page
    assert "['vendor/d3.min', 'https://cdnjs" in page and "['vendor/jquery.min', 'https://cdnjs" in page
    assert "</script><img" not in page and "<\\/script><img" in page
    assert page.count("</script>") == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ["all-minilm-l6-v2", "smollm2-135m-instruct"])
def test_embedded_models_weights_are_their_own(name):
    result = att.run_attention(SENTENCE, name)
    ids, expected = reference_attentions(name, SENTENCE)
    assert result.token_ids == ids
    np.testing.assert_allclose(result.weights, expected, atol=1e-6)
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-4)
    if name == "smollm2-135m-instruct":
        assert result.causal and result.kv_head_of == [0, 0, 0, 1, 1, 1, 2, 2, 2]
        assert np.all(np.triu(result.weights[0, 0], k=1) == 0)
    else:
        assert not result.causal and result.tokens[0] == "[CLS]"
        assert (result.weights[0, 0] > 0).all()    # bidirectional: every token sees every token


def test_cached_results_are_read_only_for_every_view(tiny_llama):
    result = att.run_attention("the cat sat on the mat", tiny_llama)
    for shared in (result.weights, att.select_weights(result, 0, 1), att.rollout_of(result), result.hidden_states):
        with pytest.raises(ValueError, match="read-only"):
            shared[0, 0] = 1.0
    mean = att.select_weights(result, 0, -1)       # a new array of this request's own: free to change
    mean[0, 0] = 1.0
