"""What the Why-this-token tools share: the decoder's parts, the prompt and the target as tokens, and hooks.

The tools read any Hugging Face causal LM laid out like LLaMA: decoder layers in `model.model.layers`,
each with `self_attn.o_proj` (the attention output projection, whose input holds every head's output
side by side) and `mlp`, and a final RMSNorm in `model.model.norm`. SmolLM2 (LLaMA) and Gemma 3 are.

    >>> decoder = load_decoder("smollm2-135m-instruct")
    >>> decoder.num_layers, decoder.num_heads, decoder.head_dim
    (30, 9, 64)
    >>> prompt = encode_prompt(decoder, "The Eiffel Tower is in the city of")
    >>> prompt.tokens[:4]
    ['The', ' E', 'iffel', ' Tower']
    >>> logprobs = next_logprobs(decoder, prompt.token_ids)        # (vocab,) after the whole prompt
    >>> target = resolve_target(decoder, prompt, logprobs, "Paris")
    >>> target.text, target.note
    (' Paris', "'Paris' is read as ' Paris', with the space a word after the prompt starts with.")
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from playground import public
from playground.attention import token_texts
from playground.registry import TEXT_MODELS
from playground.models import LoadedModel, load_model
from playground.progress import Progress, no_progress

MAX_PROMPT_TOKENS = 512    # every tool runs the whole prompt many times; longer prompts belong in a notebook
LAYOUT = ("decoder layers in model.model.layers, each with self_attn.o_proj and mlp, "
          "and a final norm in model.model.norm")


@dataclass(frozen=True)
class Decoder:
    """A loaded causal LM and the parts of it the tools hook (modules, not data: never sent to the page)."""

    loaded: LoadedModel
    layers: list[Any]          # (n_layers,) the decoder layers, in order
    num_heads: int             # query heads per layer
    head_dim: int              # each head's share of o_proj's input
    final_norm: Any            # the norm before the output head
    softcap: float | None      # Gemma 2's final logit soft-capping, None for most models

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def model(self) -> Any:
        return self.loaded.model

    @property
    def num_layers(self) -> int:
        return len(self.layers)


@dataclass(frozen=True)
class Prompt:
    text: str
    token_ids: list[int]       # (T,)
    tokens: list[str]          # (T,) what each token reads as
    special: list[bool]        # (T,) tokens the tokenizer added (<bos>): kept as they are by the attributions


@dataclass(frozen=True)
class Target:
    token_id: int
    text: str                  # the token as it reads, e.g. ' Paris'
    typed: str                 # what was asked for ("" for the model's most likely next token)
    logprob: float             # log-probability the model gives it after the prompt
    note: str                  # how `typed` was read ("" when it is exactly one token as typed)


def load_decoder(name: str, progress: Progress = no_progress) -> Decoder:
    """The model `name` through the shared cache, checked for the layout the tools read."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"model is empty: choose a decoder such as {', '.join(decoder_names())}, "
                         "or give a Hub id or folder of a causal language model.")
    name = name.strip()
    spec = TEXT_MODELS.get(name)
    if spec is not None and spec.architecture != "decoder":
        raise ValueError(f"model {name!r} is an encoder: it predicts no next token, so there is nothing to explain "
                         f"here; choose a decoder such as {', '.join(decoder_names())}.")
    loaded = load_model(name, progress)
    return decoder_parts(loaded)


def decoder_names() -> list[str]:
    return [spec.name for spec in TEXT_MODELS.values() if spec.architecture == "decoder"]


