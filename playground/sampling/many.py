"""Many samples per strategy in one batched loop, and how diverse and likely they are."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from playground.progress import Progress, no_progress
from playground.sampling.beam import beam_search
from playground.sampling.compare import check_public, load_decoder
from playground.sampling.loop import decode_together, rows_for
from playground.sampling.prompt import build_prompt, check_sizes, end_tokens
from playground.sampling.strategies import Strategy, parse_strategies, whole_number

__all__ = ["SampleStats", "diversity", "many_samples"]


@dataclass(frozen=True)
class SampleStats:
    strategy: Strategy
    samples: tuple[tuple[int, ...], ...]   # (N,) token ids per sample, new tokens only
    texts: tuple[str, ...]                 # (N,)
    distinct_1: float                      # unique tokens / all tokens, pooled over the samples
    distinct_2: float                      # unique token pairs / all token pairs, pooled
    repetition: float                      # share of token pairs that repeat an earlier pair of the same sample
    mean_logprob: float                    # mean log p_model per token, pooled
    perplexity: float                      # exp(-mean_logprob)
    first_tokens: tuple[tuple[str, int], ...]  # (first token text, count), most common first
    note: str = ""


def diversity(samples: Sequence[Sequence[int]]) -> tuple[float, float, float]:
    """(distinct-1, distinct-2, repetition) of token-id sequences.

    >>> diversity([[1, 2, 1, 2], [1, 2, 3]])
    (0.42857142857142855, 0.6, 0.2)
    """
    unigrams = [t for sample in samples for t in sample]
    bigrams = [pair for sample in samples for pair in zip(sample, sample[1:])]
    distinct_1 = len(set(unigrams)) / len(unigrams) if unigrams else 0.0
    distinct_2 = len(set(bigrams)) / len(bigrams) if bigrams else 0.0
    repeated = 0
    for sample in samples:
        seen: set[tuple[int, int]] = set()
        for pair in zip(sample, sample[1:]):
            repeated += pair in seen
            seen.add(pair)
    repetition = repeated / len(bigrams) if bigrams else 0.0
    return distinct_1, distinct_2, repetition


def many_samples(model_name: str, prompt: str, strategies: Any, n: int = 20, max_new_tokens: int = 24,
                 seed: int = 0, chat: bool = True, progress: Progress = no_progress) -> list[SampleStats]:
    """Draw n samples per sampling strategy in one batched loop (greedy once, beam once: they are
    deterministic) and measure their diversity and likelihood."""
    strategies = parse_strategies(strategies)
    n = whole_number(n, "samples")
    max_new_tokens = whole_number(max_new_tokens, "max_new_tokens")
    seed = whole_number(seed, "seed")
    check_public(prompt, max_new_tokens, n)
    lm = load_decoder(model_name, progress)
    tokenizer = lm.tokenizer
    built = build_prompt(tokenizer, prompt, bool(chat), lm.context_window, max_new_tokens)
    check_sizes(lm.model.config, strategies, len(built.token_ids), max_new_tokens, samples=n)
    stops = end_tokens(lm.model, tokenizer)
    rows = rows_for(strategies, seed, n)
    ids: list[list[int]] = [[] for _ in rows]
    logprobs: list[list[float]] = [[] for _ in rows]
    for batch in decode_together(lm, built.token_ids, rows, max_new_tokens, record=False):
        for r, token in enumerate(batch.token_ids.tolist()):
            if token >= 0:
                ids[r].append(token)
                logprobs[r].append(float(batch.logprobs[r]))
        progress((batch.step + 1) / max_new_tokens, f"{len(rows)} samples: token {batch.step + 1}")
    rows_of, r = {}, 0
    for s, strategy in enumerate(strategies):            # rows_for's order: strategy-major
        count = 0 if strategy.name == "beam" else (n if strategy.samples else 1)
        rows_of[s], r = list(range(r, r + count)), r + count
    stats = []
    for s, strategy in enumerate(strategies):
        if strategy.name == "beam":
            beam = beam_search(lm, built.token_ids, strategy.num_beams, max_new_tokens)
            members = [(list(beam.token_ids), list(beam.token_logprobs))]
        else:
            members = [(ids[r], logprobs[r]) for r in rows_of[s]]
        stats.append(_sample_stats(strategy, members, tokenizer, stops))
    return stats


def _sample_stats(strategy: Strategy, members, tokenizer, stops: set[int]) -> SampleStats:
    samples = [[t for t in sample if t not in stops] for sample, _ in members]
    pooled = [lp for _, lps in members for lp in lps]
    mean_lp = float(np.mean(pooled)) if pooled else float("nan")
    first = Counter(tokenizer.decode([sample[0]]) for sample, _ in members if sample)
    d1, d2, rep = diversity(samples)
    note = "" if strategy.samples else "deterministic: one sequence, every draw would be the same"
    return SampleStats(strategy, tuple(tuple(s) for s, _ in members),
                       tuple(tokenizer.decode(s, skip_special_tokens=True) for s, _ in members), d1, d2, rep,
                       mean_lp, math.exp(-mean_lp) if pooled else float("nan"), tuple(first.most_common()), note)
