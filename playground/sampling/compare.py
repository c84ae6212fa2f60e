"""A comparison: the numbered steps, from strategies to a stream of snapshots.

    1. validate strategies, prompt and sizes (ValueError naming the argument and the fix);
    2. build the prompt (chat template for chat models) and check it fits the context window;
    3. run every sampling strategy in one batched loop, yielding a snapshot per step (tokens stream);
    4. run each beam search through `model.generate`, recording its tree (a snapshot every half second says
       how far it has got).
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Sequence

from playground import public
from playground.models import load_model
from playground.progress import Progress, no_progress
from playground.sampling.beam import beam_search_steps
from playground.sampling.loop import decode_together, rows_for
from playground.sampling.prompt import build_prompt, check_sizes, end_tokens
from playground.sampling.records import Comparison, Prompt, StrategyResult, TokenStep
from playground.sampling.strategies import MAX_NEW_TOKENS, Strategy, parse_strategies, whole_number
from playground.shared import SharedRuns
from playground.sampling.text import TokenPieces, strategy_result

__all__ = ["COMPARISONS", "stream_comparison", "compare", "check_public", "load_decoder"]

COMPARISONS = SharedRuns(max_runs=32)   # identical comparisons: one run, followed by everyone who asks


def stream_comparison(model_name: str, prompt: str, strategies: Any, max_new_tokens: int = 48, seed: int = 0,
                      chat: bool = True, progress: Progress = no_progress) -> Iterator[Comparison]:
    """Yield a Comparison snapshot after every step of the batched loop and after each beam search;
    the last one has done=True. Strategies keep their order."""
    strategies = parse_strategies(strategies)
    max_new_tokens = whole_number(max_new_tokens, "max_new_tokens")
    seed = whole_number(seed, "seed")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a non-negative whole number, got {seed}.")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}.")
    check_public(prompt, max_new_tokens)
    lm = load_decoder(model_name, progress)
    built = build_prompt(lm.tokenizer, prompt, bool(chat), lm.context_window, max_new_tokens)
    check_sizes(lm.model.config, strategies, len(built.token_ids), max_new_tokens)
    # A class asking the same thing at once shares one run (and a later asker gets it again from the cache):
    # the key names everything the result depends on.
    key = (model_name, lm.device, built.token_ids, tuple(strategies), max_new_tokens, seed)
    yield from COMPARISONS.stream(key, lambda: _steps(lm, model_name, built, strategies, max_new_tokens, seed))


def _steps(lm: Any, model_name: str, built: Prompt, strategies: Sequence[Strategy], max_new_tokens: int,
           seed: int) -> Iterator[Comparison]:
    """3-4. The snapshots of one comparison: after every step of the sampling rows, then of each beam search."""
    tokenizer = lm.tokenizer
    stops = end_tokens(lm.model, tokenizer)
    start = time.perf_counter()

    rows = rows_for(strategies, seed)
    row_of = {s: r for r, s in enumerate(s for s, strategy in enumerate(strategies) if strategy.name != "beam")}
    ids: list[list[int]] = [[] for _ in rows]
    logprobs: list[list[float]] = [[] for _ in rows]
    entropies: list[list[float]] = [[] for _ in rows]
    steps: list[list[TokenStep]] = [[] for _ in rows]
    pieces = [TokenPieces(tokenizer) for _ in rows]
    beams: dict[int, StrategyResult] = {}
    searching, searched = -1, 0      # the strategy whose beam search runs now, and its steps so far

    def snapshot(done: bool) -> Comparison:
        results = []
        for s, strategy in enumerate(strategies):
            if strategy.name == "beam":
                waiting = StrategyResult(strategy, (), (), (), (), (), "", "running" if s == searching else "waiting",
                                         searched=searched if s == searching else 0)
                results.append(beams.get(s) or waiting)
            else:
                r = row_of[s]
                results.append(strategy_result(strategy, ids[r], logprobs[r], entropies[r], steps[r], tokenizer,
                                               stops, done, max_new_tokens, pieces=pieces[r].pieces))
        return Comparison(model_name, built, seed, max_new_tokens, tuple(results), done,
                          time.perf_counter() - start)

    for batch in decode_together(lm, built.token_ids, rows, max_new_tokens):
        for r, detail in enumerate(batch.steps):
            if detail is None:
                continue
            ids[r].append(detail.token_id)
            pieces[r].add(detail.token_id)
            logprobs[r].append(detail.logprob)
            entropies[r].append(detail.entropy)
            steps[r].append(detail)
        yield snapshot(False)
    for s, strategy in enumerate(strategies):
        if strategy.name == "beam":
            searching, searched = s, 0
            yield snapshot(False)       # says which beam search is running while generate works
            for update in beam_search_steps(lm, built.token_ids, strategy.num_beams, max_new_tokens):
                if isinstance(update, StrategyResult):
                    beams[s] = update
                else:
                    searched = update
                yield snapshot(False)
    yield snapshot(True)


def check_public(prompt: Any, max_new_tokens: int, samples: int = 1) -> None:
    """A public server's limits (playground.public), before any model loads."""
    public.check_text(prompt, "prompt")
    public.check("max_new_tokens", max_new_tokens)
    public.check("samples", samples)


def load_decoder(model_name: str, progress: Progress) -> Any:
    lm = load_model(model_name, progress)
    if getattr(lm.spec, "architecture", "decoder") != "decoder" or not _can_generate(lm.model):
        raise ValueError(f"model {model_name!r} is not a causal language model; choose a decoder such as "
                         "smollm2-135m-instruct or gemma-3-270m.")
    return lm


def _can_generate(model: Any) -> bool:
    check = getattr(model, "can_generate", None)
    return bool(check()) if callable(check) else hasattr(model, "generate")


def compare(model_name: str, prompt: str, strategies: Any, max_new_tokens: int = 48, seed: int = 0,
            chat: bool = True, progress: Progress = no_progress) -> Comparison:
    """Run a whole comparison and return its final snapshot."""
    final = None
    for final in stream_comparison(model_name, prompt, strategies, max_new_tokens, seed, chat, progress):
        pass
    return final
