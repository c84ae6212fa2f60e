"""Every setting of the Playground, read from the environment in this one place.

    >>> current().max_chars                                   # PLAYGROUND_MAX_CHARS, 200,000 by default
    200000
    >>> read_settings({"PLAYGROUND_PUBLIC": "1"}).public      # a pure function of the variables it is given
    True
    >>> read_settings({"PLAYGROUND_MEMORY_MB": "lots"})
    Traceback (most recent call last):
    ValueError: PLAYGROUND_MEMORY_MB='lots' is not a number of megabytes; try 8192.

`current()` reads the variables again only when one of them has changed (a test that sets one sees it at
once; a server reads them once). The README's "Settings" table lists them all. HF_HUB_OFFLINE is
huggingface_hub's own (`huggingface_hub.is_offline_mode()`, read when it is imported), so that the Playground and
the Hub client always agree. This module imports nothing from the rest of the Playground.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

# The public-mode limits: key -> (environment variable, default, unit); see playground/public.py.
PUBLIC_LIMITS: dict[str, tuple[str, int, str]] = {
    "text_chars": ("PLAYGROUND_PUBLIC_MAX_CHARS", 20_000, "characters"),
    "attention_tokens": ("PLAYGROUND_PUBLIC_ATTENTION_TOKENS", 256, "tokens"),
    "why_tokens": ("PLAYGROUND_PUBLIC_WHY_TOKENS", 128, "tokens"),
    "max_new_tokens": ("PLAYGROUND_PUBLIC_MAX_NEW_TOKENS", 128, "new tokens"),
    "samples": ("PLAYGROUND_PUBLIC_MAX_SAMPLES", 20, "samples per strategy"),
    "diffusion_steps": ("PLAYGROUND_PUBLIC_MAX_STEPS", 50, "denoising steps"),
    "image_side": ("PLAYGROUND_PUBLIC_MAX_SIDE", 512, "pixels per side"),
    "filmstrip_rows": ("PLAYGROUND_PUBLIC_MAX_FILMSTRIP", 4, "filmstrip rows"),
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    device: str = ""                  # PLAYGROUND_DEVICE: "", "cpu", "cuda", "cuda:1", "mps" ("": the best there is)
    dtype: str = ""                   # PLAYGROUND_DTYPE: "", "float32", "float16", "bfloat16" ("": per device)
    memory_mb: float = 8192           # PLAYGROUND_MEMORY_MB: the model cache's budget
    cache_dir: Path = Path()          # PLAYGROUND_CACHE, else $XDG_CACHE_HOME/playground: converted models
    max_chars: int = 200_000          # PLAYGROUND_MAX_CHARS: the longest text the Tokenization tab takes
    chip_limit: int = 2000            # PLAYGROUND_CHIP_LIMIT: chips drawn per tokenizer
    attention_max_tokens: int = 1024  # PLAYGROUND_ATTENTION_MAX_TOKENS
    attention_mb: float = 1536        # PLAYGROUND_ATTENTION_MB: the Attention tab's cache of model runs
    sampling_memory_mb: float = 4096  # PLAYGROUND_SAMPLING_MEMORY_MB: largest KV cache + logits of a comparison
    cpu_decoding_speedup: bool = True  # PLAYGROUND_CPU_DECODING_SPEEDUP: W @ x.T for few rows while decoding
    lessons: Path = Path()            # PLAYGROUND_LESSONS: the folder of lesson files
    hub_endpoint: str = "https://huggingface.co"  # HF_ENDPOINT
    on_spaces: bool = False           # SPACE_ID is set (Hugging Face Spaces)
    public: bool = False              # PLAYGROUND_PUBLIC (1/0), else on_spaces
    allowed_models: tuple[str, ...] | None = None  # PLAYGROUND_ALLOWED_MODELS (comma-separated); None: the defaults
    public_limits: tuple[tuple[str, int], ...] = ()  # (key, bound) for every PUBLIC_LIMITS key
    tab_concurrency: int = 4          # PLAYGROUND_TAB_CONCURRENCY: 2 public, 4 local
    crowd_concurrency: int = 16       # PLAYGROUND_CROWD_CONCURRENCY: requests that may join one shared batch
    queue_size: int | None = None     # PLAYGROUND_QUEUE_SIZE: 64 public, unbounded local
    max_upload: str | None = None     # PLAYGROUND_MAX_UPLOAD: "10mb" public, unbounded local
    malloc_arena_max_set: bool = False  # MALLOC_ARENA_MAX is set: the user chose; app.py leaves it alone
    server_name: str = "127.0.0.1"    # GRADIO_SERVER_NAME
    server_port: int = 7860           # GRADIO_SERVER_PORT
    torch_threads: int | None = field(default=None)  # PLAYGROUND_TORCH_THREADS: torch's intra-op threads

    def public_limit(self, key: str) -> int | None:
        """The public-mode bound named `key` (a PUBLIC_LIMITS key); None when public mode is off."""
        return dict(self.public_limits)[key] if self.public else None


def read_settings(environ: Mapping[str, str]) -> Settings:
    """Settings from `environ` (os.environ in the app); ValueError names a variable that can't be used."""
    def text(name: str, default: str = "") -> str:
        return environ.get(name, default).strip()

    def number(name: str, default: float, unit: str, example: str) -> float:
        raw = text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number of {unit}; try {example}.") from None
        if value <= 0:
            raise ValueError(f"{name}={raw!r} must be positive; try {example}.")
        return value

    def whole(name: str, default: int | None, unit: str, least: int = 1) -> int | None:
        raw = text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} must be a whole number of {unit}.") from None
        if value < least:
            raise ValueError(f"{name}={value} must be at least {least}.")
        return value

    on_spaces = bool(text("SPACE_ID"))
    flag = text("PLAYGROUND_PUBLIC").lower()
    if flag and flag not in _TRUE + _FALSE:
        raise ValueError(f"PLAYGROUND_PUBLIC={flag!r} is not understood: use 1 (public mode) or 0 (off).")
    public = flag in _TRUE or (not flag and on_spaces)
    allowed = environ.get("PLAYGROUND_ALLOWED_MODELS")
    cache_root = text("PLAYGROUND_CACHE")
    xdg = text("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Settings(
        device=text("PLAYGROUND_DEVICE").lower(),
        dtype=text("PLAYGROUND_DTYPE").lower(),
        memory_mb=number("PLAYGROUND_MEMORY_MB", 8192, "megabytes", "8192"),
        cache_dir=Path(cache_root).expanduser() if cache_root else Path(xdg) / "playground",
        max_chars=whole("PLAYGROUND_MAX_CHARS", 200_000, "characters"),
        chip_limit=whole("PLAYGROUND_CHIP_LIMIT", 2000, "chips"),
        attention_max_tokens=whole("PLAYGROUND_ATTENTION_MAX_TOKENS", 1024, "tokens"),
        attention_mb=number("PLAYGROUND_ATTENTION_MB", 1536, "megabytes", "1536"),
        sampling_memory_mb=number("PLAYGROUND_SAMPLING_MEMORY_MB", 4096, "megabytes", "4096"),
        cpu_decoding_speedup=text("PLAYGROUND_CPU_DECODING_SPEEDUP", "1").lower() not in _FALSE,
        lessons=Path(text("PLAYGROUND_LESSONS") or ROOT / "assets" / "lessons"),
        hub_endpoint=text("HF_ENDPOINT") or "https://huggingface.co",
        on_spaces=on_spaces,
        public=public,
        allowed_models=None if allowed is None else tuple(n.strip() for n in allowed.split(",") if n.strip()),
        public_limits=tuple((key, whole(env, default, unit)) for key, (env, default, unit) in PUBLIC_LIMITS.items()),
        tab_concurrency=whole("PLAYGROUND_TAB_CONCURRENCY", 2 if public else 4, "events"),
        crowd_concurrency=whole("PLAYGROUND_CROWD_CONCURRENCY", 16, "events"),
        queue_size=whole("PLAYGROUND_QUEUE_SIZE", 64 if public else None, "requests"),
        max_upload=environ.get("PLAYGROUND_MAX_UPLOAD", "10mb" if public else "") or None,
        malloc_arena_max_set="MALLOC_ARENA_MAX" in environ,
        server_name=text("GRADIO_SERVER_NAME") or "127.0.0.1",
        server_port=whole("GRADIO_SERVER_PORT", 7860, "port number"),
        torch_threads=whole("PLAYGROUND_TORCH_THREADS", None, "threads"),
    )


_NAMES = ("PLAYGROUND_", "HF_ENDPOINT", "SPACE_ID", "XDG_CACHE_HOME", "MALLOC_ARENA_MAX",
          "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT")


def current() -> Settings:
    """The settings of this process, read again only when a variable they come from has changed."""
    relevant = tuple(sorted((key, value) for key, value in os.environ.items() if key.startswith(_NAMES)))
    return _read_once(relevant)


@lru_cache(maxsize=8)
def _read_once(relevant: tuple[tuple[str, str], ...]) -> Settings:
    return read_settings(dict(relevant))
