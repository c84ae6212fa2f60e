"""Sampling: decoding strategies side by side, one step at a time.

Generation is a loop: the model gives a distribution over the next token, a strategy picks one, repeat.
Every sampling strategy of a comparison runs in ONE batched loop with a shared prompt KV cache (one row per
strategy and sample); each row has its own transformers warpers and its own seeded torch.Generator, so a row's
tokens never depend on the rows beside it. Beam search runs through `model.generate` itself, with a recording
logits processor that rebuilds the tree of kept and pruned beams.

    >>> strategies = parse_strategies([{"name": "greedy"}, {"name": "top_k", "k": 5, "temperature": 0.8}])
    >>> run = compare("smollm2-135m-instruct", "Tell me a joke.", strategies, max_new_tokens=8, seed=0)
    >>> run.results[0].text                    # == model.generate(do_sample=False) decoded
    "What's a joke about a person who"
    >>> step = run.results[1].steps[0]
    >>> [s.name for s in step.stages]          # what happened to the distribution, in order
    ['model', 'temperature', 'top-k']
    >>> step.stages[2].kept                    # tokens left after top-k
    5

The package, along its seams: `strategies` (what a strategy is, its warpers), `records` (what comes back),
`prompt` (steps 1-2), `loop` (step 3: the batched decoding loop), `beam` (step 4) and `beam_layout` (how its
tree is drawn), `text` (token pieces as they stream), `compare` (the numbered steps of one comparison),
`many` (many samples and their statistics).
"""

from playground.sampling.beam import beam_search, beam_search_steps
from playground.sampling.compare import COMPARISONS, compare, stream_comparison
from playground.sampling.loop import Row, decode_rows, decode_together, rows_for, sample_steps
from playground.sampling.many import SampleStats, diversity, many_samples
from playground.sampling.prompt import build_prompt, check_sizes, memory_budget
from playground.sampling.records import (BeamNode, BeamTree, Comparison, Prompt, Stage, StepBatch, StrategyResult,
                                         TokenStep)
from playground.sampling.strategies import (ALIASES, MAX_BEAMS, MAX_NEW_TOKENS, MAX_SAMPLES, MAX_STRATEGIES,
                                            MAX_TEMPERATURE, PARAMETERS, STRATEGY_NAMES, TOP_CANDIDATES, Strategy,
                                            build_warpers, parse_strategies, parse_strategy)
from playground.sampling.text import TokenPieces

__all__ = [
    # strategies
    "STRATEGY_NAMES", "ALIASES", "PARAMETERS", "MAX_STRATEGIES", "MAX_NEW_TOKENS", "MAX_BEAMS", "MAX_SAMPLES",
    "MAX_TEMPERATURE", "TOP_CANDIDATES", "Strategy", "parse_strategy", "parse_strategies", "build_warpers",
    # what comes back
    "Stage", "TokenStep", "StepBatch", "Prompt", "BeamNode", "BeamTree", "StrategyResult", "Comparison",
    "SampleStats",
    # the steps
    "build_prompt", "check_sizes", "memory_budget", "Row", "rows_for", "decode_rows", "decode_together", "sample_steps",
    "beam_search", "beam_search_steps", "TokenPieces", "COMPARISONS", "stream_comparison", "compare", "diversity",
    "many_samples",
]
