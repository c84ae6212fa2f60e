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
    >>> embedded = {"smollm2-135m-instruct"}              # handed in: playground.registry.always_allowed()
    >>> check_model("smollm2-135m-instruct", embedded)
    >>> check_model("/home/me/model", embedded)
    Traceback (most recent call last):
    ValueError: model '/home/me/model' is a local path; this public server (PLAYGROUND_PUBLIC=1) loads only ...
    >>> check("max_new_tokens", 500)
    Traceback (most recent call last):
    ValueError: max_new_tokens = 500 is above this public server's limit of 128 new tokens (PLAYGROUND_PUBLIC_MAX_NEW_TOKENS)...
    >>> weights_kwargs()
    {'use_safetensors': True}
    >>> del os.environ["PLAYGROUND_PUBLIC"]

It reads its switches from playground.settings and is handed the names it checks; it imports nothing else
of the Playground, and neither gradio nor torch.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from playground.settings import PUBLIC_LIMITS, current

# Small, popular, safetensors checkpoints that run on a CPU Space; the embedded models and their own Hub ids
# are allowed as well (handed in by the callers).
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


_ARGUMENTS = {"text_chars": "text", "attention_tokens": "text", "why_tokens": "prompt", "max_new_tokens": "max_new_tokens",
              "samples": "samples", "diffusion_steps": "steps", "image_side": "image size", "filmstrip_rows": "values"}
LIMITS: dict[str, Limit] = {key: Limit(_ARGUMENTS[key], env, default, unit)
                            for key, (env, default, unit) in PUBLIC_LIMITS.items()}


def enabled() -> bool:
    """PLAYGROUND_PUBLIC ("1"/"0") if set, else whether this runs on Hugging Face Spaces (SPACE_ID)."""
    return current().public


def on_spaces() -> bool:
    return current().on_spaces


def allowed_models(embedded: Collection[str]) -> tuple[str, ...]:
    """Every model name a public server loads: the `embedded` names (always), then the Hub allowlist."""
    extra = current().allowed_models
    hub = DEFAULT_HUB_MODELS if extra is None else extra
    return tuple(dict.fromkeys([*sorted(embedded), *hub]))


def looks_like_path(name: str) -> bool:
    """A local file or folder rather than a short name or an owner/name Hub id."""
    if name.startswith(("/", ".", "~")) or "\\" in name or ":" in name:
        return True
    return Path(name).expanduser().exists()


def check_model(name: str, embedded: Collection[str]) -> None:
    """In public mode, refuse a model that is a local path or neither in `embedded` nor on the allowlist."""
    if not enabled() or not isinstance(name, str):
        return
    name = name.strip()
    allowed = allowed_models(embedded)
    if looks_like_path(name) and name not in embedded:
        raise ValueError(
            f"model {name!r} is a local path; this public server (PLAYGROUND_PUBLIC=1) loads only models on its "
            f"allowlist: {', '.join(allowed)}. Run the Playground on your own machine to load local folders.")
    if name not in allowed:
        raise ValueError(
            f"model {name!r} is not on this public server's allowlist: choose one of {', '.join(allowed)} "
            "(the server's PLAYGROUND_ALLOWED_MODELS sets the list), or run the Playground on your own machine.")


def limit(key: str) -> int | None:
    """The public-mode bound for `key` (a LIMITS key), None when public mode is off."""
    return current().public_limit(key)


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
    return current().tab_concurrency


def crowd_concurrency() -> int:
    """How many requests may wait in one shared batch (PLAYGROUND_CROWD_CONCURRENCY, default 16)."""
    return current().crowd_concurrency


def queue_size() -> int | None:
    """The most requests waiting in the queue (PLAYGROUND_QUEUE_SIZE): 64 in public mode, unbounded locally."""
    return current().queue_size


def max_upload() -> str | None:
    """The largest upload (Gradio's max_file_size): 10 MB in public mode, unbounded locally."""
    return current().max_upload
