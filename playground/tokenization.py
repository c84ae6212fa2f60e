"""Tokenization: how a tokenizer cuts text into tokens and ids, and why.

    >>> result = tokenize("Hello 👋", "smollm2-135m-instruct")
    >>> result.ids                    # exactly AutoTokenizer(...)("Hello 👋")["input_ids"]
    [19556, 15107, 235, 229]
    >>> result.pieces                 # byte-level BPE: the emoji's 4 bytes land in 3 tokens
    ['Hello', 'ĠðŁ', 'ĳ', 'ĭ']
    >>> result.token_bytes[1:]
    [b' \\xf0\\x9f', b'\\x91', b'\\x8b']
    >>> result.starts, result.ends    # character spans into the text
    ([0, 5, 6, 6], [5, 7, 7, 7])

Everything here works on the tokenizer's own data (its offsets, vocabulary and merge list); the
Tokenization tab only formats what these functions return.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np

from playground import public
from playground.settings import current
from playground.models import LoadedTokenizer, load_tokenizer
from playground.progress import Progress, no_progress

_SURROGATE = re.compile("[\ud800-\udfff]")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass(frozen=True)
class Tokenization:
    tokenizer: str              # the name the user chose
    family: str                 # "BPE", "WordPiece", "SentencePiece" or the tokenizer model type
    text: str                   # the input, unchanged
    ids: list[int]              # (T,) exactly tokenizer(text)["input_ids"]
    pieces: list[str]           # (T,) the vocabulary strings, e.g. "Ġworld", "##ing", "▁the"
    starts: list[int]           # (T,) character offsets into `text`; special tokens: start == end
    ends: list[int]             # (T,)
    special: list[bool]         # (T,) added special tokens such as [CLS] or <bos>
    unknown: list[bool]         # (T,) the unknown token, standing for text the vocabulary lacks
    token_bytes: list[bytes]    # (T,) the bytes each token stands for; may be part of a character
    context_window: int         # tokens the owning model attends to
    notes: list[str] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return len(self.ids)

    @property
    def num_chars(self) -> int:
        return len(self.text)

    @property
    def chars_per_token(self) -> float:
        return self.num_chars / self.num_tokens if self.num_tokens else 0.0

    @property
    def context_share(self) -> float:
        return self.num_tokens / self.context_window

    def token_text(self, i: int) -> str:
        """The exact input text token `i` covers (its piece for a special token)."""
        return self.pieces[i] if self.special[i] else self.text[self.starts[i]:self.ends[i]]

    def to_dict(self) -> dict[str, Any]:
        """The JSON result of the `tokenize` API."""
        return {
            "tokenizer": self.tokenizer,
            "family": self.family,
            "num_tokens": self.num_tokens,
            "num_chars": self.num_chars,
            "chars_per_token": round(self.chars_per_token, 4),
            "context_window": self.context_window,
            "context_share": self.context_share,
            "notes": list(self.notes),
            "tokens": [
                {"id": self.ids[i], "text": self.token_text(i), "piece": self.pieces[i],
                 "start": self.starts[i], "end": self.ends[i], "special": self.special[i],
                 "bytes": self.token_bytes[i].hex(" ")}
                for i in range(self.num_tokens)
            ],
        }


def check_text(text: Any, *, allow_empty: bool = False) -> str:
    """Refuse input no tokenizer should see, with a message that says what to change."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, not {type(text).__name__}.")
    if not text and not allow_empty:
        raise ValueError("text is empty: type or paste something to tokenize.")
    most = current().max_chars
    if len(text) > most:
        raise ValueError(f"text is {len(text):,} characters long; the limit is {most:,} (PLAYGROUND_MAX_CHARS). "
                         "Paste a shorter part.")
    public.check_text(text)
    bad = _SURROGATE.search(text)
    if bad:
        raise ValueError(
            f"text has a lone surrogate U+{ord(bad.group()):04X} at character {bad.start()}, which is not valid "
            "Unicode and has no UTF-8 bytes; remove it or replace it with the character it was meant to be part of."
        )
    return text


def tokenize(text: str, name: str, progress: Progress = no_progress) -> Tokenization:
    text = check_text(text)
    loaded = load_tokenizer(name, progress)
    encoding = loaded.tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False)
    return _build(loaded, text, encoding, name)


