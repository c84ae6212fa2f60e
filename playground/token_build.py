"""Replay how a tokenizer builds the tokens of one word, step by step, from its own data.

- BPE (byte-level or SentencePiece-style): start from single symbols and apply the merge with the
  best rank in the tokenizer's real merge list, one merge per step.
- WordPiece: greedy longest match first against the vocabulary, "##" marking a continuation.
- Unigram (SentencePiece): the segmentation with the best total score, found by Viterbi.

    >>> build = replay("lower", "smollm2-135m-instruct")
    >>> [step.symbols for step in build.steps][:3]
    [['l', 'o', 'w', 'e', 'r'], ['l', 'o', 'w', 'er'], ['l', 'ow', 'er']]
    >>> build.final == build.tokenizer_pieces                # checked against the tokenizer itself
    True
    >>> replay(" lower", "smollm2-135m-instruct").steps[-1].symbol_bytes    # mid-sentence: the space is part of it
    (b' lower',)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from playground.models import load_tokenizer
from playground.progress import Progress, no_progress
from playground.tokenization import piece_bytes

MAX_WORD_CHARS = 64


@dataclass(frozen=True)
class BuildStep:
    symbols: list[str]   # the word's symbols after this step, as vocabulary pieces ('Ġ' for a space in GPT-2's BPE)
    action: str          # what happened, in words
    merged: int | None   # index in `symbols` of the piece this step produced, if any
    symbol_bytes: tuple[bytes, ...] = ()  # the bytes each symbol stands for (pieces as the text has them)


@dataclass(frozen=True)
class Build:
    word: str
    algorithm: str               # "BPE", "WordPiece" or "Unigram"
    steps: list[BuildStep]
    final: list[str]             # the pieces the replay ends with
    tokenizer_pieces: list[str]  # what the tokenizer itself gives for the word
    notes: list[str]

    @property
    def agrees(self) -> bool:
        return self.final == self.tokenizer_pieces


def replay(word: str, name: str, progress: Progress = no_progress) -> Build:
    if not isinstance(word, str) or not word.strip():
        raise ValueError("word is empty: type one word (or click a token) to see how it was built.")
    if len(word) > MAX_WORD_CHARS:
        raise ValueError(f"word is {len(word)} characters; replay one word of at most {MAX_WORD_CHARS}.")
    tokenizer = load_tokenizer(name, progress).tokenizer
    progress(0.6, "Reading the tokenizer's vocabulary and merges")
    model = tokenizer_model(tokenizer)
    backend = tokenizer.backend_tokenizer
    normalized = backend.normalizer.normalize_str(word) if backend.normalizer else word
    words = [piece for piece, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)] if backend.pre_tokenizer else [normalized]
    target = [p for p in tokenizer.convert_ids_to_tokens(tokenizer(word, add_special_tokens=False)["input_ids"])]
    steps: list[BuildStep] = []
    notes: list[str] = []
    if normalized != word:
        notes.append(f"The normalizer first turns {word!r} into {normalized!r}.")
    if len(words) > 1:
        notes.append(f"The pre-tokenizer splits it into {len(words)} words first: " + ", ".join(map(repr, words)) + ".")
    kind = model.kind
    final: list[str] = []
    for piece in words:
        if kind == "BPE":
            part = _replay_bpe(piece, model, steps)
        elif kind == "WordPiece":
            part = _replay_wordpiece(piece, model, steps)
        elif kind == "Unigram":
            part = _replay_unigram(piece, model, steps)
        else:
            raise ValueError(f"{name} uses a {kind} model, which has no step-by-step replay; pick a BPE, "
                             "WordPiece or SentencePiece tokenizer.")
        final.extend(part)
    if final != target:
        notes.append("The replay differs from the tokenizer's own output: " + " ".join(target) +
                     " (the tokenizer applies rules the replay leaves out, such as added tokens).")
    if kind != "WordPiece":  # WordPiece pieces are text already ("##" marks a continuation)
        steps = [replace(step, symbol_bytes=tuple(piece_bytes(tokenizer, s) for s in step.symbols)) for step in steps]
    return Build(word, kind, steps, final, target, notes)


@dataclass(frozen=True)
class TokenizerModel:
    """What the replays read from a tokenizer's model (its JSON state, as the tokenizers library saves it)."""
    kind: str                                   # "BPE", "WordPiece", "Unigram" (or another: no replay)
    vocab: dict[str, int]                       # piece -> id (BPE, WordPiece)
    ranks: dict[tuple[str, str], int]           # BPE: merge pair -> rank (0 applies first)
    scores: dict[str, float]                    # Unigram: piece -> log-probability
    unk: str | None                             # the unknown token, if any
    byte_fallback: bool = False                 # BPE / Unigram: unknown characters become <0xNN> byte pieces
    ignore_merges: bool = False                 # BPE: a word in the vocabulary is one token, merges skipped
    prefix: str = "##"                          # WordPiece: marks a piece that continues a word
    max_chars: int = 100                        # WordPiece: longer words are unknown


