"""Direct logit attribution: how much the embedding, each attention block, each head and each MLP block
pushed the target's logit up or down at the last position.

The last position's final residual stream is a sum: the token's embedding plus what every layer's attention
and MLP added to it. The logit is W_U[target] . norm(h), and with the final RMSNorm's scale taken from
the actual run (1 / rms(h), a number) the norm is linear, so the logit splits into one term per part:

    logit = sum over parts c of  (W_U[target] * gain / rms(h)) . c

A head's part is its slice of o_proj's input through its columns of o_proj (Gemma's norm after attention
linearised the same way, with its scale from the run).

    >>> result = contributions("The Eiffel Tower is in the city of", "smollm2-135m-instruct")
    >>> result.target
    ' Paris'
    >>> total = sum(c.value for c in result.components if c.head is None)
    >>> abs(total - result.logit) < 1e-3 * abs(result.logit)
    True
    >>> result.grid().shape                  # (n_layers, n_heads + 2): heads, attention, MLP
    (30, 11)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.attention import token_texts
from playground.inside.hooks import (Decoder, Hooks, encode_prompt, first_tensor, load_decoder, mlp_output_module,
                                     resolve_target)
from playground.progress import Progress, no_progress

TOP_K = 5                  # tokens shown as each component's most promoted and most suppressed
COMPONENT_CHUNK = 64       # components projected onto the vocabulary at once (memory: chunk x vocab floats)


@dataclass(frozen=True)
class Component:
    layer: int | None          # None for the embedding
    kind: str                  # "embedding", "attention" or "mlp"
    head: int | None           # set for one head's share of its layer's attention
    value: float               # its direct effect on the target's logit
    promotes: list[str]        # (TOP_K,) tokens whose logits it raises most
    suppresses: list[str]      # (TOP_K,) tokens whose logits it lowers most


@dataclass(frozen=True)
class Contributions:
    model: str
    tokens: list[str]          # (T,) the prompt's tokens
    target: str
    target_id: int
    target_note: str
    logit: float               # the model's own logit for the target at the last position
    logprob: float             # its log-probability
    num_layers: int
    num_heads: int
    components: list[Component]  # the embedding, then per layer its heads, its attention block, its MLP
    notes: list[str]

    def grid(self) -> np.ndarray:
        """(n_layers, n_heads + 2): each head, then the whole attention block, then the MLP, per layer."""
        grid = np.zeros((self.num_layers, self.num_heads + 2))
        for c in self.components:
            if c.layer is None:
                continue
            column = c.head if c.head is not None else self.num_heads + (c.kind == "mlp")
            grid[c.layer, column] = c.value
        return grid

    def embedding(self) -> Component:
        return next(c for c in self.components if c.kind == "embedding")


def contributions(prompt: str, model: str, target: str = "", progress: Progress = no_progress) -> Contributions:
    """Run the model once on `prompt` and split its logit for `target` (default: the most likely next token)."""
    import torch

    decoder = load_decoder(model, progress)
    tokens = encode_prompt(decoder, prompt)
    progress(0.5, f"Running {decoder.name} on {len(tokens.token_ids)} tokens")
    run = _capture(decoder, tokens.token_ids)
    logprobs = torch.log_softmax(run["logits"].float(), dim=-1)
    chosen = resolve_target(decoder, tokens, logprobs, target)
    logit = float(run["logits"][chosen.token_id])

    with torch.inference_mode():
        head = decoder.model.get_output_embeddings()
        final = run["layer_out"][-1]
        final_scale = frozen_scale(decoder.final_norm, final, f"the final norm of {decoder.name}")   # (d,)
        direction = head.weight[chosen.token_id].double() * final_scale                                 # (d,)
        vectors, labels = _component_vectors(decoder, run)                                              # (C, d)
        values = vectors @ direction                                                                    # (C,)
        notes = []
        if getattr(head, "bias", None) is not None:
            values[0] += float(head.bias[chosen.token_id])
            notes.append("The output head's bias for the target is counted with the embedding.")
        raw = float(values[[i for i, label in enumerate(labels) if label[2] is None]].sum())
        if decoder.softcap:
            # logit = cap * tanh(raw / cap): the parts add up to `raw`; share the capped logit out in proportion.
            values = values * (logit / raw if raw else 1.0)
            notes.append(f"{decoder.name} soft-caps its logits (cap {decoder.softcap}); the parts are scaled by "
                         f"{logit / raw if raw else 1.0:.3f} so that they add up to the capped logit.")
    progress(0.8, "Finding the tokens each part promotes")
    promoted, suppressed = _top_tokens(decoder, vectors, final_scale, TOP_K)
    components = [Component(layer, kind, head_index, float(value), up, down)
                  for (layer, kind, head_index), value, up, down in zip(labels, values.tolist(), promoted, suppressed)]
    progress(1.0, "Contributions done")
    return Contributions(decoder.name, tokens.tokens, chosen.text, chosen.token_id, chosen.note, logit,
                         float(logprobs[chosen.token_id]), decoder.num_layers, decoder.num_heads, components, notes)


def _capture(decoder: Decoder, ids: list[int]) -> dict[str, Any]:
    """One forward pass, keeping at the last position: each layer's input and output (d,), o_proj's input
    (n_heads * head_dim,) and output (d,), and what the MLP adds to the residual stream (d,)."""
    import torch

    run: dict[str, list] = {"layer_in": [], "layer_out": [], "heads_in": [], "attn_out": [], "mlp_out": []}

    def keep(name):
        return lambda tensor: run[name].append(first_tensor(tensor)[0, -1].detach().double())

    with Hooks() as hooks, torch.inference_mode():
        for layer in decoder.layers:
            hooks.pre_kwargs(layer, lambda m, args, kwargs: keep("layer_in")(args[0] if args else kwargs["hidden_states"]))
            hooks.post(layer, lambda m, args, out: keep("layer_out")(out))
            hooks.pre(layer.self_attn.o_proj, lambda m, args: keep("heads_in")(args[0]))
            hooks.post(layer.self_attn.o_proj, lambda m, args, out: keep("attn_out")(out))
            hooks.post(mlp_output_module(layer), lambda m, args, out: keep("mlp_out")(out))
        logits = decoder.model(input_ids=torch.tensor([ids], device=decoder.loaded.device)).logits[0, -1]
    if any(len(values) != decoder.num_layers for values in run.values()):
        raise ValueError(f"model {decoder.name!r} did not run each layer's attention and MLP once per layer, "
                         "so their contributions can't be read.")
    return {**run, "logits": logits.float()}


def _component_vectors(decoder: Decoder, run: dict[str, Any]) -> tuple[Any, list[tuple]]:
    """(C, d) float64: what each part adds to the last position's residual stream, with its (layer, kind, head)."""
    import torch

    vectors = [run["layer_in"][0]]
    labels: list[tuple] = [(None, "embedding", None)]
    for index, layer in enumerate(decoder.layers):
        mlp = run["mlp_out"][index]
        attention = run["layer_out"][index] - run["layer_in"][index] - mlp
        heads = _head_vectors(decoder, index, layer, run, attention)
        vectors += [*heads, attention, mlp]
        labels += [(index, "attention", h) for h in range(decoder.num_heads)]
        labels += [(index, "attention", None), (index, "mlp", None)]
    return torch.stack(vectors), labels


