"""Public mode: when it is on, the allowlist, local paths, safetensors only, and every input limit
where the wrappers validate their inputs (each limit fails before any model loads)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from playground import public
from playground.progress import no_progress
from playground.registry import always_allowed

PUBLIC_VARIABLES = ["PLAYGROUND_PUBLIC", "SPACE_ID", "PLAYGROUND_ALLOWED_MODELS", "PLAYGROUND_TAB_CONCURRENCY",
                    "PLAYGROUND_QUEUE_SIZE", "PLAYGROUND_MAX_UPLOAD", *(limit.env for limit in public.LIMITS.values())]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PUBLIC_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def public_mode(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_PUBLIC", "1")


# ---------------------------------------------------------------------------------------------
# When it is on


def test_public_mode_is_off_locally_and_on_on_spaces(monkeypatch):
    assert not public.enabled()
    monkeypatch.setenv("SPACE_ID", "someone/playground")
    assert public.enabled() and public.on_spaces()
    monkeypatch.setenv("PLAYGROUND_PUBLIC", "0")
    assert not public.enabled()
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.setenv("PLAYGROUND_PUBLIC", "1")
    assert public.enabled()


def test_an_unclear_switch_is_refused(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_PUBLIC", "maybe")
    with pytest.raises(ValueError, match="PLAYGROUND_PUBLIC='maybe'"):
        public.enabled()


def test_off_nothing_is_limited(tmp_path):
    public.check_model(str(tmp_path), always_allowed())
    public.check_model("someone/anything", always_allowed())
    public.check("max_new_tokens", 10**6)
    assert public.limit("max_new_tokens") is None
    assert public.weights_kwargs() == {}
    assert public.tab_concurrency() == 4 and public.queue_size() is None and public.max_upload() is None


# ---------------------------------------------------------------------------------------------
# Models


def test_the_allowlist_holds_the_embedded_models_and_a_few_small_hub_ids(public_mode):
    allowed = public.allowed_models(always_allowed())
    for name in ("smollm2-135m-instruct", "all-minilm-l6-v2", "gemma-3-270m", "tiny-shapes-sd",
                 "HuggingFaceTB/SmolLM2-135M-Instruct", "gpt2"):
        assert name in allowed
        public.check_model(name, always_allowed())


def test_a_model_off_the_allowlist_is_refused_with_the_setting_named(public_mode):
    with pytest.raises(ValueError, match="not on this public server's allowlist.*PLAYGROUND_ALLOWED_MODELS"):
        public.check_model("someone/huge-model", always_allowed())


def test_the_allowlist_can_be_replaced_but_the_embedded_models_stay(public_mode, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_ALLOWED_MODELS", "distilgpt2, someone/small")
    public.check_model("someone/small", always_allowed())
    public.check_model("smollm2-135m-instruct", always_allowed())
    with pytest.raises(ValueError, match="allowlist"):
        public.check_model("gpt2", always_allowed())


@pytest.mark.parametrize("name", ["/etc", "./model", "~/models/x", "..\\x", "C:\\models"])
def test_local_paths_are_refused(public_mode, name):
    with pytest.raises(ValueError, match="local path.*PLAYGROUND_PUBLIC=1"):
        public.check_model(name, always_allowed())


def test_an_existing_folder_is_refused_even_with_a_hub_like_name(public_mode, tmp_path, monkeypatch):
    (tmp_path / "gpt2").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="local path"):
        public.check_model("gpt2", always_allowed())


def test_the_catalog_and_the_diffusion_loader_apply_the_policy(public_mode, tmp_path):
    from playground.catalog import resolve
    from playground.diffusion import resolve_pipeline

    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(ValueError, match="local path"):
        resolve(str(tmp_path))
    with pytest.raises(ValueError, match="local path"):
        resolve_pipeline(str(tmp_path))
    with pytest.raises(ValueError, match="allowlist"):
        resolve("someone/huge-model")
    with pytest.raises(ValueError, match="allowlist"):
        resolve_pipeline("someone/huge-sd")


def test_the_catalog_still_loads_local_folders_when_public_mode_is_off(tmp_path):
    from playground.catalog import resolve

    assert resolve(str(tmp_path)).kind == "dir"


# ---------------------------------------------------------------------------------------------
# Safetensors only


def _pickled_model(folder):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=16, n_positions=16, bos_token_id=0, eos_token_id=0)
    config.save_pretrained(folder)
    torch.save(GPT2LMHeadModel(config).state_dict(), folder / "pytorch_model.bin")  # a pickled checkpoint
    assert (folder / "pytorch_model.bin").is_file() and not (folder / "model.safetensors").exists()


def test_pickled_weights_load_only_when_public_mode_is_off(tmp_path, monkeypatch):
    from playground import models
    from playground.catalog import ModelSource

    _pickled_model(tmp_path)
    monkeypatch.setattr(models, "load_tokenizer", lambda name, progress: SimpleNamespace(tokenizer=None))
    source = ModelSource("tiny", "dir", str(tmp_path), None, None)
    loaded, size = models._load_model(source, "cpu", None, no_progress)
    assert size > 0
    monkeypatch.setenv("PLAYGROUND_PUBLIC", "1")
    with pytest.raises((ValueError, OSError), match="safetensors"):
        models._load_model(source, "cpu", None, no_progress)


def test_the_diffusion_pipeline_asks_for_safetensors_in_public_mode(public_mode, monkeypatch):
    import diffusers

    from playground import diffusion

    seen = {}

    def refuse(path, **kwargs):
        seen.update(kwargs)
        raise OSError("stop here")

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_pretrained", staticmethod(refuse))
    with pytest.raises(ValueError, match="could not load"):
        diffusion.build_pipeline("stabilityai/sd-turbo", "stabilityai/sd-turbo", "hub", "cpu", None, no_progress)
    assert seen["use_safetensors"] is True


# ---------------------------------------------------------------------------------------------
# Input limits


def test_a_limit_names_the_value_the_bound_and_its_setting(public_mode, monkeypatch):
    with pytest.raises(ValueError, match=r"max_new_tokens = 500 .* limit of 128 new tokens \(PLAYGROUND_PUBLIC_MAX_NEW_TOKENS\)"):
        public.check("max_new_tokens", 500)
    public.check("max_new_tokens", 128)
    monkeypatch.setenv("PLAYGROUND_PUBLIC_MAX_NEW_TOKENS", "600")
    public.check("max_new_tokens", 500)
    monkeypatch.setenv("PLAYGROUND_PUBLIC_MAX_NEW_TOKENS", "lots")
    with pytest.raises(ValueError, match="PLAYGROUND_PUBLIC_MAX_NEW_TOKENS='lots'"):
        public.check("max_new_tokens", 5)


def test_public_serving_settings(public_mode, monkeypatch):
    assert public.tab_concurrency() == 2 and public.queue_size() == 64 and public.max_upload() == "10mb"
    assert public.weights_kwargs() == {"use_safetensors": True}
    monkeypatch.setenv("PLAYGROUND_TAB_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="PLAYGROUND_TAB_CONCURRENCY"):
        public.tab_concurrency()


def test_tokenization_text_length(public_mode):
    from playground.tokenization import check_text

    check_text("x" * 20_000)
    with pytest.raises(ValueError, match="text length = 20,001 .*PLAYGROUND_PUBLIC_MAX_CHARS"):
        check_text("x" * 20_001)


def test_attention_text_and_token_limits(public_mode):
    from playground import attention

    with pytest.raises(ValueError, match="PLAYGROUND_PUBLIC_MAX_CHARS"):
        attention.run_attention("word " * 5000, "someone/never-loaded")
    fake = SimpleNamespace(tokenizer=lambda text: {"input_ids": list(range(300))}, context_window=1024)
    with pytest.raises(ValueError, match="text length = 300 .*PLAYGROUND_PUBLIC_ATTENTION_TOKENS"):
        attention.encode_text(fake, "a long text")


def test_sampling_limits_fail_before_a_model_loads(public_mode, monkeypatch):
    import importlib

    from playground import sampling

    for name in ("playground.sampling.compare", "playground.sampling.many"):   # each module's own name for it
        monkeypatch.setattr(importlib.import_module(name), "load_decoder", lambda *a: pytest.fail("a model was loaded"))
    with pytest.raises(ValueError, match="PLAYGROUND_PUBLIC_MAX_NEW_TOKENS"):
        next(sampling.stream_comparison("smollm2-135m-instruct", "Hi", [{"name": "greedy"}], max_new_tokens=200))
    with pytest.raises(ValueError, match="samples = 30 .*PLAYGROUND_PUBLIC_MAX_SAMPLES"):
        sampling.many_samples("smollm2-135m-instruct", "Hi", [{"name": "top_k"}], n=30, max_new_tokens=8)
    with pytest.raises(ValueError, match="prompt length .*PLAYGROUND_PUBLIC_MAX_CHARS"):
        next(sampling.stream_comparison("smollm2-135m-instruct", "x" * 30_000, [{"name": "greedy"}], 8))


def _fake_pipeline():
    from diffusers import DDIMScheduler

    # a preview decoder is named in the settings below: the default would read the model's config files
    return SimpleNamespace(name="fake", pipe=SimpleNamespace(scheduler=DDIMScheduler()), is_lcm=False,
                           native_size=32, size_multiple=8)


def test_diffusion_steps_size_prompt_and_filmstrip_limits(public_mode):
    from playground.diffusion import DenoiseSettings, filmstrip, validate

    loaded = _fake_pipeline()
    assert validate(loaded, DenoiseSettings(preview="vae", steps=50, height=512, width=512)) == (512, 512)
    with pytest.raises(ValueError, match="steps = 60 .*PLAYGROUND_PUBLIC_MAX_STEPS"):
        validate(loaded, DenoiseSettings(preview="vae", steps=60))
    with pytest.raises(ValueError, match="image height = 768 .*PLAYGROUND_PUBLIC_MAX_SIDE"):
        validate(loaded, DenoiseSettings(preview="vae", steps=10, height=768, width=768))
    with pytest.raises(ValueError, match="prompt length"):
        validate(loaded, DenoiseSettings(preview="vae", prompt="x" * 20_001, steps=10))
    with pytest.raises(ValueError, match="number of seed values = 5 .*PLAYGROUND_PUBLIC_MAX_FILMSTRIP"):
        filmstrip(loaded, DenoiseSettings(preview="vae", steps=4), "seed", [1, 2, 3, 4, 5])


def test_diffusion_limits_are_off_locally():
    from playground.diffusion import DenoiseSettings, validate

    assert validate(_fake_pipeline(), DenoiseSettings(preview="vae", steps=500, height=768, width=768)) == (768, 768)


def test_the_readme_documents_every_setting():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in PUBLIC_VARIABLES:
        assert f"`{name}`" in readme, name
