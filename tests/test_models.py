"""Loading: embedded models through their converted cache, and tiny local models."""

import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from playground.cache import CACHE
from playground.catalog import resolve
from playground.models import SMALL_BATCH_ROWS, converted_dir, load_model, load_tokenizer, small_batch_linear


@pytest.fixture
def tiny_llama(tmp_path):
    """A tiny random LLaMA with the SmolLM tokenizer, saved the way any Hub checkpoint is."""
    tokenizer = load_tokenizer("smollm2-135m-instruct").tokenizer
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return str(tmp_path)


def test_a_local_folder_loads_as_a_causal_lm(tiny_llama):
    loaded = load_model(tiny_llama)
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert loaded.context_window == 128 and loaded.device == "cpu"
    assert not loaded.model.training


def test_a_model_loads_once(tiny_llama):
    first = load_model(tiny_llama)
    loads = CACHE.loads
    assert load_model(tiny_llama) is first
    assert CACHE.loads == loads


def test_embedded_models_are_converted_to_safetensors_once():
    for name in ("smollm2-135m-instruct", "gemma-3-270m"):
        load_model(name)
        folder = converted_dir(name, "model")
        assert (folder / "done.json").is_file()
        assert list(folder.glob("*.safetensors"))


def test_converted_smollm_equals_the_gguf_model():
    source = resolve("smollm2-135m-instruct")
    original = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file, dtype=torch.float32)
    converted = load_model("smollm2-135m-instruct").model
    weights, converted_weights = original.state_dict(), converted.state_dict()
    assert weights.keys() == converted_weights.keys()
    for name, tensor in weights.items():
        torch.testing.assert_close(converted_weights[name], tensor, rtol=0, atol=0, msg=name)
    ids = torch.tensor([AutoTokenizer.from_pretrained(converted_dir("smollm2-135m-instruct", "tokenizer"))(
        "The capital of France is")["input_ids"]])
    with torch.no_grad():   # load_model's CPU speed-up sums in another order: equal up to rounding
        torch.testing.assert_close(converted(ids).logits, original(ids).logits, rtol=0, atol=1e-3)


def test_the_cpu_decoding_speed_up_keeps_the_maths_and_stays_inside_its_block(monkeypatch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Linear(32, 8, bias=False))
    few, many = torch.randn(3, 1, 16), torch.randn(SMALL_BATCH_ROWS + 1, 16)
    seen = []
    real = torch.Tensor.__matmul__
    monkeypatch.setattr(torch.Tensor, "__matmul__", lambda a, b: seen.append(a.shape) or real(a, b))
    with torch.no_grad():
        plain_few, plain_many = model(few), model(many)
        assert seen == []                                          # outside the block: F.linear
        with small_batch_linear("cpu"):
            torch.testing.assert_close(model(few), plain_few, rtol=1e-5, atol=1e-6)
            assert model(few).shape == (3, 1, 8) and seen            # W @ x.T was used
            seen.clear()
            torch.testing.assert_close(model(many), plain_many, rtol=0, atol=0)   # many rows: F.linear itself
            assert seen == []
        model(few)
        assert seen == []                                          # and after it, F.linear again
        with small_batch_linear("cuda"):                          # other devices: nothing changes
            model(few)
        with small_batch_linear("cpu", rows=SMALL_BATCH_ROWS + 1):  # a loop over a bigger batch: nothing either
            model(few)
        assert seen == []
    monkeypatch.setenv("PLAYGROUND_CPU_DECODING_SPEEDUP", "0")
    with torch.no_grad(), small_batch_linear("cpu"):
        model(few)
    assert seen == []


def test_a_fresh_process_loads_from_the_converted_cache_without_converting_again():
    code = ("import playground.models as m\n"
            "def refuse(*args): raise AssertionError('converted again')\n"
            "m._write_gguf_model = m._write_gguf_tokenizer = refuse\n"
            "print(type(m.load_model('gemma-3-270m').model).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("Gemma3ForCausalLM")


def test_minilm_is_an_encoder():
    loaded = load_model("all-minilm-l6-v2")
    assert type(loaded.model).__name__ == "BertModel" and loaded.context_window == 512
