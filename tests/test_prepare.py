"""prepare.convert: only GGUF sources are converted, tokenizer then model, and nothing is loaded."""

from __future__ import annotations

from playground import models, prepare
from playground.catalog import ModelSource


def test_convert_touches_only_gguf_models(monkeypatch):
    sources = {"a": ModelSource("a", "gguf", "/x", "a.gguf", None), "b": ModelSource("b", "hub", "o/b", None, None)}
    converted = []
    monkeypatch.setattr(models, "resolve", lambda name: sources[name])
    monkeypatch.setattr(models, "_convert_once", lambda source, part, progress, write: converted.append((source.name, part)))
    monkeypatch.setattr(models, "load_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    prepare.convert(["a", "b"])
    assert converted == [("a", "tokenizer"), ("a", "model")]
