"""One device picker and one dtype per device for the whole Playground.

    >>> pick_device()            # on a laptop without a GPU
    'cpu'
    >>> pick_dtype("cpu")
    torch.float32

Both can be overridden: PLAYGROUND_DEVICE=cpu forces the CPU on a GPU machine, and
PLAYGROUND_DTYPE=bfloat16 picks another dtype (float32, float16, bfloat16).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

from playground.settings import current

DTYPE_NAMES = ("float32", "float16", "bfloat16")


def pick_device() -> str:
    """Return "cuda", "mps" or "cpu": the first one available, unless PLAYGROUND_DEVICE says otherwise."""
    import torch

    use_torch_threads()
    wanted = current().device
    if wanted:
        if wanted.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"PLAYGROUND_DEVICE={wanted!r} but no CUDA GPU is available; unset it or use 'cpu'.")
        if wanted == "mps" and not torch.backends.mps.is_available():
            raise ValueError("PLAYGROUND_DEVICE='mps' but MPS is not available; unset it or use 'cpu'.")
        if not (wanted.startswith("cuda") or wanted in ("mps", "cpu")):
            raise ValueError(f"PLAYGROUND_DEVICE={wanted!r} is not one of cuda, mps, cpu.")
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def use_torch_threads() -> None:
    """Give torch PLAYGROUND_TORCH_THREADS intra-op threads, when set (every model load picks a device first).
    Unset, torch keeps its default, one thread per core: right for one user; a server for a class may want
    fewer, so that several users' work at once does not oversubscribe the cores."""
    import torch

    wanted = configured_threads()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)


@functools.lru_cache(maxsize=1)
def configured_threads() -> int:
    """torch's intra-op threads for big work: PLAYGROUND_TORCH_THREADS, or torch's default (one per core),
    read once, before anything here changes it."""
    import torch

    return current().torch_threads or torch.get_num_threads()


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch on `count` intra-op threads inside the block, in this thread only (torch keeps the count per
    thread); afterwards configured_threads(). Not the count found on entry: threads starting meanwhile
    inherit the last count set anywhere, so restoring what each block found could leave one behind.

        >>> with torch_threads(1):
        ...     import torch; torch.get_num_threads()
        1
        >>> torch.get_num_threads() == configured_threads()
        True
    """
    import torch

    base = configured_threads()      # read before the first change
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(base)


def pick_dtype(device: str | None = None):
    """Return the torch dtype models run in on `device`: half precision on GPUs, float32 on the CPU."""
    import torch

    device = device or pick_device()
    wanted = current().dtype
    if wanted:
        if wanted not in DTYPE_NAMES:
            raise ValueError(f"PLAYGROUND_DTYPE={wanted!r} is not one of {', '.join(DTYPE_NAMES)}.")
        return getattr(torch, wanted)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32
