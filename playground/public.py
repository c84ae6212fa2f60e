"""Public mode: the rules a shared server (a Hugging Face Space, a classroom server) runs under.

Public mode is on when PLAYGROUND_PUBLIC=1, or when SPACE_ID is set (Hugging Face Spaces sets it) and
PLAYGROUND_PUBLIC is not "0". Off, nothing here changes anything. On:

- models come from an allowlist: the embedded names plus a few well-known small Hub checkpoints
  (PLAYGROUND_ALLOWED_MODELS, comma-separated, replaces those); local paths are refused;
- weights load from safetensors only (`use_safetensors=True`: no pickled checkpoints);
- inputs have limits (characters, tokens, new tokens, samples, diffusion steps and image size, rows of
  a filmstrip), each changeable with its own variable;
- each tab's heavy events share one queue slot group, PLAYGROUND_TAB_CONCURRENCY wide (app.py).

    >>> import os; os.environ["PLAYGROUND_PUBLIC"] = "1"
    >>> check_model("smollm2-135m-instruct")          # embedded: allowed
    >>> check_model("/home/me/model")
    Traceback (most recent call last):
    ValueError: model '/home/me/model' is a local path; this public server (PLAYGROUND_PUBLIC=1) loads only ...
    >>> check("max_new_tokens", 500)
    Traceback (most recent call last):
    ValueError: max_new_tokens = 500 is above this public server's limit of 128 new tokens (PLAYGROUND_PUBLIC_MAX_NEW_TOKENS) ...
    >>> weights_kwargs()
    {'use_safetensors': True}

This module imports neither gradio nor torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Small, popular, safetensors checkpoints that run on a CPU Space; the embedded models' own Hub ids are
# allowed as well (see allowed_models).
DEFAULT_HUB_MODELS = (
    "gpt2", "openai-community/gpt2", "distilgpt2", "distilbert/distilgpt2", "EleutherAI/pythia-70m",
    "HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct",
    "bert-base-uncased", "google-bert/bert-base-uncased", "roberta-base", "FacebookAI/roberta-base",
    "stabilityai/sd-turbo",
)


@dataclass(frozen=True)
class Limit:
    argument: str    # the input it bounds, as error messages name it
    env: str         # the variable that changes it
    default: int     # its value in public mode
    unit: str        # what is counted


LIMITS: dict[str, Limit] = {
    "text_chars": Limit("text", "PLAYGROUND_PUBLIC_MAX_CHARS", 20_000, "characters"),
    "attention_tokens": Limit("text", "PLAYGROUND_PUBLIC_ATTENTION_TOKENS", 256, "tokens"),
    "max_new_tokens": Limit("max_new_tokens", "PLAYGROUND_PUBLIC_MAX_NEW_TOKENS", 128, "new tokens"),
    "samples": Limit("samples", "PLAYGROUND_PUBLIC_MAX_SAMPLES", 20, "samples per strategy"),
    "diffusion_steps": Limit("steps", "PLAYGROUND_PUBLIC_MAX_STEPS", 50, "denoising steps"),
    "image_side": Limit("image size", "PLAYGROUND_PUBLIC_MAX_SIDE", 512, "pixels per side"),
    "filmstrip_rows": Limit("values", "PLAYGROUND_PUBLIC_MAX_FILMSTRIP", 4, "filmstrip rows"),
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def enabled() -> bool:
    """PLAYGROUND_PUBLIC ("1"/"0") if set, else whether this runs on Hugging Face Spaces (SPACE_ID)."""
    value = os.environ.get("PLAYGROUND_PUBLIC", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value:
        raise ValueError(f"PLAYGROUND_PUBLIC={value!r} is not understood: use 1 (public mode) or 0 (off).")
    return bool(os.environ.get("SPACE_ID"))


def on_spaces() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def allowed_models() -> tuple[str, ...]:
    """Every model name a public server loads: embedded names and their Hub ids, then the Hub allowlist."""
    from playground.catalog import EMBEDDED

    embedded = [*EMBEDDED, *(spec.hub_id for spec in EMBEDDED.values()), *_embedded_pipelines()]
    extra = os.environ.get("PLAYGROUND_ALLOWED_MODELS")
    hub = DEFAULT_HUB_MODELS if extra is None else tuple(n.strip() for n in extra.split(",") if n.strip())
    return tuple(dict.fromkeys([*embedded, *hub]))


def _embedded_pipelines() -> list[str]:
    from playground.diffusion import EMBEDDED_PIPELINES

    return list(EMBEDDED_PIPELINES)


def looks_like_path(name: str) -> bool:
    """A local file or folder rather than a short name or an owner/name Hub id."""
    if name.startswith(("/", ".", "~")) or "\\" in name or ":" in name:
        return True
    return Path(name).expanduser().exists()


def check_model(name: str) -> None:
    """In public mode, refuse a model that is a local path or not on the allowlist."""
    if not enabled() or not isinstance(name, str):
        return
    name = name.strip()
    allowed = allowed_models()
    if looks_like_path(name) and name not in _embedded_names():
        raise ValueError(
            f"model {name!r} is a local path; this public server (PLAYGROUND_PUBLIC=1) loads only models on its "
            f"allowlist: {', '.join(allowed)}. Run the Playground on your own machine to load local folders.")
    if name not in allowed:
        raise ValueError(
            f"model {name!r} is not on this public server's allowlist: choose one of {', '.join(allowed)} "
            "(the server's PLAYGROUND_ALLOWED_MODELS sets the list), or run the Playground on your own machine.")


def _embedded_names() -> set[str]:
    from playground.catalog import EMBEDDED

    return {*EMBEDDED, *_embedded_pipelines()}


def limit(key: str) -> int | None:
    """The public-mode bound for `key` (a LIMITS key), None when public mode is off."""
    if not enabled():
        return None
    spec = LIMITS[key]
    return _positive_int(spec.env, spec.unit, spec.default)


def _positive_int(env: str, unit: str, default: int) -> int:
    """The whole number >= 1 in environment variable `env`, or `default` when it is unset."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{env}={raw!r} must be a whole number of {unit}.") from None
    if value < 1:
        raise ValueError(f"{env}={value} must be at least 1.")
    return value


