"""Convert the embedded models once into the local cache, so that the app's first use is fast.

    python -m playground.prepare            # all embedded models
    python -m playground.prepare gemma-3-270m

Each GGUF is dequantized once (15-60 s on a 2-core CPU) and saved as safetensors; runs after the
first return in seconds.
"""

from __future__ import annotations

import sys
import time

from playground.models import convert_gguf, load_model, load_tokenizer
from playground.registry import TEXT_MODELS


def convert(names: list[str]) -> None:
    """Only the one-time GGUF conversions into the cache: no model is loaded onto a device, so this is
    safe in a background thread at a Space's start-up (ZeroGPU included), and the first request for
    Gemma finds it converted instead of waiting minutes."""
    for name in names:
        convert_gguf(name)


def prepare(names: list[str]) -> None:
    for name in names:
        started = time.perf_counter()
        load_tokenizer(name)
        load_model(name)
        print(f"{name}: ready in {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    prepare(sys.argv[1:] or list(TEXT_MODELS))
