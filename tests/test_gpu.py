"""ZeroGPU: with a `spaces` module importable the heavy handlers are wrapped by spaces.GPU; without it
they are the plain functions. The fake module records what it decorated."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types

import pytest

from playground.gpu import gpu_task


def fake_spaces() -> types.ModuleType:
    """A stand-in for the `spaces` package: GPU wraps like the real one (generators stay generators)."""
    module = types.ModuleType("spaces")
    module.decorated = []

    def GPU(fn=None, *, duration=None):
        if fn is None:
            return lambda f: GPU(f, duration=duration)
        module.decorated.append((fn.__name__, duration))
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def generator_wrapper(*args, **kwargs):
                yield from fn(*args, **kwargs)
            wrapper = generator_wrapper
        else:
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                return fn(*args, **kwargs)
        wrapper.zerogpu = True
        return wrapper

    module.GPU = GPU
    return module


def double(x):
    return 2 * x


def count(n):
    yield from range(n)


def test_without_spaces_nothing_changes(monkeypatch):
    monkeypatch.setitem(sys.modules, "spaces", None)  # makes `import spaces` raise ImportError
    assert gpu_task(double) is double
    assert gpu_task(duration=30)(count) is count


def test_with_spaces_functions_are_decorated(monkeypatch):
    spaces = fake_spaces()
    monkeypatch.setitem(sys.modules, "spaces", spaces)
    wrapped = gpu_task(double)
    assert wrapped is not double and wrapped.zerogpu and wrapped(21) == 42
    streaming = gpu_task(duration=120)(count)
    assert inspect.isgeneratorfunction(streaming) and list(streaming(3)) == [0, 1, 2]
    assert spaces.decorated == [("double", None), ("count", 120)]


HEAVY = {
    "tabs.attention": ["analyze", "show_head", "pick_from_overview", "show_focus", "show_compare", "show_lens",
                       "show_bertviz", "export", "attention_api"],
    "tabs.sampling": ["generate", "run_stream", "run_samples"],
    "tabs.diffusion": ["run", "denoise_api"],
    "tabs.diffusion_filmstrips": ["compare"],
    "tabs.diffusion_forward": ["noise_image_forward"],
}


@pytest.fixture
def reload_tabs():
    """Reload the tab modules under a given `spaces`, and restore them (undecorated) afterwards."""
    def load(spaces):
        saved = sys.modules.get("spaces")
        sys.modules["spaces"] = spaces
        try:
            return {name: importlib.reload(importlib.import_module(name)) for name in HEAVY}
        finally:
            if saved is None:
                sys.modules.pop("spaces", None)
            else:
                sys.modules["spaces"] = saved
    yield load
    load(None)


def test_the_tabs_decorate_their_model_running_handlers(reload_tabs):
    modules = reload_tabs(fake_spaces())
    for name, handlers in HEAVY.items():
        for handler in handlers:
            function = getattr(modules[name], handler)
            assert getattr(function, "zerogpu", False), f"{name}.{handler} is not decorated"
    # Streaming handlers stay generators, and Gradio still sees their parameters (progress, event data).
    assert inspect.isgeneratorfunction(modules["tabs.sampling"].run_stream)
    assert "progress" in inspect.signature(modules["tabs.diffusion"].run).parameters
    assert "evt" in inspect.signature(modules["tabs.attention"].pick_from_overview).parameters


def test_without_spaces_the_tab_handlers_are_plain(reload_tabs):
    modules = reload_tabs(None)
    for name, handlers in HEAVY.items():
        for handler in handlers:
            assert not hasattr(getattr(modules[name], handler), "zerogpu")