def check(key: str, value: int, argument: str | None = None) -> None:
    """Raise ValueError when `value` is above the public-mode limit `key` (nothing when public mode is off)."""
    bound = limit(key)
    if bound is None or value <= bound:
        return
    spec = LIMITS[key]
    raise ValueError(
        f"{argument or spec.argument} = {value:,} is above this public server's limit of {bound:,} {spec.unit} "
        f"({spec.env}); lower it, or run the Playground on your own machine for larger runs.")


def check_text(text: object, argument: str = "text") -> None:
    """The public-mode limit on characters of any text input (prompts, sentences, text to tokenize)."""
    if isinstance(text, str):
        check("text_chars", len(text), f"{argument} length")


def weights_kwargs() -> dict:
    """Extra from_pretrained arguments for model weights: safetensors only in public mode."""
    return {"use_safetensors": True} if enabled() else {}


def tab_concurrency() -> int:
    """How many heavy events of one tab run at once: PLAYGROUND_TAB_CONCURRENCY, else 2 public, 4 local."""
    return _positive_int("PLAYGROUND_TAB_CONCURRENCY", "events", 2 if enabled() else 4)


def queue_size() -> int | None:
    """The most requests waiting in the queue (PLAYGROUND_QUEUE_SIZE): 64 in public mode, unbounded locally."""
    raw = os.environ.get("PLAYGROUND_QUEUE_SIZE", "").strip()
    if not raw:
        return 64 if enabled() else None
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"PLAYGROUND_QUEUE_SIZE={raw!r} must be a whole number of requests.") from None


def max_upload() -> str | None:
    """The largest upload (Gradio's max_file_size): 10 MB in public mode, unbounded locally."""
    return os.environ.get("PLAYGROUND_MAX_UPLOAD", "10mb" if enabled() else "") or None
