"""What the heads do, read from one run's weights: rollout, head statistics and their names, token focus, the
overview of every head. Numpy work on the cached result: no model runs here.

    >>> previous = np.array([[[[1, 0, 0], [1, 0, 0], [0, 1, 0]]]], dtype=np.float32)  # 1 layer, 1 head, 3 tokens
    >>> head_stats(previous, causal=True).kinds           # each token looks at the one before it
    [['previous-token head']]
    >>> rollout(previous)[0]                              # half the residual stream, half the head
    array([[1. , 0. , 0. ],
           [0.5, 0.5, 0. ],
           [0. , 0.5, 0.5]], dtype=float32)
    >>> overview(np.full((2, 3, 4, 4), 0.25, dtype=np.float32), size=2).image.shape   # 2 x 3 maps of 2 x 2, gaps
    (5, 8)
"""

from __future__ import annotations

import math

import numpy as np

from playground.attention.records import AttentionResult, HeadStats, Overview, TokenFocus
from playground.attention.run import RESULTS, check_layer_head

__all__ = ["HEAD_KIND_THRESHOLDS", "rollout", "rollout_of", "stats_of", "overview_size", "row_entropy_bits",
           "head_stats", "focus", "find_token", "overview"]

# Thresholds that name a head after what it mostly does (each score is a mean share of attention).
HEAD_KIND_THRESHOLDS = {"previous": 0.5, "sink": 0.6, "self": 0.5, "next": 0.5, "broad": 0.85}



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
