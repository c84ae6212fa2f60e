r"""The logit lens (nostalgebraist, 2020), for decoders: the next token each layer would predict, read from that
layer's output through the model's final norm and output head.

    >>> from playground.attention import run_attention
    >>> lens = logit_lens(run_attention("The cat sat on the mat.", "smollm2-135m-instruct"))
    >>> lens.tokens[-1][-1][0]               # the last layer, last position: the model's own prediction
    '\n'
    >>> lens.probs.shape                     # (n_layers, positions, top_k)
    (30, 7, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from playground.attention.records import AttentionResult, LogitLens
from playground.attention.run import RESULTS, token_texts
from playground.models import load_model
from playground.progress import Progress, no_progress

__all__ = ["logit_lens"]


def logit_lens(result: AttentionResult, top_k: int = 3, start: int = 0, stop: int | None = None,
               progress: Progress = no_progress) -> LogitLens:
    """Top next-token predictions after every layer, for positions start..stop-1 (all by default):
    each layer's output read through the model's final norm and output head (nostalgebraist, 2020).
    Cached per result and window; a window keeps long inputs on big vocabularies quick."""
    if not result.causal or result.hidden_states is None:
        raise ValueError(f"{result.model} is an encoder: the logit lens reads next-token predictions, "
                         "which only decoders make; choose smollm2-135m-instruct or gemma-3-270m.")
    stop = result.num_tokens if stop is None else min(int(stop), result.num_tokens)
    start = int(start)
    if not 0 <= start < stop:
        raise ValueError(f"logit lens positions {start} to {stop - 1} are out of range: the text has positions "
                         f"0 to {result.num_tokens - 1}.")
    key = ("lens", result.model, result.text, int(top_k), start, stop)
    return RESULTS.get(key, lambda: _lens_with_size(_compute_lens(result, int(top_k), start, stop, progress)))


def _lens_with_size(lens: LogitLens) -> tuple[LogitLens, int]:
    return lens, lens.token_ids.nbytes + lens.probs.nbytes + 64 * lens.token_ids.size


def _compute_lens(result: AttentionResult, top_k: int, start: int, stop: int, progress: Progress) -> LogitLens:
    import torch

    loaded = load_model(result.model, progress, attn_implementation="eager")
    model = loaded.model
    norm = _final_norm(model)
    head = model.get_output_embeddings()
    cap = getattr(getattr(model.config, "text_config", None) or model.config, "final_logit_softcapping", None)
    n_layers = result.num_layers
    ids = np.zeros((n_layers, stop - start, top_k), dtype=np.int64)
    probs = np.zeros((n_layers, stop - start, top_k), dtype=np.float32)
    with torch.inference_mode():
        for layer in range(n_layers):
            progress(layer / n_layers, f"Logit lens: layer {layer + 1} of {n_layers}")
            hidden = torch.from_numpy(result.hidden_states[layer + 1, start:stop]).to(loaded.device, loaded.dtype)
            # transformers hands back the last hidden state already through the final norm.
            if layer < n_layers - 1:
                hidden = norm(hidden)
            logits = head(hidden).float()                                   # (T, vocab)
            if cap:
                logits = torch.tanh(logits / cap) * cap
            top = torch.softmax(logits, dim=-1).topk(top_k, dim=-1)
            ids[layer] = top.indices.cpu().numpy()
            probs[layer] = top.values.cpu().numpy()
    texts = [[token_texts(loaded.tokenizer, list(map(int, row))) for row in layer_ids] for layer_ids in ids]
    progress(1.0, "Logit lens done")
    return LogitLens(list(range(start, stop)), texts, ids, probs)


def _final_norm(model: Any):
    base = getattr(model, "model", None) or getattr(model, "transformer", None) or model.base_model
    for name in ("norm", "final_layernorm", "ln_f", "final_layer_norm"):
        module = getattr(base, name, None)
        if module is not None:
            return module
    raise ValueError(f"can't find the final norm of {type(model).__name__}, which the logit lens needs.")