@lru_cache(maxsize=16)
def tokenizer_model(tokenizer: Any) -> TokenizerModel:
    """The tokenizer model's vocabulary, merges (as ranks) and scores, read once per tokenizer."""
    state = json.loads(tokenizer.backend_tokenizer.model.__getstate__())
    kind = state["type"]
    if kind == "BPE":
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in state["merges"]]
        return TokenizerModel(kind, state["vocab"], {pair: rank for rank, pair in enumerate(merges)}, {},
                              state.get("unk_token"), byte_fallback=bool(state.get("byte_fallback")),
                              ignore_merges=bool(state.get("ignore_merges")))
    if kind == "WordPiece":
        return TokenizerModel(kind, state["vocab"], {}, {}, state.get("unk_token", "[UNK]"),
                              prefix=state.get("continuing_subword_prefix", "##"),
                              max_chars=state.get("max_input_chars_per_word", 100))
    if kind == "Unigram":
        unk = state["vocab"][state["unk_id"]][0] if state.get("unk_id") is not None else None
        return TokenizerModel(kind, {}, {}, {piece: score for piece, score in state["vocab"]}, unk,
                              byte_fallback=bool(state.get("byte_fallback")))
    return TokenizerModel(kind, {}, {}, {}, None)


def _replay_bpe(word: str, model: TokenizerModel, steps: list[BuildStep]) -> list[str]:
    vocab, ranks = model.vocab, model.ranks
    if model.ignore_merges and word in vocab:
        steps.append(BuildStep([word], f"{word!r} is in the vocabulary as a whole: no merges needed.", 0))
        return [word]
    symbols = list(word)
    steps.append(BuildStep(list(symbols), f"Start from the {len(symbols)} single symbols of {word!r}.", None))
    while len(symbols) > 1:
        best = min(range(len(symbols) - 1), key=lambda i: ranks.get((symbols[i], symbols[i + 1]), math.inf))
        rank = ranks.get((symbols[best], symbols[best + 1]))
        if rank is None:
            break
        left, right = symbols[best], symbols[best + 1]
        symbols[best:best + 2] = [left + right]
        steps.append(BuildStep(list(symbols), f"Merge {left!r} + {right!r} -> {left + right!r} "
                                              f"(merge #{rank:,} of {len(ranks):,}).", best))
    if model.byte_fallback:
        expanded = []
        for symbol in symbols:
            if symbol in vocab:
                expanded.append(symbol)
            else:
                pieces = [f"<0x{b:02X}>" for b in symbol.encode()]
                steps.append(BuildStep(expanded + pieces, f"{symbol!r} is not in the vocabulary: fall back to its "
                                                          f"{len(pieces)} UTF-8 bytes {' '.join(pieces)}.", None))
                expanded.extend(pieces)
        symbols = expanded
    steps.append(BuildStep(list(symbols), f"No merge in the list applies any more: {len(symbols)} token(s).", None))
    return symbols


def _replay_wordpiece(word: str, model: TokenizerModel, steps: list[BuildStep]) -> list[str]:
    vocab, prefix = model.vocab, model.prefix
    if len(word) > model.max_chars:
        steps.append(BuildStep([model.unk], f"{word!r} is longer than {model.max_chars} characters: unknown.", 0))
        return [model.unk]
    pieces: list[str] = []
    start = 0
    while start < len(word):
        tried = []
        for end in range(len(word), start, -1):
            candidate = (prefix if start else "") + word[start:end]
            if candidate in vocab:
                pieces.append(candidate)
                shown = ", ".join(repr(t) for t in tried[:4]) + (" ..." if len(tried) > 4 else "")
                rejected = f" after {len(tried)} longer candidate(s) not in the vocabulary ({shown})" if tried else ""
                steps.append(BuildStep(pieces + [word[end:]] if end < len(word) else list(pieces),
                                       f"Longest match from character {start}: {candidate!r}{rejected}.",
                                       len(pieces) - 1))
                start = end
                break
            tried.append(candidate)
        else:
            steps.append(BuildStep([model.unk], f"No vocabulary entry starts {word[start:]!r}: the whole word "
                                                   f"becomes {model.unk}.", 0))
            return [model.unk]
    return pieces


def _replay_unigram(word: str, model: TokenizerModel, steps: list[BuildStep]) -> list[str]:
    scores = model.scores
    n = len(word)
    best = [(-math.inf, -1)] * (n + 1)  # best[i] = (score of word[:i], start of its last piece)
    best[0] = (0.0, -1)
    for end in range(1, n + 1):
        for start in range(max(0, end - 32), end):
            piece = word[start:end]
            if piece in scores and best[start][0] > -math.inf:
                total = best[start][0] + scores[piece]
                if total > best[end][0]:
                    best[end] = (total, start)
        if best[end][0] == -math.inf and best[end - 1][0] > -math.inf:
            best[end] = (best[end - 1][0] - 10.0, end - 1)  # an unknown character, as SentencePiece does
    pieces, end = [], n
    while end > 0:
        start = best[end][1]
        pieces.insert(0, word[start:end] if word[start:end] in scores else (model.unk or word[start:end]))
        end = start
    single = sum(scores.get(c, -10.0) for c in word)
    steps.append(BuildStep(list(word), f"Every character alone would score {single:.2f} in total.", None))
    steps.append(BuildStep(list(pieces), "Viterbi picks the segmentation with the highest total log-probability: "
                           + " + ".join(f"{p!r} ({scores.get(p, -10.0):.2f})" for p in pieces)
                           + f" = {best[n][0]:.2f}.", None))
    return pieces