def decoder_parts(loaded: LoadedModel) -> Decoder:
    model = loaded.model
    base = getattr(model, "model", None)
    layers = list(getattr(base, "layers", None) or [])
    fits = (layers and all(hasattr(getattr(layer, "self_attn", None), "o_proj") and hasattr(layer, "mlp")
                           for layer in layers)
            and getattr(base, "norm", None) is not None and model.get_output_embeddings() is not None)
    if not fits:
        raise ValueError(f"model {loaded.name!r} ({type(model).__name__}) is not laid out the way these tools read "
                         f"a decoder ({LAYOUT}); choose {', '.join(decoder_names())} or a LLaMA-family model "
                         "(Llama, Mistral, Qwen, Gemma, SmolLM).")
    config = getattr(model.config, "text_config", None) or model.config
    heads = int(config.num_attention_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    width = layers[0].self_attn.o_proj.in_features
    if width != heads * head_dim:
        raise ValueError(f"model {loaded.name!r}: o_proj reads {width} features, not {heads} heads x {head_dim}, "
                         "so its heads can't be told apart.")
    return Decoder(loaded, layers, heads, head_dim, base.norm, getattr(config, "final_logit_softcapping", None))


def encode_prompt(decoder: Decoder, text: str, argument: str = "prompt", limit: int = MAX_PROMPT_TOKENS) -> Prompt:
    """The prompt as the model reads it (the tokenizer's own special tokens included)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{argument} is empty: type the start of a sentence for the model to continue.")
    public.check_text(text, argument)
    tokenizer = decoder.loaded.tokenizer
    ids = list(tokenizer(text)["input_ids"])
    if not ids:
        raise ValueError(f"{argument} gives no tokens: type some words.")
    limit = min(limit, decoder.loaded.context_window)
    if len(ids) > limit:
        raise ValueError(f"{argument} is {len(ids)} tokens long but these tools take at most {limit}: shorten it.")
    public.check("why_tokens", len(ids), f"{argument} length")
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return Prompt(text, ids, token_texts(tokenizer, ids), [i in special for i in ids])


def next_logprobs(decoder: Decoder, ids: list[int]) -> Any:
    """(vocab,) float32 log-softmax of model(ids).logits[-1]: the model's own next-token distribution."""
    import torch

    with torch.inference_mode():
        inputs = torch.tensor([ids], device=decoder.loaded.device)
        logits = decoder.model(input_ids=inputs).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1)


def resolve_target(decoder: Decoder, prompt: Prompt, logprobs: Any, typed: str, argument: str = "target") -> Target:
    """The token to explain: the most likely next one when `typed` is empty, else the first token of `typed`.

    A word typed without its leading space after a prompt that ends without one is also tried with the
    space (' Paris' is the token that follows "in the city of", 'Paris' starts a line); the likelier of the
    two is used, and the note says so."""
    tokenizer = decoder.loaded.tokenizer
    if typed is None:
        typed = ""
    if not isinstance(typed, str):
        raise ValueError(f"{argument} must be text (a word or token), got {typed!r}.")
    if typed == "":
        token_id = int(logprobs.argmax())
        return Target(token_id, token_texts(tokenizer, [token_id])[0], "", float(logprobs[token_id]), "")
    readings = [typed]
    if not typed[0].isspace() and not prompt.text[-1:].isspace():
        readings.append(" " + typed)
    options = []
    for reading in readings:
        ids = tokenizer(reading, add_special_tokens=False)["input_ids"]
        if ids:
            options.append((float(logprobs[ids[0]]), reading, list(ids)))
    if not options:
        raise ValueError(f"{argument} {typed!r} gives no tokens: type a word, such as ' Paris'.")
    logprob, reading, ids = max(options, key=lambda option: option[0])
    text = token_texts(tokenizer, ids[:1])[0]
    notes = []
    if reading != typed:
        notes.append(f"{typed!r} is read as {reading!r}, with the space a word after the prompt starts with.")
    if len(ids) > 1:
        pieces = ", ".join(repr(t) for t in token_texts(tokenizer, ids))
        notes.append(f"{reading!r} is {len(ids)} tokens ({pieces}): the first, {text!r}, is the {argument} used.")
    return Target(int(ids[0]), text, typed, logprob, " ".join(notes))


