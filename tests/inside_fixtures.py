"""Tiny seeded random decoders for the Why-this-token tests (tests/test_inside_*.py, tests/test_why_tab.py):
a LLaMA with grouped-query attention, and a Gemma 3 with sliding-window layers, norms after attention and
MLP, and soft-capped logits, each saved like a Hub model with a word-level tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

WORDS = ["<unk>", "<bos>", "the", "cat", "sat", "on", "mat", "it", "was", "tired", ".", "dog", "paris", "rome",
         "city", "of", "in", "tower", "is", "a"]
PROMPT = "the cat sat on the mat it was"
CORRUPTED = "the dog sat on the mat it was"


def save_tiny(folder: Path, gemma: bool) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM,
                              PreTrainedTokenizerFast)

    vocab = {word: i for i, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<bos>").save_pretrained(folder)
    torch.manual_seed(0)
    if gemma:
        config = Gemma3TextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                  num_attention_heads=4, num_key_value_heads=1, head_dim=8, sliding_window=4,
                                  max_position_embeddings=64, final_logit_softcapping=5.0,
                                  layer_types=["sliding_attention", "full_attention", "sliding_attention"])
        model = Gemma3ForCausalLM(config)
    else:
        config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
        model = LlamaForCausalLM(config)
    with torch.no_grad():   # norms' weights away from their initial 1 (or 0): a scale that must be read right
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(torch.randn_like(parameter) * 0.3)
        model.lm_head.weight.mul_(8)   # a peaked next-token distribution, like a trained model's
    model.eval().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    return save_tiny(tmp_path_factory.mktemp("why-llama"), gemma=False)


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory) -> str:
    return save_tiny(tmp_path_factory.mktemp("why-gemma"), gemma=True)


@pytest.fixture(params=["llama", "gemma"])
def tiny(request, tiny_llama, tiny_gemma) -> str:
    """Each test that takes `tiny` runs on both tiny decoders."""
    return tiny_llama if request.param == "llama" else tiny_gemma


def reference_logits(name: str, text: str) -> torch.Tensor:
    """model(prompt).logits[-1], straight from transformers: (vocab,)."""
    from playground.models import load_model

    loaded = load_model(name)
    ids = loaded.tokenizer(text)["input_ids"]
    with torch.inference_mode():
        return loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
