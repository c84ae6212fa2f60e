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

The package, along its seams: `records` (what is handed between the layers: frozen dataclasses), `run` (the
one model run, its cache RESULTS, and the views that only slice it: one head, the mean, the API result),
`heads` (rollout, head statistics, token focus, the overview), `compare` (two inputs), `lens` (the logit
lens) and `bertviz` (BertViz pages).
"""

from playground.attention.bertviz import BERTVIZ_MAX_TOKENS, BERTVIZ_MAX_WEIGHTS, bertviz_document, bertviz_window
from playground.attention.compare import compare
from playground.attention.heads import (HEAD_KIND_THRESHOLDS, find_token, focus, head_stats, overview, overview_size,
                                        rollout, rollout_of, row_entropy_bits, stats_of)
from playground.attention.lens import logit_lens
from playground.attention.records import (AttentionResult, BertvizWindow, Comparison, HeadStats, LogitLens, Overview,
                                          TokenFocus)
from playground.attention.run import (RESULTS, check_layer_head, encode_text, kv_heads, run_attention, select_weights,
                                      to_api, token_texts)

__all__ = [
    # what comes back
    "AttentionResult", "HeadStats", "LogitLens", "TokenFocus", "Comparison", "Overview", "BertvizWindow",
    # one run, and its slices
    "RESULTS", "run_attention", "encode_text", "token_texts", "kv_heads", "check_layer_head", "select_weights",
    "to_api",
    # the heads
    "HEAD_KIND_THRESHOLDS", "rollout", "rollout_of", "stats_of", "overview_size", "row_entropy_bits", "head_stats",
    "focus", "find_token", "overview",
    # two inputs, the logit lens, BertViz
    "compare", "logit_lens", "BERTVIZ_MAX_TOKENS", "BERTVIZ_MAX_WEIGHTS", "bertviz_window", "bertviz_document",
]