def _head_vectors(decoder: Decoder, index: int, layer: Any, run: dict[str, Any], attention: Any) -> Any:
    """(n_heads, d): each head's slice of o_proj's input through its own columns of o_proj, and through the
    norm after attention (Gemma) when the layer has one. Checked to add up to the attention block."""
    import torch

    o_proj = layer.self_attn.o_proj
    z = run["heads_in"][index].view(decoder.num_heads, decoder.head_dim)                          # (H, hd)
    weight = o_proj.weight.double().view(-1, decoder.num_heads, decoder.head_dim)                 # (d, H, hd)
    heads = torch.einsum("dhk,hk->hd", weight, z)                                                # (H, d)
    bias = o_proj.bias.double() if getattr(o_proj, "bias", None) is not None else 0.0
    candidates = [heads]
    if getattr(layer, "pre_feedforward_layernorm", None) is not None:       # Gemma: norm, then residual
        scale = frozen_scale(layer.post_attention_layernorm, run["attn_out"][index],
                             f"layer {index}'s norm after attention in {decoder.name}")
        candidates.insert(0, heads * scale)
        bias = bias * scale
    size = float(attention.abs().max()) or 1.0
    for candidate in candidates:
        if float((candidate.sum(dim=0) + bias - attention).abs().max()) <= 1e-3 * size:
            return candidate
    raise ValueError(f"model {decoder.name!r}: the heads of layer {index} don't add up to what its attention adds "
                     "to the residual stream, so its heads can't be split apart.")


