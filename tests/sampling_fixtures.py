"""A tiny random LLaMA for fast sampling tests (shared by tests/test_sampling*.py)."""

from __future__ import annotations

import pytest
import torch

from playground.models import load_model, load_tokenizer

EMBEDDED = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A 2-layer random LLaMA with a peaked next-token distribution, saved like any local model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(EMBEDDED).tokenizer
    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=96,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(60)   # sharpen: a few tokens clearly ahead, like a trained model
    model.generation_config.eos_token_id = 2
    model.generation_config.pad_token_id = 2
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_lm(tiny):
    return load_model(tiny)


