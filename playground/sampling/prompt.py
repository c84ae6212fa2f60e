"""1-2. The prompt as the model reads it (the chat template for chat models), and the size checks that keep a
comparison inside the context window and the memory budget."""

from __future__ import annotations

from typing import Any, Sequence

from playground.sampling.records import Prompt
from playground.sampling.strategies import MAX_NEW_TOKENS, MAX_SAMPLES, Strategy
from playground.settings import current

__all__ = ["build_prompt", "check_sizes", "end_tokens", "memory_budget"]


def memory_budget() -> int:
    """Bytes a comparison may use for its KV cache and logits (PLAYGROUND_SAMPLING_MEMORY_MB)."""
    return int(current().sampling_memory_mb * 2**20)


def build_prompt(tokenizer: Any, prompt: str, chat: bool, context_window: int, max_new_tokens: int) -> Prompt:
    """1-2. The token ids the model reads; the chat template wraps the prompt for chat models."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is empty: type a few words for the model to continue.")
    note = ""
    use_chat = False
    if chat:
        if getattr(tokenizer, "chat_template", None):
            use_chat = True
        else:
            note = "This model has no chat template (it is a base model), so the prompt is used as plain text."
    if use_chat:
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(prompt)["input_ids"]
        text = tokenizer.decode(ids)
    if not ids:
        raise ValueError("prompt gives no tokens: type a few words for the model to continue.")
    if len(ids) + max_new_tokens > context_window:
        raise ValueError(
            f"prompt has {len(ids)} tokens; with max_new_tokens={max_new_tokens} that is beyond the model's "
            f"context window of {context_window} tokens. Shorten the prompt or lower max_new_tokens.")
    return Prompt(text, tuple(int(i) for i in ids), use_chat, note)


def check_sizes(config: Any, strategies: Sequence[Strategy], prompt_len: int, max_new_tokens: int,
                samples: int = 1, vocab_size: int | None = None) -> None:
    """Refuse comparisons whose KV cache and logits would not fit the memory budget."""
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}.")
    if not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be between 1 and {MAX_SAMPLES}, got {samples}.")
    rows = sum(samples if s.samples else 1 for s in strategies if s.name != "beam")
    beams = max([s.num_beams for s in strategies if s.name == "beam"], default=0)
    layers = getattr(config, "num_hidden_layers", 12)
    heads = getattr(config, "num_attention_heads", 12)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or getattr(config, "hidden_size", 768) // heads
    vocab = vocab_size or getattr(config, "vocab_size", 50000)
    per_row = (prompt_len + max_new_tokens) * layers * 2 * kv_heads * head_dim * 4 + vocab * 4 * 8
    # Beam search keeps twice its width of candidates and the finished hypotheses beside the running ones.
    needed = per_row * max(rows, 3 * beams)
    if needed > memory_budget():
        raise ValueError(
            f"this comparison needs about {needed / 2**30:.1f} GiB ({rows} sampled rows, {beams} beams, "
            f"{prompt_len + max_new_tokens} tokens), above the {memory_budget() / 2**30:.1f} GiB budget: "
            "lower max_new_tokens, the number of samples or beams, or use fewer strategies.")


def end_tokens(model: Any, tokenizer: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}
