"""The text of generated tokens, as they stream: each token's own piece, with characters that span several
byte-level tokens given to the token that completes them (tokenizers' DecodeStream)."""

from __future__ import annotations

from typing import Any, Sequence

from playground.sampling.records import BeamTree, StrategyResult, TokenStep
from playground.sampling.strategies import Strategy

__all__ = ["TokenPieces", "strategy_result"]


class TokenPieces:
    """Display text per generated token, built incrementally with tokenizers' DecodeStream.

    A byte-level token can end in the middle of a character (an emoji is often 2-4 tokens); such tokens get ''
    and the character goes to the token that completes it. DecodeStream keeps the context that gives
    SentencePiece tokens their leading spaces.

    >>> from playground.models import load_tokenizer
    >>> tokenizer = load_tokenizer("smollm2-135m-instruct").tokenizer
    >>> TokenPieces(tokenizer).extend(tokenizer("Hi 👋")["input_ids"]).pieces    # ' 👋': three byte tokens
    ['Hi', '', '', ' 👋']
    """

    def __init__(self, tokenizer: Any) -> None:
        from tokenizers.decoders import DecodeStream

        self.backend = tokenizer.backend_tokenizer
        self.stream = DecodeStream(skip_special_tokens=False)
        self.ids: list[int] = []
        self.pieces: list[str] = []

    def add(self, token_id: int) -> None:
        self.ids.append(int(token_id))
        self.pieces.append(self.stream.step(self.backend, int(token_id)) or "")

    def extend(self, ids: Sequence[int]) -> "TokenPieces":
        for token_id in ids:
            self.add(token_id)
        return self


def strategy_result(strategy: Strategy, ids: list[int], logprobs: list[float], entropies: list[float],
                    steps: list[TokenStep], tokenizer: Any, stops: set[int], done: bool, max_new_tokens: int,
                    beam_tree: BeamTree | None = None, pieces: Sequence[str] | None = None) -> StrategyResult:
    """One strategy's result from its tokens so far; `stops`: the end tokens; `pieces`: each token's text."""
    if ids and ids[-1] in stops:
        ended = "end token"
    elif done or len(ids) >= max_new_tokens:
        ended = "length"
    else:
        ended = "running"
    if pieces is None:
        pieces = TokenPieces(tokenizer).extend(ids).pieces
    return StrategyResult(strategy, tuple(ids), tuple(pieces), tuple(logprobs),
                          tuple(entropies), tuple(steps), tokenizer.decode(ids, skip_special_tokens=True), ended,
                          beam_tree)