def top_tokens(decoder: Decoder, logprobs: Any, k: int) -> tuple[list[str], list[int], np.ndarray]:
    """The k likeliest next tokens: texts, ids and probabilities (k,)."""
    top = logprobs.topk(min(k, logprobs.shape[-1]))
    ids = [int(i) for i in top.indices]
    return token_texts(decoder.loaded.tokenizer, ids), ids, top.values.exp().cpu().numpy().astype(np.float64)


def logits_from_final(decoder: Decoder, hidden: Any) -> Any:
    """(..., vocab) logits from the last layer's output (..., d): final norm, output head, soft-capping."""
    import torch

    logits = decoder.model.get_output_embeddings()(decoder.final_norm(hidden)).float()
    if decoder.softcap:
        logits = torch.tanh(logits / decoder.softcap) * decoder.softcap
    return logits


class Hooks:
    """Forward hooks that act only in the thread that added them, removed on leaving the `with` block.

    The model is shared (one cache for every tab and user): a request running it at the same moment
    in another thread must not see this request's ablations or patches.

        >>> decoder = load_decoder("smollm2-135m-instruct")
        >>> ids = encode_prompt(decoder, "The Eiffel Tower is in the city of").token_ids
        >>> with Hooks() as hooks:                     # the final norm's output zeroed, in this thread only
        ...     hooks.post(decoder.final_norm, lambda module, args, output: output * 0)
        ...     float(next_logprobs(decoder, ids).exp().max()) < 0.001     # every logit 0: uniform
        True
        >>> float(next_logprobs(decoder, ids).exp().max()) > 0.6           # as it was once the block ends
        True
    """

    def __init__(self) -> None:
        self._owner = threading.get_ident()
        self._handles: list[Any] = []

    def _mine(self, fn: Callable) -> Callable:
        def hook(*args):
            return fn(*args) if threading.get_ident() == self._owner else None
        return hook

    def pre(self, module: Any, fn: Callable) -> None:
        """fn(module, args) -> new args or None, before `module` runs."""
        self._handles.append(module.register_forward_pre_hook(self._mine(fn)))

    def pre_kwargs(self, module: Any, fn: Callable) -> None:
        """fn(module, args, kwargs) -> None (reads the keyword arguments `module` is called with)."""
        self._handles.append(module.register_forward_pre_hook(self._mine(fn), with_kwargs=True))

    def post(self, module: Any, fn: Callable) -> None:
        """fn(module, args, output) -> new output or None, after `module` runs."""
        self._handles.append(module.register_forward_hook(self._mine(fn)))

    def __enter__(self) -> "Hooks":
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def mlp_output_module(layer: Any) -> Any:
    """The module whose output the MLP adds to the residual stream: Gemma's norm after the MLP, else the MLP."""
    return getattr(layer, "post_feedforward_layernorm", None) or layer.mlp


def first_tensor(value: Any) -> Any:
    """A module's output tensor: decoder layers and attention return tuples in some transformers versions."""
    return value[0] if isinstance(value, tuple) else value


def replace_first(value: Any, tensor: Any) -> Any:
    return (tensor, *value[1:]) if isinstance(value, tuple) else tensor


@dataclass(frozen=True)
class TokenCounts:
    clean: list[str]           # (T,) the clean prompt's tokens
    corrupted: list[str]       # (T',) the corrupted prompt's tokens


def count_tokens(clean: str, corrupted: str, model: str) -> TokenCounts:
    """The two patching prompts as tokens (the tokenizer alone, no model), to line them up before a run."""
    from playground.models import load_tokenizer

    if not isinstance(model, str) or not model.strip():
        raise ValueError("model is empty: choose a decoder such as " + ", ".join(decoder_names()) + ".")
    tokenizer = load_tokenizer(model.strip()).tokenizer
    texts = []
    for text in (clean, corrupted):
        public.check_text(text or "", "prompt")
        texts.append(token_texts(tokenizer, list(tokenizer(text or "")["input_ids"])) if text else [])
    return TokenCounts(*texts)
