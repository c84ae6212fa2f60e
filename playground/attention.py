r"""Attention: the weights every head puts on every token, and what they say about the heads.

The model runs once per (text, model), with the eager attention implementation and
`output_attentions=True`; everything else (one head, the mean over heads, rollout, head statistics,
token focus, the overview) is numpy work on that one result, so switching layer or head is cheap.

    >>> result = run_attention("The cat sat on the mat.", "smollm2-135m-instruct")
    >>> result.weights.shape                 # (n_layers, n_heads, T, T), the model's own values
    (30, 9, 7, 7)
    >>> select_weights(result, layer=0, head=-1).shape   # head -1: mean over heads
    (7, 7)
    >>> result.kv_head_of                    # grouped-query attention: 9 query heads share 3 kv heads
    [0, 0, 0, 1, 1, 1, 2, 2, 2]
    >>> stats = head_stats(result.weights, causal=True)
    >>> stats.kinds[0][0]                    # or "previous-token head", "first-token (sink) head", ...
    'broad (averaging) head'
    >>> lens = logit_lens(result)            # decoders only: top next tokens after every layer
    >>> lens.tokens[-1][-1][0]               # the last layer, last position: the model's own prediction
    '\n'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from playground import public
from playground.cache import ModelCache
from playground.settings import current
from playground.models import LoadedModel, load_model
from playground.progress import Progress, no_progress

# The runs of the Attention tab, kept apart from the models: PLAYGROUND_ATTENTION_MB of weights and states.
RESULTS = ModelCache(budget_bytes=lambda: int(current().attention_mb * 2**20))

# Thresholds that name a head after what it mostly does (each score is a mean share of attention).
HEAD_KIND_THRESHOLDS = {"previous": 0.5, "sink": 0.6, "self": 0.5, "next": 0.5, "broad": 0.85}


@dataclass(frozen=True)
class AttentionResult:
    model: str                  # the name the user chose
    text: str                   # the input, unchanged
    architecture: str           # "decoder" (causal) or "encoder" (bidirectional)
    token_ids: list[int]        # (T,)
    tokens: list[str]           # (T,) what each token reads as, e.g. " it", "[CLS]"
    weights: np.ndarray         # (n_layers, n_heads, T, T) float32, row = query, column = key
    num_kv_heads: int           # key/value heads; < n_heads for grouped-query attention
    kv_head_of: list[int]       # (n_heads,) the kv head each query head reads
    hidden_states: np.ndarray | None  # (n_layers + 1, T, d_model) for the logit lens, decoders only

    @property
    def num_layers(self) -> int:
        return self.weights.shape[0]

    @property
    def num_heads(self) -> int:
        return self.weights.shape[1]

    @property
    def num_tokens(self) -> int:
        return self.weights.shape[2]

    @property
    def causal(self) -> bool:
        return self.architecture == "decoder"


@dataclass(frozen=True)
class HeadStats:
    entropy: np.ndarray         # (n_layers, n_heads) mean row entropy in bits
    entropy_share: np.ndarray   # (n_layers, n_heads) entropy / log2(keys a row can see): 1 = uniform
    sink: np.ndarray            # (n_layers, n_heads) mean share on the first token
    previous: np.ndarray        # (n_layers, n_heads) mean share on the token just before
    self_score: np.ndarray      # (n_layers, n_heads) mean share on the token itself
    next: np.ndarray            # (n_layers, n_heads) mean share on the token just after (0 for decoders)
    kinds: list[list[str]]      # (n_layers, n_heads) a name for what the head mostly does


@dataclass(frozen=True)
class LogitLens:
    positions: list[int]            # (P,) the input positions read
    tokens: list[list[list[str]]]   # (n_layers, P, k) top next tokens read from each layer's output
    token_ids: np.ndarray           # (n_layers, P, k)
    probs: np.ndarray               # (n_layers, P, k) their softmax probabilities


@dataclass(frozen=True)
class TokenFocus:
    index: int                  # the focused token's position
    token: str
    attends_to: np.ndarray      # (n_layers, T) row `index`: where the token looks
    attended_by: np.ndarray     # (n_layers, T) column `index`: who looks at it


@dataclass(frozen=True)
class Comparison:
    first: AttentionResult      # input A
    second: AttentionResult     # input B, same model
    index_a: int                # the focus word's position in A
    index_b: int                # and in B
    first_difference: int | None  # the first position whose token differs (None: the inputs tokenize alike)
    change: np.ndarray | None   # (n_layers, n_heads) total variation between the focus word's rows in A and B,
                                # 0 (same) to 1 (disjoint); None when the inputs have different lengths

    @property
    def blind(self) -> bool:
        """A decoder's focus token before the first difference can't see it: its rows are equal."""
        return (self.first.causal and self.first_difference is not None
                and max(self.index_a, self.index_b) < self.first_difference)

    def most_changed(self) -> tuple[int, int]:
        """(layer, head) where the focus word's attention changes most; (0, 0) when nothing can be compared."""
        if self.change is None:
            return 0, 0
        layer, head = np.unravel_index(int(np.argmax(self.change)), self.change.shape)
        return int(layer), int(head)