def _build(loaded: LoadedTokenizer, text: str, encoding: Any, name: str) -> Tokenization:
    tokenizer = loaded.tokenizer
    ids = list(encoding["input_ids"])
    pieces = encoding.tokens()  # computed in Rust with the ids
    special = [bool(s) for s in encoding["special_tokens_mask"]]
    to_bytes = _byte_reader(tokenizer)
    starts, ends = [], []
    previous_end = 0
    for (start, end), is_special in zip(encoding["offset_mapping"], special):
        if is_special and start == end:
            start = end = previous_end  # a special token sits where it was inserted, covering nothing
        starts.append(start)
        ends.append(end)
        previous_end = max(previous_end, end)
    unk = tokenizer.unk_token_id
    unknown = [i == unk and not s for i, s in zip(ids, special)]
    token_bytes = [
        piece.encode() if is_special else (text[s:e].encode() if is_unknown else to_bytes(piece))
        for piece, is_special, is_unknown, s, e in zip(pieces, special, unknown, starts, ends)
    ]
    notes = []
    if not text.strip():
        notes.append("The text is only whitespace.")
    if not any(not s for s in special):
        notes.append(f"{name} keeps no token of this text (it drops whitespace).")
    if len(ids) > loaded.context_window:
        notes.append(f"{len(ids):,} tokens is more than the {loaded.context_window:,}-token context window of {name}.")
    return Tokenization(name, family_of(loaded), text, ids, pieces, starts, ends, special, unknown,
                        token_bytes, loaded.context_window, notes)


def family_of(loaded: LoadedTokenizer) -> str:
    if loaded.spec is not None:
        return loaded.spec.family
    kind = type(loaded.tokenizer.backend_tokenizer.model).__name__
    if kind == "Unigram":
        return "SentencePiece"
    if kind == "BPE" and getattr(loaded.tokenizer.backend_tokenizer.model, "byte_fallback", False):
        return "SentencePiece"
    return kind


def _decoder_types(tokenizer: Any) -> set[str]:
    decoder = tokenizer.backend_tokenizer.decoder
    if decoder is None:
        return set()
    state = json.loads(decoder.__getstate__())
    return {part.get("type", "") for part in state.get("decoders", [state])}


@lru_cache(maxsize=64)
def _byte_level_table() -> dict[str, int]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {char: byte for byte, char in bytes_to_unicode().items()}


def piece_bytes(tokenizer: Any, piece: str) -> bytes:
    """The bytes a vocabulary piece stands for, in this tokenizer's scheme (byte-level BPE's 'Ġ' is a space,
    SentencePiece's '▁' too, '<0xF0>' is one byte).

        >>> piece_bytes(load_tokenizer("smollm2-135m-instruct").tokenizer, "Ġunbelie")
        b' unbelie'
    """
    return _byte_reader(tokenizer)(piece)


@lru_cache(maxsize=16)
def _byte_reader(tokenizer: Any):
    """A function from a vocabulary piece to the bytes it stands for, for this tokenizer's scheme; one per
    tokenizer, remembering each piece (pieces repeat: each is decoded once)."""
    return lru_cache(maxsize=None)(_plain_byte_reader(tokenizer))


def _plain_byte_reader(tokenizer: Any):
    kinds = _decoder_types(tokenizer)
    if "ByteLevel" in kinds:
        table = _byte_level_table()

        def read(piece: str) -> bytes:
            if all(c in table for c in piece):
                return bytes(table[c] for c in piece)
            return piece.encode()
        return read
    if "WordPiece" in kinds:
        return lambda piece: (piece[2:] if piece.startswith("##") else piece).encode()

    def read_sentencepiece(piece: str) -> bytes:
        match = _BYTE_PIECE.match(piece)
        if match:
            return bytes([int(match.group(1), 16)])
        return piece.replace("▁", " ").encode()
    return read_sentencepiece


# ---------------------------------------------------------------------------------------------
# Comparing tokenizers


def cut_points(result: Tokenization) -> set[int]:
    """Where this tokenizer cuts the text, with whitespace skipped so that tokenizers that drop
    spaces (WordPiece) and those that glue them to the next word (byte-level BPE) agree.

        "Hi there": BPE cuts [Hi][ there], WordPiece [hi][there]; both give {0, 3, 8}.
    """
    starts, ends = _snapped_spans(result)
    return set(starts.tolist()) | set(ends.tolist())


