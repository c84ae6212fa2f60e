"""Two inputs on the same model: how one word's attention changes between them, in every layer and head.

    >>> pair = compare("The animal was too tired.", "The animal was too wide.", "smollm2-135m-instruct", "was")
    >>> pair.first_difference, pair.index_a                # a decoder's "was" comes before "tired"/"wide"...
    (4, 2)
    >>> pair.blind, float(pair.change.max())               # ...so it can't see them: its rows are equal
    (True, 0.0)
"""

from __future__ import annotations

import numpy as np

from playground.attention.heads import find_token
from playground.attention.records import Comparison
from playground.attention.run import run_attention
from playground.progress import Progress, no_progress

__all__ = ["compare"]


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
