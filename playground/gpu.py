"""ZeroGPU: the GPU-bound entry points, decorated with `spaces.GPU` when the `spaces` package is there.

On a Hugging Face Space with ZeroGPU hardware a GPU is lent only while a function decorated with
`spaces.GPU` runs. The tabs mark their heavy handlers (the ones that run a model) with `gpu_task`:

    >>> def analyze(text, model):
    ...     return text.upper()
    >>> task = gpu_task(analyze)       # on a Space: spaces.GPU(analyze); without `spaces`: analyze itself
    >>> task is analyze if spaces_module() is None else task is not analyze
    True
    >>> task("hi", "gpt2")
    'HI'

`spaces.GPU` is itself a pass-through outside ZeroGPU hardware, so CPU and ordinary GPU Spaces run the
same code. Generator handlers (streaming) are supported by `spaces.GPU` too. Decoration happens when the
tab modules are imported, before the app launches, as ZeroGPU requires.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def spaces_module() -> Any | None:
    """The `spaces` package when it can be imported, else None."""
    try:
        return importlib.import_module("spaces")
    except ImportError:
        return None


def gpu_task(fn: Callable | None = None, *, duration: int | None = None) -> Callable:
    """`spaces.GPU(fn)` (with `duration` seconds when given) if `spaces` is importable, else `fn` unchanged.

    Use as `@gpu_task` or `@gpu_task(duration=120)`."""
    if fn is None:
        return lambda f: gpu_task(f, duration=duration)
    spaces = spaces_module()
    if spaces is None or not hasattr(spaces, "GPU"):
        return fn
    return spaces.GPU(fn) if duration is None else spaces.GPU(duration=duration)(fn)
