"""Attribution: how much each prompt token contributed to the model's log-probability of a target token.

Four methods, each giving one score per prompt token (Captum does the gradient ones and occlusion):

- gradient_x_input: the gradient of log p(target) with respect to each token's embedding, dotted with that
  embedding (one backward pass).
- integrated_gradients (Sundararajan et al., 2017): the gradient averaged along the straight path from a
  baseline (every token's embedding but the first replaced by the padding token's) to the prompt, times the
  difference. The
  scores add up to F(prompt) - F(baseline) when the path integral is computed exactly ("completeness");
  the completeness error says how far the finite number of steps is from that.
- occlusion: F(prompt) - F(prompt with that token's embedding replaced by the baseline's), one token at a time.
- attention_rollout (Abnar & Zuidema, 2020): how much of the last position's attention, rolled out through
  the layers with the residual connections, comes from each token; the same for any target, for comparison.

With a contrast token, F is log p(target) - log p(contrast): "why this token and not that one".

    >>> result = attribute("The Eiffel Tower is in the city of", "smollm2-135m-instruct", "", "integrated_gradients")
    >>> result.target, len(result.scores) == len(result.tokens)
    (' Paris', True)
    >>> result.completeness_error < 0.05
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.inside.hooks import (Decoder, Prompt, encode_prompt, load_decoder, next_logprobs, resolve_target,
                                     top_tokens)
from playground.inside.paths import BATCH_TOKENS, integrate
from playground.progress import Progress, no_progress

METHODS = ("gradient_x_input", "integrated_gradients", "occlusion", "attention_rollout")
IG_STEPS = 48              # at most this many gradients along the path (see paths.integrate)
TOP_K = 10


@dataclass(frozen=True)
class Attribution:
    model: str
    method: str
    tokens: list[str]              # (T,) the prompt's tokens
    token_ids: list[int]           # (T,)
    scores: np.ndarray             # (T,) each token's contribution to `explained` (rollout: its share)
    kept: list[bool]               # (T,) tokens kept as they are in the baseline (score 0 by construction)
    target: str
    target_id: int
    target_logprob: float          # log p(target | prompt), the model's own
    target_note: str
    contrast: str | None
    contrast_id: int | None
    contrast_logprob: float | None
    explained: float | None        # F(prompt): log p(target) [- log p(contrast)]; None for rollout
    baseline_value: float | None   # F(baseline) for integrated gradients
    completeness_error: float | None  # |sum(scores) - (F(prompt) - F(baseline))| / |F(prompt) - F(baseline)|
    steps: int | None              # integrated gradients' points along the path
    top_tokens: list[str]          # (TOP_K,) the model's likeliest next tokens
    top_probs: np.ndarray          # (TOP_K,)
    notes: list[str]


def _objective(decoder: Decoder, target_id: int, contrast_id: int | None):
    """F(embeddings) for a batch (B, T, d) -> (B,): log p(target) at the last position, minus log p(contrast)."""
    import torch

    def forward(embeds):
        logits = decoder.model(inputs_embeds=embeds, logits_to_keep=1).logits[:, -1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        value = logprobs[:, target_id]
        return value if contrast_id is None else value - logprobs[:, contrast_id]
    return forward


def attribute(prompt: str, model: str, target: str = "", method: str = "integrated_gradients", contrast: str = "",
              steps: int = IG_STEPS, progress: Progress = no_progress) -> Attribution:
    """One score per prompt token for log p(target) (minus log p(contrast)), by `method` (see METHODS)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    decoder = load_decoder(model, progress)
    tokens = encode_prompt(decoder, prompt)
    logprobs = next_logprobs(decoder, tokens.token_ids)
    chosen = resolve_target(decoder, tokens, logprobs, target)
    other = resolve_target(decoder, tokens, logprobs, contrast, "contrast") if contrast else None
    if other is not None and other.token_id == chosen.token_id:
        raise ValueError(f"contrast {contrast!r} is the same token as the target ({chosen.text!r}): choose another "
                         "word to compare with.")
    if method == "attention_rollout" and other is not None:
        raise ValueError("attention rollout is the same for every target, so it can't compare two tokens: leave "
                         "contrast empty, or choose gradient_x_input, integrated_gradients or occlusion.")
    top_texts, _, top_probs = top_tokens(decoder, logprobs, TOP_K)
    notes = [note for note in (chosen.note, other.note if other else "") if note]
    kept = _kept(tokens) if method in ("integrated_gradients", "occlusion") else [False] * len(tokens.token_ids)
    explained = baseline_value = error = used_steps = None
    if method == "attention_rollout":
        scores = _rollout_scores(prompt, decoder.name, progress)
        notes.append("Rollout reads attention only: the same scores for any target. Each is the share of the last "
                     "position's rolled-out attention that comes from that token; they add up to 1.")
        if scores[0] > 0.5:
            notes.append(f"{scores[0]:.0%} of it ends on the first token, {tokens.tokens[0]!r}: decoders park most of "
                         "their attention there (the attention sink), so where attention goes says little about why "
                         "the model chose its token. Compare with the other methods.")
    else:
        scores, explained, baseline_value, error, used_steps = _gradient_method(
            decoder, tokens, kept, method, chosen.token_id, other.token_id if other else None, steps, progress)
    progress(1.0, "Attribution done")
    return Attribution(decoder.name, method, tokens.tokens, tokens.token_ids, np.asarray(scores, dtype=np.float64),
                       kept, chosen.text, chosen.token_id, chosen.logprob, chosen.note,
                       other.text if other else None, other.token_id if other else None,
                       other.logprob if other else None, explained, baseline_value, error, used_steps,
                       top_texts, top_probs, notes)


