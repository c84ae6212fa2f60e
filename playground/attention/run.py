"""One model run per (text, model): the model's own attention weights, cached, and the views that only slice them.

The model runs with the eager attention implementation and `output_attentions=True` (decoders also return
their hidden states, for the logit lens); the result is read-only and shared by everyone who asks for the
same text, in RESULTS (PLAYGROUND_ATTENTION_MB).

    >>> result = run_attention("The cat sat on the mat.", "smollm2-135m-instruct")
    >>> result.weights.shape                 # (n_layers, n_heads, T, T), the model's own values
    (30, 9, 7, 7)
    >>> select_weights(result, layer=0, head=-1).shape   # head -1: mean over heads
    (7, 7)
    >>> result.kv_head_of                    # grouped-query attention: 9 query heads share 3 kv heads
    [0, 0, 0, 1, 1, 1, 2, 2, 2]
    >>> to_api(result, 0, 4)["weights"][0]   # a causal row 0 sees only itself
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from playground import public
from playground.attention.records import AttentionResult
from playground.cache import ModelCache
from playground.models import LoadedModel, load_model
from playground.progress import Progress, no_progress
from playground.settings import current

__all__ = ["RESULTS", "run_attention", "encode_text", "token_texts", "kv_heads", "check_layer_head",
           "select_weights", "to_api"]

# The runs of the Attention tab, kept apart from the models: PLAYGROUND_ATTENTION_MB of weights and states.
RESULTS = ModelCache(budget_bytes=lambda: int(current().attention_mb * 2**20))


def run_attention(text: str, model: str, progress: Progress = no_progress) -> AttentionResult:
    """The model's own attention weights for `text`, computed once per (model, text) and cached."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty: type a sentence to see its attention.")
    if not isinstance(model, str) or not model.strip():
        raise ValueError("model is empty: choose a model such as all-minilm-l6-v2 or smollm2-135m-instruct.")
    public.check_text(text)
    key = (model.strip(), text)
    return RESULTS.get(key, lambda: _with_size(_compute(text, model.strip(), progress)))


def _with_size(result: AttentionResult) -> tuple[AttentionResult, int]:
    # Shared by every user who asks for this text: read-only, so that no view can change it for the others.
    result.weights.flags.writeable = False
    if result.hidden_states is not None:
        result.hidden_states.flags.writeable = False
    size = result.weights.nbytes + (result.hidden_states.nbytes if result.hidden_states is not None else 0)
    return result, size


def _compute(text: str, name: str, progress: Progress) -> AttentionResult:
    import torch

    loaded = load_model(name, progress, attn_implementation="eager")
    ids = encode_text(loaded, text)
    progress(0.8, f"Running {name} on {len(ids)} tokens")
    decoder = _is_decoder(loaded)
    with torch.inference_mode():
        inputs = torch.tensor([ids], device=loaded.device)
        outputs = loaded.model(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                               output_attentions=True, output_hidden_states=decoder)
    attentions = getattr(outputs, "attentions", None)
    if not attentions or any(a is None for a in attentions):
        raise ValueError(f"model {name!r} returned no attention weights; it may not support "
                         "output_attentions (try another model).")
    weights = _stack_to_numpy([a[0] for a in attentions])                  # (L, H, T, T)
    hidden = None
    if decoder and getattr(outputs, "hidden_states", None):
        hidden = _stack_to_numpy([h[0] for h in outputs.hidden_states])     # (L+1, T, D)
    config = loaded.model.config
    config = getattr(config, "text_config", None) or config
    n_heads = weights.shape[1]
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    progress(1.0, f"Ran {name}")
    return AttentionResult(
        model=name, text=text, architecture="decoder" if decoder else "encoder",
        token_ids=ids, tokens=token_texts(loaded.tokenizer, ids), weights=weights,
        num_kv_heads=n_kv, kv_head_of=kv_heads(n_heads, n_kv), hidden_states=hidden,
    )


