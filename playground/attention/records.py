"""What the Attention tab's computation hands between its layers: frozen dataclasses of numpy arrays and lists.

A model run gives an AttentionResult; every view on it (head statistics, token focus, the overview, the logit
lens, a comparison of two inputs, a BertViz window) is one of the records below.

    >>> weights = np.full((1, 2, 3, 3), 1 / 3, dtype=np.float32)      # 1 layer, 2 heads, 3 tokens
    >>> result = AttentionResult(model="toy", text="a b c", architecture="decoder", token_ids=[1, 2, 3],
    ...                          tokens=["a", " b", " c"], weights=weights, num_kv_heads=1, kv_head_of=[0, 0],
    ...                          hidden_states=None)
    >>> result.num_layers, result.num_heads, result.num_tokens, result.causal
    (1, 2, 3, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AttentionResult", "HeadStats", "LogitLens", "TokenFocus", "Comparison", "Overview", "BertvizWindow"]


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


@dataclass(frozen=True)
class BertvizWindow:
    start: int                  # first token shown
    stop: int                   # one past the last token shown
    layers: list[int]           # layers shown