def frozen_scale(norm: Any, x: Any, what: str) -> Any:
    """(d,) float64 such that norm(x) == x * scale: an RMSNorm's gain over x's root mean square.

    The gain is read from the module itself (LLaMA multiplies by its weight, Gemma by 1 + weight):
    norm(ones) * sqrt(1 + eps). A norm that is not an RMSNorm fails the check and says so."""
    import torch

    eps = next((float(getattr(norm, name)) for name in ("variance_epsilon", "eps", "epsilon") if hasattr(norm, name)),
               None)
    if eps is None:
        raise ValueError(f"{what} has no epsilon, so it is not an RMSNorm these tools can linearise.")
    parameter = next(norm.parameters())
    with torch.inference_mode():
        ones = torch.ones(1, x.shape[-1], dtype=parameter.dtype, device=parameter.device)
        gain = norm(ones)[0].double() * math.sqrt(1 + eps)
        scale = gain / torch.sqrt(x.pow(2).mean() + eps)
        actual = norm(x.to(parameter.dtype)[None])[0].double()
    if not torch.allclose(actual, x * scale, rtol=1e-3, atol=1e-4 * float(actual.abs().max())):
        raise ValueError(f"{what} is not an RMSNorm (x / rms(x) times a gain), so its effect can't be split "
                         "into parts that add up.")
    return scale


def _top_tokens(decoder: Decoder, vectors: Any, final_scale: Any, k: int) -> tuple[list[list[str]], list[list[str]]]:
    """Per component, the k tokens whose logits it raises most and the k it lowers most."""
    import torch

    tokenizer = decoder.loaded.tokenizer
    weight = decoder.model.get_output_embeddings().weight
    promoted, suppressed = [], []
    with torch.inference_mode():
        scaled = (vectors * final_scale).to(weight.dtype)                                           # (C, d)
        for start in range(0, scaled.shape[0], COMPONENT_CHUNK):
            effects = scaled[start:start + COMPONENT_CHUNK] @ weight.T                               # (c, vocab)
            for row_up, row_down in zip(effects.topk(k).indices.tolist(), (-effects).topk(k).indices.tolist()):
                promoted.append(token_texts(tokenizer, row_up))
                suppressed.append(token_texts(tokenizer, row_down))
    return promoted, suppressed


def to_api(result: Contributions) -> dict[str, Any]:
    """The `contributions` API's JSON: the embedding, attention and MLP values add up to `logit`."""
    return {
        "target": result.target, "target_id": result.target_id, "logit": result.logit,
        "components": [{"layer": c.layer, "kind": c.kind, "head": c.head, "value": c.value}
                       for c in result.components],
        "note": " ".join(filter(None, [result.target_note, *result.notes])),
    }
