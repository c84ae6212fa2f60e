"""Interventions: switch off heads or MLP blocks, or change one prompt token, and compare the next-token
distribution before and after.

A head is switched off by replacing its slice of o_proj's input (where every head's output sits side by
side) with zeros, or with its mean over the prompt's positions; an MLP block by replacing its output.
Forward hooks do it for this request only; the shared model itself is never changed.

    >>> result = ablate("The Eiffel Tower is in the city of", "smollm2-135m-instruct", heads=[], mlps=[])
    >>> result.kl                                   # nothing switched off: the same distribution
    0.0
    >>> result.before_top.tokens[0]
    ' Paris'
    >>> edited = edit_prompt("The Eiffel Tower is in the city of", "smollm2-135m-instruct", "Eiffel", "")
    >>> edited.description
    "removed ' Eiffel' (positions 1-2)"
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from playground.attention import token_texts
from playground.inside.hooks import (Decoder, Hooks, encode_prompt, first_tensor, load_decoder, mlp_output_module,
                                     replace_first)
from playground.progress import Progress, no_progress

MODES = ("zero", "mean")
TOP_K = 20


@dataclass(frozen=True)
class NextTokens:
    tokens: list[str]          # (k,)
    token_ids: list[int]       # (k,)
    before: np.ndarray         # (k,) probability before the intervention
    after: np.ndarray          # (k,) probability after it


@dataclass(frozen=True)
class Intervention:
    model: str
    description: str           # what was changed, in words
    tokens_before: list[str]   # (T,) the prompt's tokens
    tokens_after: list[str]    # (T',) the tokens run after the change (the same for ablations)
    before_top: NextTokens     # the k likeliest tokens before, with both probabilities
    after_top: NextTokens      # the k likeliest tokens after, with both probabilities
    kl: float                  # KL(before || after) in nats, over the whole vocabulary


def ablate(prompt: str, model: str, heads: Iterable, mlps: Iterable, mode: str = "zero",
           top_k: int = TOP_K, progress: Progress = no_progress) -> Intervention:
    """Switch off `heads` ([layer, head] pairs) and `mlps` (layer numbers) by `mode` ("zero" or "mean")."""
    import torch

    decoder = load_decoder(model, progress)
    tokens = encode_prompt(decoder, prompt)
    pairs = check_heads(decoder, heads)
    blocks = check_mlps(decoder, mlps)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    progress(0.3, f"Running {decoder.name} as it is")
    inputs = torch.tensor([tokens.token_ids], device=decoder.loaded.device)
    means = _means(decoder, inputs, pairs, blocks) if mode == "mean" and (pairs or blocks) else {}
    with torch.inference_mode():
        before = decoder.model(input_ids=inputs).logits[0, -1]
        progress(0.6, "Running it with the parts switched off")
        with Hooks() as hooks:
            _switch_off(decoder, hooks, pairs, blocks, means)
            after = decoder.model(input_ids=inputs).logits[0, -1]
    progress(1.0, "Ablation done")
    return _compare(decoder, describe_ablation(pairs, blocks, mode), tokens.tokens, tokens.tokens, before, after, top_k)


def check_heads(decoder: Decoder, heads: Iterable) -> list[tuple[int, int]]:
    """[layer, head] pairs, checked against the model; duplicates dropped, order kept. A head of None
    stands for every head of its layer."""
    if heads is None:
        return []
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Iterable):
        raise ValueError(f"heads must be a list of [layer, head] pairs, such as [[3, 4], [10, 0]]; got {heads!r}.")
    pairs = []
    for pair in heads:
        try:
            layer, head = pair
            layer, heads_here = int(layer), range(decoder.num_heads) if head is None else [int(head)]
        except (TypeError, ValueError):
            raise ValueError(f"heads: each entry must be a [layer, head] pair of whole numbers, got {pair!r}.") from None
        if not 0 <= layer < decoder.num_layers:
            raise ValueError(f"heads: layer {layer} is out of range: {decoder.name} has layers 0 to "
                             f"{decoder.num_layers - 1}.")
        for head in heads_here:
            if not 0 <= head < decoder.num_heads:
                raise ValueError(f"heads: head {head} is out of range: {decoder.name} has heads 0 to "
                                 f"{decoder.num_heads - 1} in each layer.")
            if (layer, head) not in pairs:
                pairs.append((layer, head))
    return pairs


def check_mlps(decoder: Decoder, mlps: Iterable) -> list[int]:
    if mlps is None:
        return []
    if isinstance(mlps, (str, bytes)) or not isinstance(mlps, Iterable):
        raise ValueError(f"mlps must be a list of layer numbers, such as [3, 10]; got {mlps!r}.")
    layers = []
    for value in mlps:
        try:
            layer = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"mlps: each entry must be a layer number, got {value!r}.") from None
        if not 0 <= layer < decoder.num_layers:
            raise ValueError(f"mlps: layer {layer} is out of range: {decoder.name} has layers 0 to "
                             f"{decoder.num_layers - 1}.")
        if layer not in layers:
            layers.append(layer)
    return layers


def describe_ablation(pairs: list[tuple[int, int]], blocks: list[int], mode: str) -> str:
    if not pairs and not blocks:
        return "nothing switched off"
    parts = []
    if pairs:
        parts.append(f"{len(pairs)} head{'s' if len(pairs) > 1 else ''} (" +
                     ", ".join(f"L{layer}.H{head}" for layer, head in pairs) + ")")
    if blocks:
        parts.append(f"{len(blocks)} MLP block{'s' if len(blocks) > 1 else ''} (" +
                     ", ".join(f"L{layer}" for layer in blocks) + ")")
    how = "set to zero" if mode == "zero" else "set to their mean over the prompt's positions"
    return " and ".join(parts) + f" {how}"


def _means(decoder: Decoder, inputs: Any, pairs: list[tuple[int, int]], blocks: list[int]) -> dict:
    """Each chosen layer's o_proj input (H * hd,) and MLP output (d,) averaged over the prompt's positions
    (leaving out the first, whose activations are the attention sink's and far from typical, when there
    are others)."""
    import torch

    means: dict[tuple[str, int], Any] = {}

    def mean_of(tensor):
        values = first_tensor(tensor)[0]
        return (values[1:] if values.shape[0] > 1 else values).mean(dim=0)

    with Hooks() as hooks, torch.inference_mode():
        for layer in sorted({layer for layer, _ in pairs}):
            hooks.pre(decoder.layers[layer].self_attn.o_proj,
                      lambda m, args, layer=layer: means.__setitem__(("heads", layer), mean_of(args[0])))
        for layer in blocks:
            hooks.post(mlp_output_module(decoder.layers[layer]),
                       lambda m, args, out, layer=layer: means.__setitem__(("mlp", layer), mean_of(out)))
        decoder.model(input_ids=inputs)
    return means


def _switch_off(decoder: Decoder, hooks: Hooks, pairs: list[tuple[int, int]], blocks: list[int], means: dict) -> None:
    width = decoder.head_dim
    for layer in sorted({layer for layer, _ in pairs}):
        chosen = [head for l, head in pairs if l == layer]

        def heads_off(module, args, layer=layer, chosen=chosen):
            z = args[0].clone()                                        # (B, T, H * hd)
            for head in chosen:
                part = slice(head * width, (head + 1) * width)
                z[..., part] = means[("heads", layer)][part] if ("heads", layer) in means else 0.0
            return (z, *args[1:])
        hooks.pre(decoder.layers[layer].self_attn.o_proj, heads_off)
    for layer in blocks:
        def mlp_off(module, args, out, layer=layer):
            value = first_tensor(out)
            replaced = means[("mlp", layer)].expand_as(value).clone() if ("mlp", layer) in means else \
                value.new_zeros(value.shape)
            return replace_first(out, replaced)
        hooks.post(mlp_output_module(decoder.layers[layer]), mlp_off)


def edit_prompt(prompt: str, model: str, where: str | int, replacement: str = "", top_k: int = TOP_K,
                progress: Progress = no_progress) -> Intervention:
    """Remove the prompt token(s) at `where` (a position, or a word of the prompt, which may be several
    tokens), or replace them by the tokens of `replacement`, and run the model again."""
    import torch

    decoder = load_decoder(model, progress)
    tokens = encode_prompt(decoder, prompt)
    start, stop = find_span(tokens.tokens, where)
    if not isinstance(replacement, str):
        raise ValueError(f"replacement must be text (empty removes the token), got {replacement!r}.")
    new_ids = list(decoder.loaded.tokenizer(replacement, add_special_tokens=False)["input_ids"]) if replacement else []
    ids = tokens.token_ids[:start] + new_ids + tokens.token_ids[stop:]
    if not ids:
        raise ValueError("removing the whole prompt leaves nothing to run: replace it instead.")
    old = "".join(tokens.tokens[start:stop])
    place = f"position {start}" if stop - start == 1 else f"positions {start}-{stop - 1}"
    if new_ids:
        shown = "".join(token_texts(decoder.loaded.tokenizer, new_ids))
        description = f"replaced {old!r} ({place}) by {shown!r}"
    else:
        description = f"removed {old!r} ({place})"
    device = decoder.loaded.device
    with torch.inference_mode():
        before = decoder.model(input_ids=torch.tensor([tokens.token_ids], device=device)).logits[0, -1]
        after = decoder.model(input_ids=torch.tensor([ids], device=device)).logits[0, -1]
    progress(1.0, "Ran both prompts")
    return _compare(decoder, description, tokens.tokens, token_texts(decoder.loaded.tokenizer, ids), before, after,
                    top_k)


def find_span(tokens: list[str], where: str | int) -> tuple[int, int]:
    """The tokens [start, stop) given by a position, or by a word of the prompt (case and spaces ignored): the
    first single token that reads as it, else the first run of tokens that spells it.

    >>> find_span(['The', ' E', 'iffel', ' Tower'], 'tower'), find_span(['The', ' E', 'iffel'], 'Eiffel')
    ((3, 4), (1, 3))
    >>> find_span(['The', ' cat'], '1')
    (1, 2)
    """
    text = str(where).strip() if where is not None else ""
    if not text:
        raise ValueError("token is empty: give a position (0 is the first token) or a word of the prompt.")
    if text.lstrip("-").isdigit():
        index = int(text)
        if not 0 <= index < len(tokens):
            raise ValueError(f"token position {index} is out of range: the prompt has positions 0 to {len(tokens) - 1}.")
        return index, index + 1
    def key(piece: str) -> str:
        return "".join(piece.split()).lower()

    wanted = key(text)
    for index, token in enumerate(tokens):
        if key(token) == wanted:
            return index, index + 1
    for start in range(len(tokens)):
        for stop in range(start + 1, len(tokens) + 1):
            spelled = key("".join(tokens[start:stop]))
            if spelled == wanted:
                return start, stop
            if not wanted.startswith(spelled):
                break
    raise ValueError(f"token {text!r} is not in the prompt; give a word of it or a position "
                     f"(the tokens are {', '.join(repr(t) for t in tokens[:40])}).")


def _compare(decoder: Decoder, description: str, tokens_before: list[str], tokens_after: list[str],
             before_logits: Any, after_logits: Any, top_k: int) -> Intervention:
    import torch

    before = torch.log_softmax(before_logits.double(), dim=-1)
    after = torch.log_softmax(after_logits.double(), dim=-1)
    kl = float((before.exp() * (before - after)).sum())
    kl = 0.0 if math.isclose(kl, 0.0, abs_tol=1e-12) else kl

    def tops(ranked):
        ids = [int(i) for i in ranked.topk(min(top_k, ranked.shape[-1])).indices]
        return NextTokens(token_texts(decoder.loaded.tokenizer, ids), ids, before[ids].exp().numpy(),
                          after[ids].exp().numpy())
    return Intervention(decoder.name, description, tokens_before, tokens_after, tops(before), tops(after), kl)


def to_api(result: Intervention) -> dict[str, Any]:
    """The `ablate` API's JSON: the top tokens before and after, and KL(before || after) in nats."""
    return {
        "before": [{"token": t, "id": i, "p": float(p)} for t, i, p in
                   zip(result.before_top.tokens, result.before_top.token_ids, result.before_top.before)],
        "after": [{"token": t, "id": i, "p": float(p)} for t, i, p in
                  zip(result.after_top.tokens, result.after_top.token_ids, result.after_top.after)],
        "kl": result.kl,
        "note": result.description,
    }
