"""The prompt's tokens and the U-Net's cross-attention to them: where in the picture each word is looked at.

    >>> from playground.diffusion.loading import load_pipeline
    >>> loaded = load_pipeline("tiny-shapes-sd")
    >>> tokens = prompt_tokens(loaded, "a red circle")
    >>> tokens.tokens, tokens.positions, tokens.truncated
    (['[CLS]', 'a', 'red', 'circle', '[SEP]'], [0, 1, 2, 3, 4], False)

The U-Net runs with `CapturingAttnProcessor` in every attention layer. Given a `capture` dict (through
`cross_attention_kwargs`), each cross-attention layer adds the softmax(QK^T / sqrt(d)) of the rows asked for,
averaged over heads; `attention_maps` averages one U-Net level's layers into a (T, h, w) map per token.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from playground.diffusion.records import CrossAttentionMaps, LoadedPipeline, PromptTokens

__all__ = ["ATTENTION_SIDE", "prompt_tokens", "CapturingAttnProcessor", "attention_maps"]

ATTENTION_SIDE = 16           # default cross-attention level: the finest with at most 16 x 16 cells (SD's 16 x 16,
                              # as prompt-to-prompt uses; tiny-shapes-sd's 8 x 8)


def prompt_tokens(loaded: LoadedPipeline, prompt: str) -> PromptTokens:
    """The prompt as the text encoder sees it: cut to the tokenizer's model_max_length, padding left out."""
    tokenizer = loaded.pipe.tokenizer
    max_length = int(tokenizer.model_max_length)
    cut = tokenizer(prompt, padding="max_length", max_length=max_length, truncation=True)
    full = tokenizer(prompt)["input_ids"]
    ids, mask = cut["input_ids"], cut["attention_mask"]
    positions = [p for p, m in enumerate(mask) if m]
    truncated = len(full) > max_length
    dropped = tokenizer.decode(full[max_length - 1:-1]) if truncated else ""
    pieces = tokenizer.convert_ids_to_tokens([ids[p] for p in positions])
    return PromptTokens(tokens=list(pieces), positions=positions, max_length=max_length,
                        truncated=truncated, dropped=dropped)


class CapturingAttnProcessor:
    """diffusers' AttnProcessor2_0 (the output is computed by it, so images don't change), which also keeps
    the cross-attention probabilities of the conditional prompt when given a `capture` dict through
    cross_attention_kwargs: capture[h*w] gets one (R, h*w, T) array per layer, R = len(capture_rows) (by
    default the last batch row: the conditional one under guidance). The probabilities come from the Attention
    module's own head_to_batch_dim and get_attention_scores, so its scale and upcasting apply."""

    def __init__(self):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.inner = AttnProcessor2_0()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 capture: dict | None = None, capture_rows: Sequence[int] | None = None):
        if capture is not None and attn.is_cross_attention and encoder_hidden_states is not None:
            rows = list(capture_rows) if capture_rows is not None else [hidden_states.shape[0] - 1]
            self.record(attn, hidden_states, encoder_hidden_states, capture, rows)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)

    @staticmethod
    def record(attn, hidden_states, encoder_hidden_states, capture: dict, rows: list[int]) -> None:
        """Add the head-averaged attention probabilities of batch `rows` to capture[h*w]."""
        states = hidden_states
        if states.ndim == 4:
            b, c, h, w = states.shape
            states = states.view(b, c, h * w).transpose(1, 2)                       # (B, HW, C)
        if attn.group_norm is not None:
            states = attn.group_norm(states.transpose(1, 2)).transpose(1, 2)
        context = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states
        query = attn.head_to_batch_dim(attn.to_q(states[rows]).float(), out_dim=4)   # (R, heads, HW, d)
        key = attn.head_to_batch_dim(attn.to_k(context[rows]).float(), out_dim=4)    # (R, heads, T, d)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        probs = attn.get_attention_scores(query.flatten(0, 1), key.flatten(0, 1))    # (R * heads, HW, T)
        probs = probs.unflatten(0, (len(rows), attn.heads)).mean(dim=1)            # (R, HW, T)
        capture.setdefault(probs.shape[1], []).append(probs.float().cpu().numpy())


def attention_maps(i: int, t: float, capture: dict, tokens: PromptTokens, resolution: int | None,
                   latent_hw) -> CrossAttentionMaps:
    """Mean over heads and layers at one level; `capture` maps h*w to one (h*w, T) array per layer. By default
    the finest level of at most ATTENTION_SIDE cells per side: there a word's map follows its object
    (tiny-shapes-sd at 8 x 8: "red" lights the red circle, "blue" the blue square), where the coarser 4 x 4
    level lights whole quarters of the picture."""
    lh, lw = int(latent_hw[0]), int(latent_hw[1])
    levels = {}
    for hw, maps in capture.items():
        factor = math.isqrt(lh * lw // hw)
        levels[(lh // factor, lw // factor)] = maps
    if not levels:
        raise ValueError("this U-Net has no cross-attention layers to show.")
    resolutions = sorted(levels, reverse=True)
    if resolution is None:
        fine_enough = [r for r in resolutions if r[0] <= ATTENTION_SIDE]
        chosen = fine_enough[0] if fine_enough else resolutions[-1]
    else:
        matches = [r for r in resolutions if r[0] == resolution]
        if not matches:
            raise ValueError(f"attention resolution {resolution} is not one of the U-Net's levels: "
                             f"{', '.join(str(r[0]) for r in resolutions)}.")
        chosen = matches[0]
    mean = np.mean(levels[chosen], axis=0)                               # (HW, T_all)
    maps = mean[:, tokens.positions].T.reshape(len(tokens.positions), *chosen)  # (T, h, w)
    return CrossAttentionMaps(step=i, timestep=t, tokens=tokens, resolution=chosen, maps=maps.astype(np.float32),
                              layers=len(levels[chosen]), resolutions=resolutions)