def _snapped_spans(result: Tokenization) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends (T',) of the tokens that cover text, each moved past any whitespace."""
    keep = np.array([not s for s in result.special], dtype=bool) if result.num_tokens else np.zeros(0, bool)
    starts = np.asarray(result.starts, dtype=np.int64)[keep]
    ends = np.asarray(result.ends, dtype=np.int64)[keep]
    covering = ends > starts
    solid = _solid_positions(result.text)  # (S,) indices of non-whitespace characters, then len(text)
    snap = lambda points: solid[np.searchsorted(solid, points)]
    return snap(starts[covering]), snap(ends[covering])


@lru_cache(maxsize=8)
def _solid_positions(text: str) -> np.ndarray:
    positions = [match.start() for match in re.finditer(r"\S", text)]
    return np.array(positions + [len(text)], dtype=np.int64)


def differing_tokens(results: list[Tokenization]) -> list[list[bool]]:
    """For each tokenizer, which of its tokens have a cut that not every other tokenizer makes."""
    if not results:
        return []
    shared = np.array(sorted(set.intersection(*(cut_points(r) for r in results))), dtype=np.int64)
    flags = []
    for result in results:
        solid = _solid_positions(result.text)
        starts = solid[np.searchsorted(solid, np.asarray(result.starts, dtype=np.int64))]
        ends = solid[np.searchsorted(solid, np.asarray(result.ends, dtype=np.int64))]
        covering = (np.asarray(result.ends) > np.asarray(result.starts)) & ~np.asarray(result.special, dtype=bool)
        differs = covering & ~(np.isin(starts, shared) & np.isin(ends, shared))
        flags.append(differs.tolist())
    return flags


# ---------------------------------------------------------------------------------------------
# Ids back to text, chat templates


def parse_ids(raw: str) -> list[int]:
    """Read ids pasted as "1, 2, 3", "1 2 3" or a JSON list."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("ids are empty: paste token ids such as 19556, 905.")
    parts = [p for p in re.split(r"[\s,;\[\]]+", raw.strip()) if p]
    bad = [p for p in parts if not re.fullmatch(r"-?\d+", p)]
    if bad:
        raise ValueError(f"ids must be whole numbers separated by commas or spaces; {bad[0]!r} is not one.")
    return [int(p) for p in parts]


@dataclass(frozen=True)
class Decoded:
    text: str            # tokenizer.decode(ids), special tokens kept
    pieces: list[str]    # (T,) one vocabulary string per id


def decode_ids(raw: str, name: str, progress: Progress = no_progress) -> Decoded:
    ids = parse_ids(raw)
    tokenizer = load_tokenizer(name, progress).tokenizer
    size = len(tokenizer)
    out_of_range = [i for i in ids if not 0 <= i < size]
    if out_of_range:
        raise ValueError(f"id {out_of_range[0]} is outside the vocabulary of {name} (0 to {size - 1}).")
    return Decoded(tokenizer.decode(ids, skip_special_tokens=False), tokenizer.convert_ids_to_tokens(ids))


SAMPLE_CONVERSATION = [
    {"role": "system", "content": "You are a friendly tutor."},
    {"role": "user", "content": "What is a token?"},
    {"role": "assistant", "content": "A piece of text the model reads as one unit."},
]


def parse_conversation(raw: str) -> list[dict[str, str]]:
    """Read "role: text" lines (system, user, assistant) into chat messages."""
    messages = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        role, colon, content = line.partition(":")
        role = role.strip().lower()
        if not colon or role not in ("system", "user", "assistant"):
            if messages:
                messages[-1]["content"] += "\n" + line
                continue
            raise ValueError(f"conversation line {number} must start with 'system:', 'user:' or 'assistant:'.")
        messages.append({"role": role, "content": content.strip()})
    if not messages:
        raise ValueError("conversation is empty: write lines such as 'user: Hello!'.")
    return messages


def render_chat(messages: list[dict[str, str]], name: str, progress: Progress = no_progress) -> Tokenization:
    """The conversation rendered through the model's own chat template, then tokenized."""
    loaded = load_tokenizer(name, progress)
    tokenizer = loaded.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{name} has no chat template; choose a chat model such as smollm2-135m-instruct.")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    check_text(text)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, return_special_tokens_mask=True)
    result = _build(loaded, text, encoding, name)
    marked = [s or p in tokenizer.all_special_tokens for s, p in zip(result.special, result.pieces)]
    return replace(result, special=marked)


# ---------------------------------------------------------------------------------------------
# Export


def to_json(results: list[Tokenization]) -> str:
    return json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=1)


def to_csv(results: list[Tokenization]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["tokenizer", "index", "id", "piece", "text", "start", "end", "special", "bytes_hex"])
    for r in results:
        for i in range(r.num_tokens):
            writer.writerow([r.tokenizer, i, r.ids[i], r.pieces[i], r.token_text(i), r.starts[i], r.ends[i],
                             int(r.special[i]), r.token_bytes[i].hex(" ")])
    return out.getvalue()