def _stack_to_numpy(tensors: list[Any]) -> np.ndarray:
    """float32 numpy stack of same-shaped tensors: (n, *shape).

    Copied layer by layer into one numpy array rather than torch.stack: numpy backs large arrays with
    huge pages, which halves the page-fault cost of the 75 MB a 512-token MiniLM run stacks (37 -> 20 ms)."""
    out = np.empty((len(tensors), *tensors[0].shape), dtype=np.float32)
    for i, tensor in enumerate(tensors):
        out[i] = tensor.float().cpu().numpy()
    return out


def encode_text(loaded: LoadedModel, text: str) -> list[int]:
    ids = loaded.tokenizer(text)["input_ids"]
    if not ids:
        raise ValueError("text gives no tokens: type a sentence to see its attention.")
    most = current().attention_max_tokens
    limit = min(loaded.context_window, most)
    if len(ids) > limit:
        why = (f"the model's context window is {loaded.context_window}" if limit == loaded.context_window
               else f"the attention tab keeps every layer x head x T x T weight in memory and stops at "
                    f"{most} tokens (PLAYGROUND_ATTENTION_MAX_TOKENS)")
        raise ValueError(f"text is {len(ids)} tokens long but at most {limit} fit ({why}): shorten the text.")
    public.check("attention_tokens", len(ids), "text length")
    return list(ids)


def _is_decoder(loaded: LoadedModel) -> bool:
    if loaded.spec is not None:
        return loaded.spec.architecture == "decoder"
    return loaded.model.get_output_embeddings() is not None


def token_texts(tokenizer: Any, ids: list[int]) -> list[str]:
    """What each token reads as: its own decoded text (special tokens as themselves)."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    pieces = tokenizer.convert_ids_to_tokens(ids)
    texts = []
    for token_id, piece in zip(ids, pieces):
        if token_id in special:
            texts.append(piece)
            continue
        text = tokenizer.decode([token_id])
        if piece.startswith("##") and not text.startswith("##"):  # WordPiece continuations keep their marker
            text = "##" + text
        texts.append(text if text != "" else piece)
    return texts


def kv_heads(n_heads: int, n_kv: int) -> list[int]:
    """The key/value head each query head reads (transformers' repeat_kv: kv head k serves n_heads/n_kv
    consecutive query heads)."""
    if n_kv <= 0 or n_heads % n_kv:
        return list(range(n_heads))
    group = n_heads // n_kv
    return [h // group for h in range(n_heads)]



def check_layer_head(result: AttentionResult, layer: int, head: int) -> tuple[int, int]:
    try:
        layer, head = int(layer), int(head)
    except (TypeError, ValueError):
        raise ValueError(f"layer and head must be whole numbers, got layer={layer!r}, head={head!r}.") from None
    if not 0 <= layer < result.num_layers:
        raise ValueError(f"layer {layer} is out of range: {result.model} has layers 0 to {result.num_layers - 1}.")
    if not -1 <= head < result.num_heads:
        raise ValueError(f"head {head} is out of range: {result.model} has heads 0 to {result.num_heads - 1} "
                         "(or -1 for the mean over heads).")
    return layer, head


def select_weights(result: AttentionResult, layer: int, head: int) -> np.ndarray:
    """(T, T) weights of one head, or their mean over heads when head == -1."""
    layer, head = check_layer_head(result, layer, head)
    if head == -1:
        return result.weights[layer].mean(axis=0)
    return result.weights[layer, head]



def to_api(result: AttentionResult, layer: int, head: int) -> dict[str, Any]:
    """The JSON result of the `attention` API: the weights of one head (or the mean) as nested lists."""
    layer, head = check_layer_head(result, layer, head)
    return {
        "model": result.model,
        "architecture": result.architecture,
        "tokens": list(result.tokens),
        "token_ids": list(result.token_ids),
        "num_layers": result.num_layers,
        "num_heads": result.num_heads,
        "num_kv_heads": result.num_kv_heads,
        "kv_head_of": list(result.kv_head_of),
        "layer": layer,
        "head": head,
        "weights": select_weights(result, layer, head).astype(float).tolist(),
    }
