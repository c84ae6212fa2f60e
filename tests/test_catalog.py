import time

import pytest
from huggingface_hub import constants as hub_constants

from playground import catalog
from playground.catalog import resolve
from playground.registry import TEXT_MODELS as EMBEDDED


def test_embedded_names_resolve_offline_to_their_packages(monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    assert resolve("smollm2-135m-instruct").kind == "gguf"
    assert resolve("gemma-3-270m").gguf_file == "gemma-3-270m-q4_k_m.gguf"
    source = resolve("all-minilm-l6-v2")
    assert source.kind == "dir" and source.path.endswith("model")
    assert {spec.family for spec in EMBEDDED.values()} == {"BPE", "WordPiece", "SentencePiece"}


def test_a_local_folder_resolves_as_is(tmp_path):
    assert resolve(str(tmp_path)).kind == "dir"


def test_a_hub_id_offline_names_the_id_and_what_to_do(monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"'openai-community/gpt2'.*HF_HUB_OFFLINE.*embedded model"):
        resolve("openai-community/gpt2")


def test_an_unreachable_hub_fails_fast(monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    catalog._reachability.clear()
    started = time.monotonic()
    with pytest.raises(ValueError, match="can't be reached.*connect to the internet"):
        resolve("someone/some-model")
    assert time.monotonic() - started < 10


def test_an_embedded_name_without_its_package_falls_back_to_the_hub(monkeypatch):
    monkeypatch.setattr(catalog, "_embedded_source", lambda spec: None)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ValueError, match=r"not installed.*HuggingFaceTB/SmolLM2-135M-Instruct"):
        resolve("smollm2-135m-instruct")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(catalog, "hub_reachable", lambda timeout=3.0: True)
    source = resolve("smollm2-135m-instruct")
    assert (source.kind, source.path) == ("hub", "HuggingFaceTB/SmolLM2-135M-Instruct")


@pytest.mark.parametrize("bad", ["", "   ", "../etc", "two words", "a/b/c"])
def test_malformed_names_are_refused(bad):
    with pytest.raises(ValueError, match="model"):
        resolve(bad)
