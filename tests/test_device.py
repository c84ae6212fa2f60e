import pytest
import torch

from playground.device import pick_device, pick_dtype


def test_cpu_when_there_is_no_accelerator(monkeypatch):
    monkeypatch.delenv("PLAYGROUND_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == "cpu"
    assert pick_dtype("cpu") == torch.float32


def test_cuda_first_then_mps(monkeypatch):
    monkeypatch.delenv("PLAYGROUND_DEVICE", raising=False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == "mps"
    assert pick_dtype("mps") == torch.float16


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DEVICE", "cpu")
    monkeypatch.setenv("PLAYGROUND_DTYPE", "bfloat16")
    assert pick_device() == "cpu"
    assert pick_dtype() == torch.bfloat16
    monkeypatch.setenv("PLAYGROUND_DTYPE", "float8")
    with pytest.raises(ValueError, match="PLAYGROUND_DTYPE"):
        pick_dtype()
    monkeypatch.setenv("PLAYGROUND_DEVICE", "tpu")
    with pytest.raises(ValueError, match="PLAYGROUND_DEVICE"):
        pick_device()
