"""Activation patching (causal tracing, Meng et al. 2022): where in the model does the clean prompt's answer
come back when one piece of the clean run is copied into the corrupted run?

For every layer l and position p the corrupted prompt is run with one activation at (l, p) taken from the
clean run, and the target's probability is read at the end:

    restored[l, p] = (p_patched - p_corrupted) / (p_clean - p_corrupted)

`kind` picks the activation: "residual" (the residual stream after layer l), "attention" (what layer l's
attention adds) or "mlp" (what its MLP adds).

How it is batched: layers before l are the same as in the corrupted run, so they are never recomputed.
The corrupted run's layer inputs and the keyword arguments each layer was called with (mask, rotary
embeddings) are kept; then the layers are stepped through once, and at layer l the T runs patched there
join the batch: n_layers x T runs for the price of about half as many full forward passes.

    >>> result = patch("The Eiffel Tower is in the city of", "The Tower Bridge is in the city of",
    ...                "smollm2-135m-instruct")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: the clean prompt is 9 tokens and the corrupted prompt is 8 tokens: ...
    >>> result = patch("The Eiffel Tower is in the city of", "The Colosseum is in the city of",
    ...                "smollm2-135m-instruct")
    >>> result.target, result.restored.shape                 # (n_layers, T)
    (' Paris', (30, 9))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.inside.hooks import (Decoder, Hooks, Prompt, encode_prompt, first_tensor, load_decoder,
                                     logits_from_final, mlp_output_module, replace_first, resolve_target)
from playground.progress import Progress, no_progress

KINDS = ("residual", "attention", "mlp")
MAX_TOKENS = 64            # n_layers x T runs of T tokens: past 64 tokens this takes minutes on a CPU
ROWS_PER_CHUNK = 4096      # tokens run through a layer at once (bounds the MLP's activations)


@dataclass(frozen=True)
class Patching:
    model: str
    kind: str                    # "residual", "attention" or "mlp"
    clean_tokens: list[str]      # (T,)
    corrupted_tokens: list[str]  # (T,)
    target: str
    target_id: int
    target_note: str
    p_clean: float               # the target's probability after the clean prompt
    p_corrupted: float           # after the corrupted prompt
    p_patched: np.ndarray        # (n_layers, T) after the corrupted prompt with (layer, position) patched
    restored: np.ndarray         # (n_layers, T) (p_patched - p_corrupted) / (p_clean - p_corrupted)


@dataclass(frozen=True)
class _Runs:
    """What the batched patching reads from the two plain runs (torch tensors)."""
    layer_in: list[Any]          # (n_layers,) of (T, d): the corrupted run's input to each layer
    layer_kwargs: list[dict]     # (n_layers,) the keyword arguments each layer was called with
    corrupted_out: list[Any]     # (n_layers,) of (T, d): the corrupted run's output of each layer
    clean: list[Any]             # (n_layers,) of (T, d): the clean run's activation of `kind` at each layer
    clean_final: Any             # (T, d) the clean run's last layer output


def patch(clean: str, corrupted: str, model: str, target: str = "", kind: str = "residual",
          progress: Progress = no_progress) -> Patching:
    """Every (layer, position) of `kind` patched from the clean run into the corrupted one, batched."""
    import torch

    decoder, clean_prompt, corrupted_prompt = _prompts(clean, corrupted, model, kind, progress)
    runs = _plain_runs(decoder, clean_prompt, corrupted_prompt, kind)
    chosen, p_clean, p_corrupted = _target(decoder, clean_prompt, runs, target)
    n_layers, t = decoder.num_layers, len(clean_prompt.token_ids)
    positions = torch.arange(t)
    state = runs.layer_in[0].new_zeros((0, t, runs.layer_in[0].shape[-1]))        # (runs so far, T, d)
    with Hooks() as hooks, torch.inference_mode():
        plan: dict[str, Any] = {}
        if kind != "residual":
            for index, layer in enumerate(decoder.layers):
                hooks.post(_patched_module(layer, kind), _patcher(plan, runs.clean[index]))
        for index, layer in enumerate(decoder.layers):
            progress(index / n_layers, f"Patching layer {index + 1} of {n_layers} ({len(state) + t} runs)")
            if kind == "residual":
                state = _run_layer(layer, state, runs.layer_kwargs[index], plan, first_new=None)
                fresh = runs.corrupted_out[index].expand(t, t, -1).clone()                       # (T, T, d)
                fresh[positions, positions] = runs.clean[index]
                state = torch.cat([state, fresh])
            else:
                fresh = runs.layer_in[index].expand(t, t, -1)
                state = _run_layer(layer, torch.cat([state, fresh]), runs.layer_kwargs[index], plan,
                                   first_new=len(state))
        probs = torch.softmax(logits_from_final(decoder, state[:, -1]), dim=-1)[:, chosen.token_id]   # (L*T,)
    p_patched = probs.double().cpu().numpy().reshape(n_layers, t)
    progress(1.0, "Patching done")
    return _result(decoder, kind, clean_prompt, corrupted_prompt, chosen, p_clean, p_corrupted, p_patched)


def patch_one(clean: str, corrupted: str, model: str, layer: int, positions: list[int], target: str = "",
              kind: str = "residual") -> Patching:
    """One patched run: `kind` at `layer` copied from the clean run at all of `positions` at once (the
    single cell of `restored` is at [0, 0]). For checking the batched heatmap and for what-ifs."""
    import torch

    decoder, clean_prompt, corrupted_prompt = _prompts(clean, corrupted, model, kind, no_progress)
    runs = _plain_runs(decoder, clean_prompt, corrupted_prompt, kind)
    chosen, p_clean, p_corrupted = _target(decoder, clean_prompt, runs, target)
    if not 0 <= int(layer) < decoder.num_layers:
        raise ValueError(f"layer {layer} is out of range: {decoder.name} has layers 0 to {decoder.num_layers - 1}.")
    where = torch.tensor(sorted({int(p) for p in positions}), dtype=torch.long)
    if len(where) and not (0 <= int(where.min()) and int(where.max()) < len(clean_prompt.token_ids)):
        raise ValueError(f"positions must be between 0 and {len(clean_prompt.token_ids) - 1}, got {positions!r}.")
    with Hooks() as hooks, torch.inference_mode():
        state = runs.layer_in[0][None]
        for index, module in enumerate(decoder.layers):
            if index == layer and kind != "residual":
                def replace(m, args, out, clean=runs.clean[index]):
                    value = first_tensor(out).clone()
                    value[:, where] = clean[where]
                    return replace_first(out, value)
                hooks.post(_patched_module(module, kind), replace)
            state = first_tensor(module(state, **runs.layer_kwargs[index]))
            if index == layer and kind == "residual":
                state = state.clone()
                state[:, where] = runs.clean[index][where]
        prob = torch.softmax(logits_from_final(decoder, state[:, -1]), dim=-1)[0, chosen.token_id]
    return _result(decoder, kind, clean_prompt, corrupted_prompt, chosen, p_clean, p_corrupted,
                   np.array([[float(prob)]]))


def _prompts(clean: str, corrupted: str, model: str, kind: str, progress: Progress) -> tuple[Decoder, Prompt, Prompt]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}.")
    decoder = load_decoder(model, progress)
    clean_prompt = encode_prompt(decoder, clean, "clean prompt", MAX_TOKENS)
    corrupted_prompt = encode_prompt(decoder, corrupted, "corrupted prompt", MAX_TOKENS)
    a, b = len(clean_prompt.token_ids), len(corrupted_prompt.token_ids)
    if a != b:
        raise ValueError(f"the clean prompt is {a} tokens and the corrupted prompt is {b} tokens: they must tokenize "
                         "to the same length, so that each position means the same in both. Change words for words "
                         "of the same number of tokens (the token counts are shown under the prompts).")
    if clean_prompt.token_ids == corrupted_prompt.token_ids:
        raise ValueError("the clean and corrupted prompts are the same tokens: change a word in the corrupted one.")
    return decoder, clean_prompt, corrupted_prompt


def _plain_runs(decoder: Decoder, clean: Prompt, corrupted: Prompt, kind: str) -> _Runs:
    import torch

    device = decoder.loaded.device
    clean_acts, clean_out, layer_in, layer_kwargs, corrupted_out = [], [], [], [], []

    def keep_kwargs(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        layer_in.append(hidden[0])
        layer_kwargs.append({key: value for key, value in kwargs.items() if key != "hidden_states"})

    with torch.inference_mode():
        with Hooks() as hooks:
            for layer in decoder.layers:
                hooks.post(layer, lambda m, args, out: clean_out.append(first_tensor(out)[0]))
                if kind != "residual":
                    hooks.post(_patched_module(layer, kind), lambda m, args, out: clean_acts.append(first_tensor(out)[0]))
            decoder.model(input_ids=torch.tensor([clean.token_ids], device=device), use_cache=False)
        with Hooks() as hooks:
            for layer in decoder.layers:
                hooks.pre_kwargs(layer, keep_kwargs)
                hooks.post(layer, lambda m, args, out: corrupted_out.append(first_tensor(out)[0]))
            decoder.model(input_ids=torch.tensor([corrupted.token_ids], device=device), use_cache=False)
    if not (len(clean_out) == len(layer_in) == decoder.num_layers):
        raise ValueError(f"model {decoder.name!r} did not run each decoder layer once, so it can't be patched.")
    return _Runs(layer_in, layer_kwargs, corrupted_out, clean_out if kind == "residual" else clean_acts,
                 clean_out[-1])


def _target(decoder: Decoder, clean: Prompt, runs: _Runs, typed: str) -> tuple[Any, float, float]:
    """The target (default: the clean prompt's most likely next token) and its probability after each prompt,
    read from the last layer's output the same way the patched runs are read."""
    import torch

    with torch.inference_mode():
        clean_logits = logits_from_final(decoder, runs.clean_final[-1:])
        chosen = resolve_target(decoder, clean, torch.log_softmax(clean_logits[0], dim=-1), typed)
        clean_probs = torch.softmax(clean_logits, dim=-1)[0]      # as the patched runs are read, bit for bit
        corrupted = torch.softmax(logits_from_final(decoder, runs.corrupted_out[-1][-1:]), dim=-1)[0]
    p_clean, p_corrupted = float(clean_probs[chosen.token_id]), float(corrupted[chosen.token_id])
    if abs(p_clean - p_corrupted) < 1e-6:
        raise ValueError(f"both prompts give {chosen.text!r} the same probability ({p_clean:.4f}): there is nothing "
                         "to restore. Change the corrupted prompt so that the answer changes, or pick another target.")
    return chosen, p_clean, p_corrupted


def _patched_module(layer: Any, kind: str) -> Any:
    """The module whose output is what the attention ("attention") or the MLP ("mlp") adds to the residual."""
    return layer.self_attn if kind == "attention" else mlp_output_module(layer)


def _patcher(plan: dict[str, Any], clean: Any):
    """A forward hook that copies the clean activation (T, d) into the rows the plan names, each at its
    own position: row plan["rows"][i] gets position plan["positions"][i]."""
    def hook(module, args, out):
        if plan.get("rows") is None or len(plan["rows"]) == 0:
            return None
        value = first_tensor(out).clone()
        value[plan["rows"], plan["positions"]] = clean[plan["positions"]]
        return replace_first(out, value)
    return hook


def _run_layer(layer: Any, state: Any, kwargs: dict, plan: dict[str, Any], first_new: int | None) -> Any:
    """`layer` on every run of `state` (runs, T, d), in chunks of at most ROWS_PER_CHUNK tokens; rows from
    `first_new` on are the runs that start at this layer, row first_new + p patched at position p."""
    import torch

    if len(state) == 0:
        return state
    t = state.shape[1]
    step = max(1, ROWS_PER_CHUNK // t)
    outputs = []
    for start in range(0, len(state), step):
        chunk = state[start:start + step]
        if first_new is not None:
            rows = torch.arange(max(start, first_new), max(start + len(chunk), first_new))
            plan["rows"], plan["positions"] = rows - start, rows - first_new
        outputs.append(first_tensor(layer(chunk, **kwargs)))
        plan.clear()
    return torch.cat(outputs)


def _result(decoder: Decoder, kind: str, clean: Prompt, corrupted: Prompt, chosen: Any, p_clean: float,
            p_corrupted: float, p_patched: np.ndarray) -> Patching:
    restored = (p_patched - p_corrupted) / (p_clean - p_corrupted)
    note = chosen.note
    if p_corrupted > p_clean:
        note += (f" The corrupted prompt makes {chosen.text!r} more likely than the clean one does, so 1 means "
                 "'as unlikely as after the clean prompt'.")
    return Patching(decoder.name, kind, clean.tokens, corrupted.tokens, chosen.text, chosen.token_id, note.strip(),
                    p_clean, p_corrupted, p_patched, restored)


def to_api(result: Patching) -> dict[str, Any]:
    """The `patch` API's JSON: `restored` as a layers x positions list."""
    return {
        "tokens": result.clean_tokens, "target": result.target, "target_id": result.target_id,
        "p_clean": result.p_clean, "p_corrupted": result.p_corrupted,
        "restored": result.restored.astype(float).tolist(), "kind": result.kind, "note": result.target_note,
    }
