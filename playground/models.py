"""Loading tokenizers and models: once, through the shared cache, with progress.

GGUF files are dequantized once (15-60 s on a laptop CPU) and written as safetensors under the cache
folder, so every later load takes a few seconds:

    >>> tok = load_tokenizer("smollm2-135m-instruct").tokenizer
    >>> tok("Hello world")["input_ids"]
    [19556, 905]
    >>> lm = load_model("smollm2-135m-instruct")           # AutoModelForCausalLM, on pick_device()
    >>> lm.model.config.num_hidden_layers
    30

`progress(fraction, message)` is called while loading; the tabs pass Gradio's progress bar.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from playground import public
from playground.cache import CACHE
from playground.catalog import ModelSource, cache_dir, resolve
from playground.device import pick_device, pick_dtype
from playground.files import atomic_folder, file_lock
from playground.progress import Progress, no_progress
from playground.registry import ModelSpec
from playground.settings import current

# Bump a part's number when its converted layout changes (tokenizer 2: added tokens listed in the config).
CONVERTED_FORMAT = {"tokenizer": 2, "model": 1}


@dataclass(frozen=True)
class LoadedTokenizer:
    name: str
    tokenizer: Any           # a transformers fast tokenizer
    context_window: int      # tokens the owning model can attend to
    spec: ModelSpec | None


@dataclass(frozen=True)
class LoadedModel:
    name: str
    model: Any               # a transformers PreTrainedModel in eval mode
    tokenizer: Any
    device: str
    dtype: Any
    context_window: int
    spec: ModelSpec | None


def converted_dir(name: str, part: str) -> Path:
    """Cache folder of one converted part ("tokenizer" or "model") of an embedded GGUF model."""
    return cache_dir() / "models" / name / f"{part}-v{CONVERTED_FORMAT[part]}"


def load_tokenizer(name: str, progress: Progress = no_progress) -> LoadedTokenizer:
    source = resolve(name)
    return CACHE.get(("tokenizer", source.kind, source.path), lambda: (_load_tokenizer(source, progress), 50 * 2**20))


def load_model(name: str, progress: Progress = no_progress, attn_implementation: str | None = None) -> LoadedModel:
    """Load `name` on pick_device(): AutoModelForCausalLM for decoders, AutoModel for encoders.

    attn_implementation="eager" gives models that can return attention weights.
    """
    source = resolve(name)
    device = pick_device()
    key = ("model", source.kind, source.path, attn_implementation, device)
    return CACHE.get(key, lambda: _load_model(source, device, attn_implementation, progress))


def _load_tokenizer(source: ModelSource, progress: Progress) -> LoadedTokenizer:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    progress(0.0, f"Loading the {source.name} tokenizer")
    if source.kind == "gguf":
        folder = _convert_once(source, "tokenizer", progress, _write_gguf_tokenizer)
        # The generic fast class reads tokenizer.json once, in Rust; a model-specific class such as
        # GemmaTokenizer re-parses the 33 MB file in Python (3x slower). Same backend, same ids:
        # tests/test_tokenization.py checks them against AutoTokenizer on the GGUF itself.
        tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    else:
        tokenizer = _from_pretrained(AutoTokenizer, source)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"tokenizer {source.name!r} has no fast (Rust) version, which the Playground needs for offsets.")
    progress(1.0, f"Loaded the {source.name} tokenizer")
    return LoadedTokenizer(source.name, tokenizer, _context_window(source, tokenizer), source.spec)


def _load_model(source: ModelSource, device: str, attn_implementation: str | None, progress: Progress):
    tokenizer = load_tokenizer(source.name, progress).tokenizer
    if source.kind == "gguf":
        folder = _convert_once(source, "model", progress, _write_gguf_model)
        source = ModelSource(source.name, "dir", str(folder), None, source.spec)
    dtype = pick_dtype(device)
    progress(0.5, f"Loading {source.name} weights ({dtype}) on {device}")
    auto = _auto_class(source)
    kwargs = {"dtype": dtype, **public.weights_kwargs()}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = _from_pretrained(auto, source, **kwargs).to(device).eval()
    progress(1.0, f"Loaded {source.name}")
    size = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    loaded = LoadedModel(source.name, model, tokenizer, device, dtype,
                         _context_window(source, tokenizer, model.config), source.spec)
    return loaded, size


SMALL_BATCH_ROWS = 4


@contextlib.contextmanager
def small_batch_linear(device: str, rows: int | None = None) -> Iterator[None]:
    """Within this block (and only in this thread), linear layers on the CPU compute W @ x.T instead of
    x @ W.T when x has at most SMALL_BATCH_ROWS rows; elsewhere, and on a GPU, nothing changes. A loop that
    knows its batch passes `rows`: above SMALL_BATCH_ROWS the block changes nothing at all.

    Why: a decoding step multiplies a handful of rows (one per strategy or sample) by each weight matrix,
    and on the CPU torch's x @ W.T kernel for a few rows is 2-3x slower than the same product written as
    W @ x.T (measured on a 2-core AMD EPYC with torch 2.13's MKL: SmolLM2's 49152 x 576 output head takes
    24 ms for 4 rows one way, 8 ms the other). Same maths, another summation order: rounding-level
    differences (SmolLM2's logits move by up to 6e-5). For more rows it costs more than it saves: it is a
    torch function mode, so every operation of the loop passes through a Python call (SmolLM2, 24 tokens,
    best of 3: 2 rows 3.37 s with it, 3.61 s without; 8 rows 4.30-4.90 s against 3.20-3.51 s; 16 rows 5.29-
    6.18 s against 3.88-4.75 s), and a class's batch of 16 users has 17 rows. The Sampling tab's decoding
    loop and beam search run inside it; PLAYGROUND_CPU_DECODING_SPEEDUP=0 turns it off;
    benchmarks/sampling_bench.py measures it. Not a change to the model: the Attention tab, on the same
    cached model, never sees it.

        >>> import torch
        >>> layer = torch.nn.Linear(576, 49152)
        >>> x = torch.randn(4, 1, 576)
        >>> with small_batch_linear("cpu"):
        ...     y = layer(x)
        >>> torch.allclose(y, layer(x), atol=1e-4)
        True
    """
    if device != "cpu" or not current().cpu_decoding_speedup or (rows is not None and rows > SMALL_BATCH_ROWS):
        yield
        return
    with _small_batch_mode()():
        yield


@functools.lru_cache(maxsize=1)
def _small_batch_mode():
    import torch
    from torch.overrides import TorchFunctionMode

    class SmallBatchLinear(TorchFunctionMode):
        """torch.nn.functional.linear as W @ x.T for few rows; every other operation passes through."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.nn.functional.linear:
                x, weight = args[0], args[1]                               # x: (..., in), weight: (out, in)
                bias = args[2] if len(args) > 2 else kwargs.get("bias")
                rows = x.numel() // max(x.shape[-1], 1)
                if rows <= SMALL_BATCH_ROWS and x.dtype == weight.dtype and x.device.type == "cpu":
                    y = (weight @ x.reshape(rows, x.shape[-1]).T).T                # (rows, out)
                    y = y.reshape(*x.shape[:-1], weight.shape[0])
                    return y if bias is None else y + bias
            return func(*args, **kwargs)

    return SmallBatchLinear


def _auto_class(source: ModelSource):
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    if source.spec is not None:
        return AutoModelForCausalLM if source.spec.architecture == "decoder" else AutoModel
    config = _from_pretrained(AutoConfig, source)
    names = " ".join(getattr(config, "architectures", None) or [])
    return AutoModelForCausalLM if "CausalLM" in names or "LMHead" in names else AutoModel


def _from_pretrained(auto, source: ModelSource, **kwargs):
    """from_pretrained with the house rules: safetensors preferred, never remote code, clear errors."""
    try:
        return auto.from_pretrained(source.path, trust_remote_code=False, **kwargs)
    except OSError as error:
        raise ValueError(f"could not load {source.name!r}: {error}".split("\n")[0]) from error


def convert_gguf(name: str, progress: Progress = no_progress) -> None:
    """Convert an embedded GGUF model's tokenizer and weights into the cache, loading nothing onto a device
    (safe at a Space's start-up, in a background thread); nothing to do for other models."""
    source = resolve(name)
    if source.kind == "gguf":
        _convert_once(source, "tokenizer", progress, _write_gguf_tokenizer)
        _convert_once(source, "model", progress, _write_gguf_model)


_convert_locks: dict[str, threading.Lock] = {}


def _convert_once(source: ModelSource, part: str, progress: Progress, write: Callable[[ModelSource, Path], None]) -> Path:
    """Convert a GGUF part once into the cache; later calls (and other processes) reuse the folder."""
    target = converted_dir(source.name, part)
    if (target / "done.json").is_file():
        return target
    with _convert_locks.setdefault(str(target), threading.Lock()), file_lock(target.with_suffix(".lock")):
        if not (target / "done.json").is_file():
            progress(0.05, f"Converting the {source.name} GGUF {part} once into the cache (this takes a while)")
            with atomic_folder(target) as scratch:
                write(source, scratch)
                (scratch / "done.json").write_text(json.dumps({"source": source.gguf_file, "format": CONVERTED_FORMAT[part]}))
    return target


def _write_gguf_tokenizer(source: ModelSource, folder: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    tokenizer.save_pretrained(folder)
    # Without its added tokens in tokenizer_config.json, every load re-reads the whole tokenizer.json in
    # Python to find them (Gemma's 33 MB: 3.4 s instead of 1.7 s per load).
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {
        str(index): {"content": token.content, "lstrip": token.lstrip, "rstrip": token.rstrip,
                     "normalized": token.normalized, "single_word": token.single_word, "special": token.special}
        for index, token in tokenizer.backend_tokenizer.get_added_tokens_decoder().items()}
    config_file.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


def _write_gguf_model(source: ModelSource, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file, dtype=torch.float32)
    # The weights are dequantized now; keeping the GGUF marker would make the reload look for the GGUF file.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.save_pretrained(folder, safe_serialization=True)


def _context_window(source: ModelSource, tokenizer: Any, config: Any = None) -> int:
    if source.spec is not None:
        return source.spec.context_window
    for attribute in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, attribute, None) if config is not None else None
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**7:
        return limit
    return 2048