@dataclass(frozen=True)
class Overview:
    image: np.ndarray           # (n_layers * (S + gap), n_heads * (S + gap)) pooled maps, NaN in the gaps
    size: int                   # S: each T x T map is pooled into S x S blocks
    block: int                  # tokens per block (ceil(T / S))
    gap: int                    # empty pixels between maps


# 1. Run the model once ------------------------------------------------------------------------

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
    ids = _encode(loaded, text)
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


def _encode(loaded: LoadedModel, text: str) -> list[int]:
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


# 2. Views on the one result -------------------------------------------------------------------

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


def rollout(weights: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema, 2020): (n_layers, T, T) how much each input token flows into
    each position after layer l, through the mean attention plus the residual connection.

        A_l = residual * I + (1 - residual) * mean_heads(W_l), rows renormalised
        R_0 = A_0,  R_l = A_l @ R_{l-1}
    """
    n_layers, _, t, _ = weights.shape
    eye = np.eye(t, dtype=np.float64)
    flows = np.empty((n_layers, t, t), dtype=np.float32)
    current = eye
    for layer in range(n_layers):
        mixed = residual * eye + (1 - residual) * weights[layer].mean(axis=0, dtype=np.float64)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        current = mixed @ current
        flows[layer] = current
    return flows


def rollout_of(result: AttentionResult) -> np.ndarray:
    """rollout(result.weights), computed once per result."""
    key = ("rollout", result.model, result.text)
    return RESULTS.get(key, lambda: _sized(rollout(result.weights)))


def stats_of(result: AttentionResult) -> HeadStats:
    """head_stats(result.weights), computed once per result."""
    key = ("stats", result.model, result.text)
    return RESULTS.get(key, lambda: (head_stats(result.weights, result.causal), 64 * result.num_layers * result.num_heads))


def _sized(array: np.ndarray) -> tuple[np.ndarray, int]:
    array.flags.writeable = False   # cached and shared: read-only
    return array, array.nbytes


def overview_size(result: AttentionResult) -> int:
    """Side of each small map in the overview: smaller when there are many heads."""
    return min(result.num_tokens, 32 if result.num_layers * result.num_heads <= 150 else 16)


def row_entropy_bits(weights: np.ndarray) -> np.ndarray:
    """Entropy in bits of every attention row: (L, H, T, T) -> (L, H, T).

    torch's entr (-p ln p, 0 for p = 0) one layer at a time: numpy's where/log2 over the whole tensor made
    four temporaries as large as the weights and took 4 s for SmolLM2 at 512 tokens; this takes 0.15 s.

        >>> row_entropy_bits(np.array([[[[0.5, 0.5], [1.0, 0.0]]]], dtype=np.float32))
        array([[[1., 0.]]], dtype=float32)
    """
    import torch

    x = torch.from_numpy(weights)
    nats = torch.empty(x.shape[:-1], dtype=torch.float32)
    for layer in range(x.shape[0]):
        nats[layer] = torch.special.entr(x[layer]).sum(dim=-1)
    return (nats / math.log(2)).numpy()


def head_stats(weights: np.ndarray, causal: bool) -> HeadStats:
    """Per-head statistics averaged over query positions; see HEAD_KIND_THRESHOLDS for the names."""
    n_layers, n_heads, t, _ = weights.shape
    rows = np.arange(t)
    # A causal row i sees i + 1 keys; row 0 sees only itself, so it says nothing about the head.
    first = 1 if causal and t > 1 else 0
    visible = (rows + 1) if causal else np.full(t, t)
    entropy_rows = row_entropy_bits(weights)                             # (L, H, T)
    max_entropy = np.log2(np.maximum(visible, 2))                        # (T,)
    entropy = entropy_rows[..., first:].mean(axis=-1)
    entropy_share = (entropy_rows / max_entropy)[..., first:].mean(axis=-1)
    sink = weights[..., first:, 0].mean(axis=-1)
    previous = weights[..., rows[1:], rows[1:] - 1].mean(axis=-1) if t > 1 else np.zeros((n_layers, n_heads))
    self_score = weights[..., rows[first:], rows[first:]].mean(axis=-1)
    if causal or t < 2:
        following = np.zeros((n_layers, n_heads))
    else:
        following = weights[..., rows[:-1], rows[:-1] + 1].mean(axis=-1)
    kinds = [[_kind(entropy_share[l, h], sink[l, h], previous[l, h], self_score[l, h], following[l, h])
              for h in range(n_heads)] for l in range(n_layers)]
    return HeadStats(entropy.astype(np.float32), entropy_share.astype(np.float32), sink.astype(np.float32),
                     previous.astype(np.float32), self_score.astype(np.float32), following.astype(np.float32), kinds)


def _kind(entropy_share: float, sink: float, previous: float, self_score: float, following: float) -> str:
    limits = HEAD_KIND_THRESHOLDS
    scored = [(previous / limits["previous"], "previous-token head"),
              (sink / limits["sink"], "first-token (sink) head"),
              (self_score / limits["self"], "self head"),
              (following / limits["next"], "next-token head")]
    best, name = max(scored)
    if best >= 1:
        return name
    if entropy_share >= limits["broad"]:
        return "broad (averaging) head"
    return "mixed head"


def focus(result: AttentionResult, index: int, head: int = -1) -> TokenFocus:
    """Where token `index` attends and what attends to it, in every layer (head -1: mean over heads)."""
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise ValueError(f"token position must be a whole number, got {index!r}.") from None
    if not 0 <= index < result.num_tokens:
        raise ValueError(f"token position {index} is out of range: the text has positions 0 to "
                         f"{result.num_tokens - 1}.")
    check_layer_head(result, 0, head)
    per_layer = result.weights.mean(axis=1) if head == -1 else result.weights[:, head]   # (L, T, T)
    return TokenFocus(index, result.tokens[index], per_layer[:, index, :].copy(), per_layer[:, :, index].copy())


def find_token(result: AttentionResult, word: str) -> int:
    """Position of the first token that reads as `word` (ignoring case and surrounding spaces)."""
    wanted = (word or "").strip().lower()
    if not wanted:
        raise ValueError("focus word is empty: type a word of the text, such as 'it'.")
    for i, token in enumerate(result.tokens):
        if token.strip().lower().removeprefix("##") == wanted:
            return i
    raise ValueError(f"{word!r} is not one token of the text; pick a word that appears in it as a whole token.")


def overview(weights: np.ndarray, size: int, gap: int = 1) -> Overview:
    """All heads as small maps on one canvas: each T x T map is cut into S x S blocks (S = min(size, T));
    a block's value is the attention its queries give its keys (mean over the block's rows, sum over
    its columns, so rows still sum to 1)."""
    n_layers, n_heads, t, _ = weights.shape
    s = max(1, min(size, t))
    block = math.ceil(t / s)
    s = math.ceil(t / block)
    padded = np.zeros((n_layers, n_heads, s * block, s * block), dtype=np.float32)
    padded[..., :t, :t] = weights
    pooled = padded.reshape(n_layers, n_heads, s, block, s, block).sum(axis=(3, 5))
    counts = np.minimum(block, t - np.arange(s) * block).astype(np.float32)    # rows in each block
    pooled /= counts[None, None, :, None]
    cell = s + gap
    image = np.full((n_layers * cell - gap, n_heads * cell - gap), np.nan, dtype=np.float32)
    for layer in range(n_layers):
        for head in range(n_heads):
            image[layer * cell:layer * cell + s, head * cell:head * cell + s] = pooled[layer, head]
    return Overview(image, s, block, gap)


def compare(text_a: str, text_b: str, model: str, word: str, progress: Progress = no_progress) -> Comparison:
    """Two inputs on the same model, the position of `word` in each, and how much that word's attention
    changes in every layer and head: the total variation 0.5 * sum |row_A - row_B| (inputs of one length).

        >>> pair = compare("The animal was too tired.", "The animal was too wide.", "all-minilm-l6-v2", "was")
        >>> pair.first_difference, pair.change.shape          # [CLS] the animal was too tired . [SEP]
        (5, (6, 12))
    """
    first = run_attention(text_a, model, progress)
    second = run_attention(text_b, model, progress)
    index_a, index_b = find_token(first, word), find_token(second, word)
    differs = [p for p, (a, b) in enumerate(zip(first.token_ids, second.token_ids)) if a != b]
    if first.num_tokens != second.num_tokens:
        differs.append(min(first.num_tokens, second.num_tokens))
    change = None
    if first.num_tokens == second.num_tokens and index_a == index_b:
        rows = first.weights[:, :, index_a, :] - second.weights[:, :, index_b, :]   # (L, H, T)
        change = 0.5 * np.abs(rows).sum(axis=-1)
    return Comparison(first, second, index_a, index_b, differs[0] if differs else None, change)


# 3. The logit lens (decoders) -----------------------------------------------------------------

def logit_lens(result: AttentionResult, top_k: int = 3, start: int = 0, stop: int | None = None,
               progress: Progress = no_progress) -> LogitLens:
    """Top next-token predictions after every layer, for positions start..stop-1 (all by default):
    each layer's output read through the model's final norm and output head (nostalgebraist, 2020).
    Cached per result and window; a window keeps long inputs on big vocabularies quick."""
    if not result.causal or result.hidden_states is None:
        raise ValueError(f"{result.model} is an encoder: the logit lens reads next-token predictions, "
                         "which only decoders make; choose smollm2-135m-instruct or gemma-3-270m.")
    stop = result.num_tokens if stop is None else min(int(stop), result.num_tokens)
    start = int(start)
    if not 0 <= start < stop:
        raise ValueError(f"logit lens positions {start} to {stop - 1} are out of range: the text has positions "
                         f"0 to {result.num_tokens - 1}.")
    key = ("lens", result.model, result.text, int(top_k), start, stop)
    return RESULTS.get(key, lambda: _lens_with_size(_compute_lens(result, int(top_k), start, stop, progress)))


def _lens_with_size(lens: LogitLens) -> tuple[LogitLens, int]:
    return lens, lens.token_ids.nbytes + lens.probs.nbytes + 64 * lens.token_ids.size


def _compute_lens(result: AttentionResult, top_k: int, start: int, stop: int, progress: Progress) -> LogitLens:
    import torch

    loaded = load_model(result.model, progress, attn_implementation="eager")
    model = loaded.model
    norm = _final_norm(model)
    head = model.get_output_embeddings()
    cap = getattr(getattr(model.config, "text_config", None) or model.config, "final_logit_softcapping", None)
    n_layers = result.num_layers
    ids = np.zeros((n_layers, stop - start, top_k), dtype=np.int64)
    probs = np.zeros((n_layers, stop - start, top_k), dtype=np.float32)
    with torch.inference_mode():
        for layer in range(n_layers):
            progress(layer / n_layers, f"Logit lens: layer {layer + 1} of {n_layers}")
            hidden = torch.from_numpy(result.hidden_states[layer + 1, start:stop]).to(loaded.device, loaded.dtype)
            # transformers hands back the last hidden state already through the final norm.
            if layer < n_layers - 1:
                hidden = norm(hidden)
            logits = head(hidden).float()                                   # (T, vocab)
            if cap:
                logits = torch.tanh(logits / cap) * cap
            top = torch.softmax(logits, dim=-1).topk(top_k, dim=-1)
            ids[layer] = top.indices.cpu().numpy()
            probs[layer] = top.values.cpu().numpy()
    texts = [[token_texts(loaded.tokenizer, list(map(int, row))) for row in layer_ids] for layer_ids in ids]
    progress(1.0, "Logit lens done")
    return LogitLens(list(range(start, stop)), texts, ids, probs)


def _final_norm(model: Any):
    base = getattr(model, "model", None) or getattr(model, "transformer", None) or model.base_model
    for name in ("norm", "final_layernorm", "ln_f", "final_layer_norm"):
        module = getattr(base, name, None)
        if module is not None:
            return module
    raise ValueError(f"can't find the final norm of {type(model).__name__}, which the logit lens needs.")


# 4. The API result ----------------------------------------------------------------------------

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


# 5. BertViz -----------------------------------------------------------------------------------

BERTVIZ_MAX_TOKENS = 64
BERTVIZ_MAX_WEIGHTS = 300_000   # numbers in one BertViz page (about 2.5 MB of HTML)
_CDN = {
    "require": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js",
    "d3": "https://cdnjs.cloudflare.com/ajax/libs/d3/5.7.0/d3.min",
    "jquery": "https://cdnjs.cloudflare.com/ajax/libs/jquery/2.0.0/jquery.min",
}


@dataclass(frozen=True)
class BertvizWindow:
    start: int                  # first token shown
    stop: int                   # one past the last token shown
    layers: list[int]           # layers shown


def bertviz_window(result: AttentionResult, start: int, max_tokens: int | None = None) -> BertvizWindow:
    """BertViz's HTML carries every weight it shows (layers x heads x T x T numbers), so long inputs
    are cut to a window of at most `max_tokens` tokens (by default as many as keep the page under
    BERTVIZ_MAX_WEIGHTS numbers, and at most BERTVIZ_MAX_TOKENS)."""
    if max_tokens is None:
        fit = int(math.sqrt(BERTVIZ_MAX_WEIGHTS / (result.num_layers * result.num_heads)))
        max_tokens = max(8, min(BERTVIZ_MAX_TOKENS, fit))
    try:
        start = int(start)
    except (TypeError, ValueError):
        raise ValueError(f"BertViz start position must be a whole number, got {start!r}.") from None
    if not 0 <= start < result.num_tokens:
        raise ValueError(f"BertViz start position {start} is out of range: use 0 to {result.num_tokens - 1}.")
    return BertvizWindow(start, min(result.num_tokens, start + max_tokens), list(range(result.num_layers)))


def bertviz_document(result: AttentionResult, view: str, window: BertvizWindow, vendor_url: str,
                     inline_from: Path | None = None) -> str:
    """A standalone HTML page with BertViz's head view or model view of `window`, loading require.js,
    d3 and jQuery from `vendor_url` (a folder URL ending in "/") and from cdnjs only if that fails.
    With `inline_from` (the vendor folder) the three scripts are written into the page instead, so a
    downloaded file works offline on its own."""
    import torch
    from bertviz import head_view, model_view

    if view not in ("head", "model"):
        raise ValueError(f"BertViz view must be 'head' or 'model', got {view!r}.")
    part = slice(window.start, window.stop)
    # Four decimals keep the page about three times smaller than float32's full repr.
    attention = [torch.from_numpy(np.round(result.weights[layer][None, :, part, part].astype(np.float64), 4))
                 for layer in window.layers]
    tokens = list(result.tokens[part])
    render = head_view if view == "head" else model_view
    body = render(attention, tokens, html_action="return", include_layers=list(range(len(attention)))).data
    return _offline_page(body, vendor_url, inline_from)


def _inline_scripts(folder: Path) -> str:
    """d3 and jQuery as globals, then require.js, then the two named modules BertViz asks for."""
    def script(name: str) -> str:
        return "<script>" + (folder / name).read_text(encoding="utf-8").replace("</script", "<\\/script") + "</script>"
    return (script("d3.min.js") + script("jquery.min.js") + script("require.js") +
            "<script>define('d3', [], function () { return window.d3; });"
            "define('jquery', [], function () { return window.jQuery; });</script>")


def _offline_page(body: str, vendor_url: str, inline_from: Path | None = None) -> str:
    body = body.replace(f'<script src="{_CDN["require"]}"></script>', "", 1)
    for name in ("d3", "jquery"):
        local = f"{vendor_url}{name}.min"
        body = body.replace(f"'{_CDN[name]}'", f"['{local}', '{_CDN[name]}']", 1)
    opening = '<script type="text/javascript">'
    head, _, script = body.partition(opening)
    # Token text sits in a JSON literal inside <script>: "</" would end the script early.
    script = script[:script.rindex("</script>")].replace("</", "<\\/").replace("<!--", "<\\!--")
    if inline_from is not None and all((inline_from / n).is_file() for n in ("d3.min.js", "jquery.min.js", "require.js")):
        loader = _inline_scripts(inline_from)
    else:
        loader = (f"<script src='{vendor_url}require.js'></script>"
                  f"<script>window.require || document.write('<script src=\"{_CDN['require']}\"><\\/script>')</script>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"{loader}"
        "</head><body style='background:#fff'>"
        f"{head}{opening}{script}</script></body></html>"
    )