def _kept(tokens: Prompt) -> list[bool]:
    """Tokens the baseline keeps as they are: the tokenizer's special tokens (<bos>), and the first token, the
    attention sink every later token leans on (replacing it changes how the model attends everywhere)."""
    return [special or index == 0 for index, special in enumerate(tokens.special)]


def _gradient_method(decoder: Decoder, tokens: Prompt, kept: list[bool], method: str, target_id: int,
                     contrast_id: int | None, steps: int, progress: Progress):
    """(scores (T,), F(prompt), F(baseline) or None, completeness error or None, steps or None)."""
    import torch
    from captum.attr import InputXGradient, Occlusion

    forward = _objective(decoder, target_id, contrast_id)
    embed = decoder.model.get_input_embeddings()
    with torch.inference_mode():
        inputs = embed(torch.tensor([tokens.token_ids], device=decoder.loaded.device)).clone()   # (1, T, d)
    inputs = inputs.detach()
    baseline = pad_token_baseline(decoder, inputs, kept)                              # (1, T, d)
    if method == "integrated_gradients":
        steps = _check_steps(steps)
        path = integrate(forward, inputs, baseline, steps, max(4, steps // 3), progress)   # 48 steps: 16 intervals
        return path.scores, path.value, path.baseline_value, path.error, path.steps
    with torch.inference_mode():
        value = float(forward(inputs)[0])
    if method == "gradient_x_input":
        progress(0.5, "Gradient x input: one backward pass")
        attributions = InputXGradient(forward).attribute(inputs.clone().requires_grad_(True))
        return attributions[0].sum(dim=-1).detach().double().cpu().numpy(), value, None, None, None
    progress(0.2, f"Occlusion: {len(tokens.token_ids)} runs, each with one token replaced")
    width = inputs.shape[-1]
    with torch.no_grad():
        attributions = Occlusion(forward).attribute(
            inputs, sliding_window_shapes=(1, width), strides=(1, width), baselines=baseline,
            perturbations_per_eval=max(1, BATCH_TOKENS // inputs.shape[1]))
    return attributions[0, :, 0].double().cpu().numpy(), value, None, None, None


def pad_token_baseline(decoder: Decoder, inputs: Any, kept: list[bool]) -> Any:
    """(1, T, d): every token's embedding replaced by the padding token's (the tokenizer's pad token, else
    its end-of-sequence or unknown token), as Captum's BERT tutorial replaces words by [PAD]; kept tokens stay.
    A padding row that is all but zero (never trained) gives way to the average embedding.

    Why not zeros (Captum's default): every layer starts with an RMSNorm, x / sqrt(mean(x^2) + eps), which is
    flat in the size of x except within about sqrt(eps) of 0, so on a path from 0 the model's output jumps in
    a sliver near the start that no affordable number of steps resolves (completeness errors of 20-60% on
    SmolLM2). A real token's embedding has a typical size all along the path."""
    import torch

    tokenizer = decoder.loaded.tokenizer
    embed = decoder.model.get_input_embeddings()
    pad = next((i for i in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) if i is not None),
               None)
    with torch.inference_mode():
        sizes = inputs.float().pow(2).mean(dim=-1, keepdim=True).sqrt()                   # (1, T, 1)
        baseline = None if pad is None else embed(torch.tensor([[pad]], device=inputs.device)).expand_as(inputs)
        if baseline is None or float(baseline[0, 0].float().pow(2).mean().sqrt()) < 0.1 * float(sizes.median()):
            # no such token, or one whose embedding is all but zero (an untrained padding row): the average
            # embedding, at each token's size
            direction = embed.weight.float().mean(dim=0)
            baseline = (direction / direction.pow(2).mean().sqrt() * sizes).to(inputs.dtype)
        keep = torch.tensor(kept, device=inputs.device)[None, :, None]
        return torch.where(keep, inputs, baseline).clone()


def _check_steps(steps: Any) -> int:
    try:
        steps = int(steps)
    except (TypeError, ValueError):
        raise ValueError(f"steps must be a whole number, got {steps!r}.") from None
    if not 8 <= steps <= 512:
        raise ValueError(f"steps must be between 8 and 512 (integrated gradients' points along the path), got {steps}.")
    return steps


def _rollout_scores(prompt: str, model: str, progress: Progress) -> np.ndarray:
    """(T,) the last row of the last layer's attention rollout (the Attention tab's run, eager attention)."""
    from playground.attention import rollout_of, run_attention

    result = run_attention(prompt, model, progress)
    return rollout_of(result)[-1][-1].astype(np.float64)


def to_api(result: Attribution) -> dict[str, Any]:
    """The `attribute` API's JSON."""
    out = {
        "tokens": result.tokens, "token_ids": result.token_ids, "scores": result.scores.astype(float).tolist(),
        "target": result.target, "target_id": result.target_id, "target_logprob": result.target_logprob,
    }
    if result.method == "integrated_gradients":
        out["completeness_error"] = result.completeness_error
    out["note"] = " ".join(result.notes)
    return out
