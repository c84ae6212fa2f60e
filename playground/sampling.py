"""Sampling: decoding strategies side by side, one step at a time.

Generation is a loop: the model gives a distribution over the next token, a strategy picks one, repeat.
Every sampling strategy of a comparison runs in ONE batched loop with a shared prompt KV cache (one row per
strategy and sample); each row has its own transformers warpers and its own seeded torch.Generator, so a row's
tokens never depend on the rows beside it. Beam search runs through `model.generate` itself, with a recording
logits processor that rebuilds the tree of kept and pruned beams.

    >>> strategies = parse_strategies([{"name": "greedy"}, {"name": "top_k", "k": 5, "temperature": 0.8}])
    >>> run = compare("smollm2-135m-instruct", "Tell me a joke.", strategies, max_new_tokens=8, seed=0)
    >>> run.results[0].text                    # == model.generate(do_sample=False) decoded
    "What's a joke about a person who"
    >>> step = run.results[1].steps[0]
    >>> [s.name for s in step.stages]          # what happened to the distribution, in order
    ['model', 'temperature', 'top-k']
    >>> step.stages[2].kept                    # tokens left after top-k
    5

Numbered steps of one comparison (`stream_comparison`):
    1. validate strategies, prompt and sizes (ValueError naming the argument and the fix);
    2. build the prompt (chat template for chat models) and check it fits the context window;
    3. run every sampling strategy in one batched loop, yielding a snapshot per step (tokens stream);
    4. run each beam search through `model.generate`, recording its tree (a snapshot every half second says
       how far it has got).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from playground import public

Progress = Callable[[float, str], None]

STRATEGY_NAMES = ("greedy", "beam", "top_k", "top_p", "temperature", "min_p", "typical")
ALIASES = {"nucleus": "top_p", "beam_search": "beam", "topk": "top_k", "topp": "top_p", "minp": "min_p",
           "typical_p": "typical", "sample": "temperature"}
# Which keys each strategy accepts (besides "name"), with their defaults.
PARAMETERS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "beam": {"num_beams": 4},
    "top_k": {"k": 50, "temperature": 1.0},
    "top_p": {"p": 0.9, "temperature": 1.0, "k": None},
    "temperature": {"temperature": 1.0},
    "min_p": {"min_p": 0.05, "temperature": 1.0, "k": None},
    "typical": {"mass": 0.9, "temperature": 1.0, "k": None},
}

MAX_STRATEGIES = 8
MAX_NEW_TOKENS = 512
MAX_BEAMS = 16
MAX_SAMPLES = 64
MAX_TEMPERATURE = 10.0
TOP_CANDIDATES = 10      # candidates recorded per stage and step


def memory_budget() -> int:
    """Bytes a comparison may use for its KV cache and logits (PLAYGROUND_SAMPLING_MEMORY_MB overrides)."""
    return int(float(os.environ.get("PLAYGROUND_SAMPLING_MEMORY_MB", "4096")) * 2**20)


def _quiet(fraction: float, message: str) -> None:
    return None


# ----------------------------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Strategy:
    name: str                     # one of STRATEGY_NAMES
    temperature: float = 1.0      # > 0; 1 leaves the distribution as the model gave it
    k: int | None = None          # top-k: keep the k most likely tokens
    p: float | None = None        # top-p: keep the smallest set whose probability reaches p
    min_p: float | None = None    # min-p: drop tokens below min_p x (probability of the top token)
    mass: float | None = None     # typical: keep the most "typical" tokens up to this mass
    num_beams: int = 1            # beam search width

    @property
    def samples(self) -> bool:
        """True for strategies that draw at random (everything but greedy and beam)."""
        return self.name not in ("greedy", "beam")

    def label(self) -> str:
        if self.name == "greedy":
            return "greedy"
        if self.name == "beam":
            return f"beam ×{self.num_beams}"
        parts = [f"T={self.temperature:g}"]
        if self.k is not None:
            parts.append(f"k={self.k}")
        for name, value in (("p", self.p), ("min_p", self.min_p), ("mass", self.mass)):
            if value is not None:
                parts.append(f"{name}={value:g}")
        return f"{self.name} ({', '.join(parts)})"

    def to_dict(self) -> dict:
        allowed = PARAMETERS[self.name]
        return {"name": self.name, **{key: getattr(self, key) for key in allowed if getattr(self, key) is not None}}


def parse_strategy(spec: Any, index: int = 0) -> Strategy:
    """Validate one strategy dict such as {"name": "top_k", "k": 50, "temperature": 1.0}."""
    where = f"strategy {index + 1}"
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a dict such as {{\"name\": \"greedy\"}}, got {type(spec).__name__}.")
    raw_name = str(spec.get("name", "")).strip().lower()
    name = ALIASES.get(raw_name, raw_name)
    if name not in PARAMETERS:
        raise ValueError(f"{where}: unknown strategy name {spec.get('name')!r}; "
                         f"choose one of {', '.join(STRATEGY_NAMES)}.")
    allowed = PARAMETERS[name]
    unknown = sorted(set(spec) - {"name"} - set(allowed))
    if name in ("min_p", "typical") and "p" in unknown and name not in spec:
        unknown.remove("p")   # {"name": "min_p", "p": 0.1} reads naturally; accept it
    if unknown:
        expected = ", ".join(allowed) or "no parameters"
        raise ValueError(f"{where} ({name}): unknown parameter(s) {', '.join(unknown)}; expected {expected}.")
    values = {key: spec.get(key, default) for key, default in allowed.items()}
    if name == "min_p" and "p" in spec and "min_p" not in spec:
        values["min_p"] = spec["p"]
    if name == "typical" and "p" in spec and "mass" not in spec:
        values["mass"] = spec["p"]

    if "temperature" in values:
        values["temperature"] = _temperature(values["temperature"], where, name)
    if values.get("k") is not None:
        values["k"] = _integer(values["k"], f"{where} ({name}): k")
        if values["k"] < 1:
            raise ValueError(f"{where} ({name}): k must be at least 1 (k = 1 is greedy), got {values['k']}.")
    if name == "top_p":
        values["p"] = _fraction(values["p"], f"{where} (top_p): p", upper_open=False)
    if name == "min_p":
        values["min_p"] = _fraction(values["min_p"], f"{where} (min_p): min_p", upper_open=False)
    if name == "typical":
        values["mass"] = _fraction(values["mass"], f"{where} (typical): mass", upper_open=True)
    if name == "beam":
        beams = _integer(values["num_beams"], f"{where} (beam): num_beams")
        if not 1 <= beams <= MAX_BEAMS:
            raise ValueError(f"{where} (beam): num_beams must be between 1 and {MAX_BEAMS} "
                             f"(more beams need more memory), got {beams}.")
        values["num_beams"] = beams
    return Strategy(name=name, **values)


def parse_strategies(specs: Any) -> list[Strategy]:
    """Validate a list of strategy dicts (what the API takes) into Strategy objects, in order."""
    if isinstance(specs, (Strategy, dict, str)):
        specs = [specs]
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError('strategies is empty: give a list such as [{"name": "greedy"}, {"name": "top_k", "k": 50}].')
    if len(specs) > MAX_STRATEGIES:
        raise ValueError(f"strategies: at most {MAX_STRATEGIES} strategies at once, got {len(specs)}; remove some.")
    return [spec if isinstance(spec, Strategy) else parse_strategy(spec, i) for i, spec in enumerate(specs)]


def _temperature(value: Any, where: str, name: str) -> float:
    try:
        temperature = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} ({name}): temperature must be a number, got {value!r}.") from None
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{where} ({name}): temperature must be above 0, got {value!r}. Temperature 0 means always "
                         'taking the most likely token: use {"name": "greedy"} for that.')
    if temperature > MAX_TEMPERATURE:
        raise ValueError(f"{where} ({name}): temperature {temperature:g} is above {MAX_TEMPERATURE:g}; "
                         "such a flat distribution gives noise. Use a value between 0.1 and 2.")
    return temperature


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a whole number, got {value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {value!r}.") from None
    if not number.is_integer():
        raise ValueError(f"{what} must be a whole number, got {value!r}.")
    return int(number)


def _fraction(value: Any, what: str, upper_open: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in (0, 1], got {value!r}.") from None
    if upper_open:
        if not 0 < number < 1:
            raise ValueError(f"{what} must be strictly between 0 and 1, got {value!r}.")
    elif not 0 < number <= 1:
        raise ValueError(f"{what} must be in (0, 1] (1 keeps every token), got {value!r}.")
    return number


def build_warpers(strategy: Strategy) -> list[tuple[str, Any]]:
    """The transformers warpers of a sampling strategy, in the order they apply:
    temperature, then top-k, then top-p / min-p / typical. Greedy and beam have none."""
    from transformers import (MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper,
                              TypicalLogitsWarper)

    if not strategy.samples:
        return []
    stages: list[tuple[str, Any]] = [("temperature", TemperatureLogitsWarper(float(strategy.temperature)))]
    if strategy.k is not None:
        stages.append(("top-k", TopKLogitsWarper(strategy.k)))
    if strategy.p is not None:
        stages.append(("top-p", TopPLogitsWarper(strategy.p)))
    if strategy.min_p is not None:
        stages.append(("min-p", MinPLogitsWarper(strategy.min_p)))
    if strategy.mass is not None:
        stages.append(("typical", TypicalLogitsWarper(strategy.mass)))
    return stages


# ----------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Stage:
    name: str                  # "model", "temperature", "top-k", "top-p", "min-p", "typical"
    token_ids: np.ndarray      # (K,) most likely tokens after this stage
    probs: np.ndarray          # (K,) their probabilities after this stage
    kept: int                  # tokens with non-zero probability after this stage
    removed: int               # tokens this stage removed
    removed_ids: np.ndarray    # (R,) removed tokens the model found most likely, R <= K
    removed_probs: np.ndarray  # (R,) their model probabilities
    texts: tuple[str, ...] = ()          # (K,) the tokens of token_ids, decoded
    removed_texts: tuple[str, ...] = ()  # (R,)


@dataclass(frozen=True)
class TokenStep:
    step: int
    token_id: int
    logprob: float             # log p_model(token): the model's own distribution, before any transform
    sample_logprob: float      # log probability under the distribution the token was drawn from
    entropy: float             # nats, of the model's distribution
    stages: tuple[Stage, ...]  # model first, then each transform in order


@dataclass(frozen=True)
class StepBatch:
    step: int
    token_ids: np.ndarray      # (B,) chosen token per row; -1 for rows already finished
    logprobs: np.ndarray       # (B,) log p_model of the chosen tokens
    steps: tuple[TokenStep | None, ...]  # (B,) details per row when recording, else None


@dataclass(frozen=True)
class Prompt:
    text: str                  # exactly what the model reads (chat template applied when used)
    token_ids: tuple[int, ...]
    chat: bool                 # whether the chat template was applied
    note: str                  # e.g. why the template was not applied


@dataclass(frozen=True)
class BeamNode:
    id: int
    parent: int                # -1 for children of the prompt
    step: int
    token_id: int
    token: str
    logprob: float             # log p(token | parent beam)
    score: float               # cumulative log probability of the beam
    status: str                # "kept" (continues), "finished" (ended: end token or length), "pruned"
    on_output: bool            # part of the returned sequence


@dataclass(frozen=True)
class BeamTree:
    num_beams: int
    nodes: tuple[BeamNode, ...]


@dataclass(frozen=True)
class StrategyResult:
    strategy: Strategy
    token_ids: tuple[int, ...]       # new tokens only (an end token included, as generate returns it)
    tokens: tuple[str, ...]          # each token decoded on its own
    token_logprobs: tuple[float, ...]
    entropies: tuple[float, ...]
    steps: tuple[TokenStep, ...]
    text: str                        # decoded without special tokens
    ended_by: str                    # "end token", "length", "running", or "waiting" (a beam search whose turn
                                     # has not come: beam searches run after the sampling loop, one at a time)
    beam_tree: BeamTree | None = None
    searched: int = 0                # a beam search that is running: the steps it has taken so far

    def to_dict(self, details: bool = True) -> dict:
        out = {
            "strategy": self.strategy.to_dict(),
            "label": self.strategy.label(),
            "text": self.text,
            "token_ids": list(self.token_ids),
            "tokens": list(self.tokens),
            "token_logprobs": [round(x, 6) for x in self.token_logprobs],
            "entropies": [round(x, 6) for x in self.entropies],
            "ended_by": self.ended_by,
        }
        if details:
            out["steps"] = [_step_dict(step) for step in self.steps]
            if self.beam_tree is not None:
                out["beam_tree"] = [asdict(node) for node in self.beam_tree.nodes]
        return out


@dataclass(frozen=True)
class Comparison:
    model: str
    prompt: Prompt
    seed: int
    max_new_tokens: int
    results: tuple[StrategyResult, ...]
    done: bool
    seconds: float

    def to_dict(self, details: bool = True) -> dict:
        return {
            "model": self.model,
            "prompt": self.prompt.text,
            "prompt_token_ids": list(self.prompt.token_ids),
            "chat_template": self.prompt.chat,
            "note": self.prompt.note,
            "seed": self.seed,
            "max_new_tokens": self.max_new_tokens,
            "done": self.done,
            "seconds": round(self.seconds, 3),
            "results": [result.to_dict(details) for result in self.results],
        }


def _step_dict(step: TokenStep) -> dict:
    return {
        "step": step.step, "token_id": step.token_id, "logprob": round(step.logprob, 6),
        "sample_logprob": round(step.sample_logprob, 6), "entropy": round(step.entropy, 6),
        "stages": [{"name": s.name, "token_ids": s.token_ids.tolist(), "probs": np.round(s.probs, 6).tolist(),
                    "tokens": list(s.texts), "kept": s.kept, "removed": s.removed,
                    "removed_ids": s.removed_ids.tolist(), "removed_tokens": list(s.removed_texts)}
                   for s in step.stages],
    }


# ----------------------------------------------------------------------------------------------- prompt


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


def _end_tokens(model: Any, tokenizer: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    if eos is None:
        return set()
    return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}


# ----------------------------------------------------------------------------------------------- the loop


def sample_steps(lm: Any, prompt_ids: Sequence[int], strategies: Sequence[Strategy], max_new_tokens: int,
                 seed: int, samples: int = 1, record: bool = True,
                 top: int = TOP_CANDIDATES, stop_at_end: bool = True) -> Iterator[StepBatch]:
    """3. One batched decoding loop with a KV cache for all greedy and sampling strategies.

    Rows are strategy-major: strategy 0 samples 0..n-1, strategy 1 ... (greedy has one row, it is deterministic).
    Row (strategy, j) draws from its own torch.Generator seeded with seed + j, so the same seed gives the same
    sample whatever runs beside it. Yields one StepBatch per generated position.
    """
    import torch

    rows = row_layout(strategies, samples)
    if not rows:
        return
    model = lm.model
    device = lm.device
    end_tokens = _end_tokens(model, lm.tokenizer)
    stage_lists = [build_warpers(strategies[s]) for s, _ in rows]
    generators = [torch.Generator(device=device).manual_seed(int(seed) + j) for _, j in rows]
    groups = _groups(rows)
    batch = len(rows)
    finished = torch.zeros(batch, dtype=torch.bool)
    pad = next(iter(end_tokens), 0)
    decode = _memo_decoder(lm.tokenizer)

    with torch.inference_mode():
        ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        if batch > 1:
            cache.batch_repeat_interleave(batch)      # one prompt prefill shared by every row
        logits = out.logits[:, -1, :].float().expand(batch, -1)
        history = ids.expand(batch, -1)
    for step in range(max_new_tokens):
        # Gradio may resume this generator on another worker thread, and inference mode is per
        # thread: each stretch of work between two yields enters it afresh.
        with torch.inference_mode():
            chosen, logprobs, details = _choose(logits, history, rows, strategies, stage_lists, generators, groups,
                                                step, record, top, decode)
            chosen = torch.where(finished, torch.full_like(chosen, -1), chosen)
            result = StepBatch(step, chosen.cpu().numpy(), logprobs.cpu().numpy(),
                               tuple(None if finished[r] else details[r] for r in range(batch)))
        yield result
        with torch.inference_mode():
            if stop_at_end:   # benchmarks turn this off to time exactly max_new_tokens steps
                finished = finished | torch.tensor([int(t) in end_tokens for t in chosen.tolist()])
            if bool(finished.all()) or step == max_new_tokens - 1:
                return
            feed = torch.where(chosen < 0, torch.full_like(chosen, pad), chosen).to(device)[:, None]
            history = torch.cat([history, feed], dim=1)
            out = model(input_ids=feed, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()


def row_layout(strategies: Sequence[Strategy], samples: int) -> list[tuple[int, int]]:
    """(strategy index, sample index) per batch row, for every non-beam strategy."""
    return [(s, j) for s, strategy in enumerate(strategies) if strategy.name != "beam"
            for j in range(samples if strategy.samples else 1)]


def _groups(rows: list[tuple[int, int]]) -> list[tuple[int, list[int]]]:
    """Rows of the same strategy share warpers, so they are transformed together (warpers work row-wise)."""
    groups: dict[int, list[int]] = {}
    for r, (s, _) in enumerate(rows):
        groups.setdefault(s, []).append(r)
    return list(groups.items())


def _memo_decoder(tokenizer: Any) -> Callable[[Sequence[int]], tuple[str, ...]]:
    """Decode token ids one by one, remembering each (the same candidates come back step after step)."""
    texts: dict[int, str] = {}

    def decode(ids: Sequence[int]) -> tuple[str, ...]:
        out = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id not in texts:
                texts[token_id] = tokenizer.decode([token_id])
            out.append(texts[token_id])
        return tuple(out)

    return decode


def _choose(logits, history, rows, strategies, stage_lists, generators, groups, step, record, top, decode):
    """Apply each row's warpers, pick each row's token, and record the candidates before/after every stage."""
    import torch

    batch = logits.shape[0]
    model_logprobs = torch.log_softmax(logits, dim=-1)                          # (B, V)
    model_probs = model_logprobs.exp()                                          # (B, V)
    # -sum p log p from the log-probabilities already at hand (special.entr recomputes the log: 9x slower);
    # tokens a model masks to -inf have p = 0 and add nothing.
    entropy = -torch.where(model_probs > 0, model_probs * model_logprobs, 0.0).sum(-1)   # (B,)
    chosen = torch.empty(batch, dtype=torch.long, device=logits.device)
    sample_lp = torch.empty(batch, dtype=torch.float32, device=logits.device)
    recorded: dict[int, list[Stage]] = {}
    for s, members in groups:
        rows_of = slice(members[0], members[-1] + 1)                            # a strategy's rows are contiguous
        scores = logits[rows_of]                                                # (n, V)
        stages = [("model", scores)]
        for name, warper in stage_lists[members[0]]:
            scores = warper(history[rows_of], scores)
            stages.append((name, scores))
        if strategies[s].samples:
            final_probs = torch.softmax(scores, dim=-1)                         # (n, V)
            picked = _draw(final_probs, [generators[r] for r in members])
            sample_lp[rows_of] = final_probs.gather(1, picked[:, None])[:, 0].log()
        else:
            final_probs = model_probs[rows_of]
            picked = scores.argmax(dim=-1)
            sample_lp[rows_of] = model_logprobs[rows_of].gather(1, picked[:, None])[:, 0]
        chosen[rows_of] = picked
        if record:
            for i, r in enumerate(members):
                recorded[r] = _record_stages(stages, i, top, decode, model_probs[r], final_probs[i])
    logprobs = model_logprobs.gather(1, chosen[:, None])[:, 0]
    details: list[TokenStep | None] = [None] * batch
    if record:
        token_list, lp_list, slp_list, ent_list = (chosen.tolist(), logprobs.tolist(), sample_lp.tolist(),
                                                   entropy.tolist())
        details = [TokenStep(step, token_list[r], lp_list[r], slp_list[r], ent_list[r], tuple(recorded[r]))
                   for r in range(batch)]
    return chosen, logprobs, details


def _draw(probs, generators) -> Any:
    """One token per row by inverting the cumulative distribution with one uniform number from the row's own
    generator: (n, V) probabilities -> (n,) token ids. torch.multinomial would draw V exponentials per row."""
    import torch

    cdf = probs.double().cumsum(dim=-1)                                          # (n, V)
    u = torch.stack([torch.rand((), generator=g, dtype=torch.float64, device=probs.device) for g in generators])
    # The first token whose cumulative probability passes u: zero-probability tokens can never be it.
    picked = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True)[:, 0]
    return picked.clamp_(max=probs.shape[-1] - 1)


def _record_stages(stages, i, top, decode, model_probs, final_probs) -> list[Stage]:
    """Row i of every stage: its top candidates, how many tokens survive, and the tokens this stage removed
    that the model found most likely (a few ops over the vocabulary per stage; the loop runs this every step)."""
    import torch

    out: list[Stage] = []
    previous = None
    kept_before = model_probs.shape[-1]
    for name, scores in stages:
        row = scores[i]                                                         # (V,)
        if name == "model":
            probs = model_probs
        elif name == stages[-1][0]:
            probs = final_probs
        else:
            probs = torch.softmax(row, dim=-1)
        alive = row > -math.inf
        kept = int(torch.count_nonzero(alive))
        values, ids = probs.topk(min(top, kept))                                # only tokens still possible
        removed = kept_before - kept
        if removed and previous is not None:
            gone = (previous > -math.inf) & ~alive
            r_values, r_ids = torch.where(gone, model_probs, -1.0).topk(min(top, removed))
        else:
            r_values, r_ids = model_probs[:0], torch.zeros(0, dtype=torch.long)
        ids, r_ids = ids.cpu().numpy(), r_ids.cpu().numpy()
        out.append(Stage(name, ids, values.cpu().numpy(), kept, removed, r_ids, r_values.cpu().numpy(),
                         decode(ids), decode(r_ids)))
        previous, kept_before = row, kept
    return out


# ----------------------------------------------------------------------------------------------- beam search


def beam_search(lm: Any, prompt_ids: Sequence[int], num_beams: int, max_new_tokens: int,
                top: int = TOP_CANDIDATES, progress: Progress = _quiet,
                stop: threading.Event | None = None) -> StrategyResult:
    """4. Beam search through `model.generate(num_beams=n, do_sample=False)`, so the output is generate's own;
    a recording logits processor sees every running beam's log-probabilities, from which the tree of kept,
    finished and pruned candidates is rebuilt. It also reports each step to `progress` (generate yields nothing
    until it is done), and ends early once `stop` is set (its result is then incomplete)."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    width = max(2 * num_beams, top)

    class BeamRecorder(LogitsProcessor):
        def __init__(self) -> None:
            self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
            self.vocab = 0

        def __call__(self, input_ids, scores):
            values, ids = scores.topk(width, dim=-1)                            # (beams, width)
            entropy = torch.special.entr(scores.exp()).sum(-1)                  # (beams,)
            self.vocab = scores.shape[-1]
            self.calls.append((input_ids[:, len(prompt_ids):].cpu().numpy(), values.float().cpu().numpy(),
                               ids.cpu().numpy(), entropy.float().cpu().numpy()))
            progress(len(self.calls) / max_new_tokens,
                     f"beam search ×{num_beams}: step {len(self.calls)} of at most {max_new_tokens}")
            return scores

    class Stopped(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), stop is not None and stop.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    recorder = BeamRecorder()
    model = lm.model
    ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=lm.device)
    end_tokens = _end_tokens(model, lm.tokenizer)
    with torch.inference_mode():
        output = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=num_beams,
                                max_new_tokens=max_new_tokens, logits_processor=LogitsProcessorList([recorder]),
                                stopping_criteria=StoppingCriteriaList([Stopped()]),
                                pad_token_id=_pad_id(model, lm.tokenizer))
    new = [int(t) for t in output[0, len(prompt_ids):].tolist()]
    for i, token in enumerate(new):
        if token in end_tokens:
            new = new[: i + 1]
            break
    steps = _beam_steps(recorder.calls, new, top, recorder.vocab, _memo_decoder(lm.tokenizer))
    tree = _beam_tree(recorder.calls, new, num_beams, end_tokens, max_new_tokens, lm.tokenizer)
    strategy = Strategy("beam", num_beams=num_beams)
    return _result(strategy, new, [s.logprob for s in steps], [s.entropy for s in steps], steps, lm.tokenizer,
                   end_tokens, done=True, max_new_tokens=max_new_tokens, beam_tree=tree)


def beam_search_steps(lm: Any, prompt_ids: Sequence[int], num_beams: int, max_new_tokens: int,
                      poll: float = 0.5) -> Iterator[int | StrategyResult]:
    """`beam_search` in a thread: yields the number of steps it has taken every `poll` seconds, then its result.
    Closing the generator (Stop in the page) ends the search at its next step."""
    steps, outcome, stop = [0], [], threading.Event()

    def record(fraction: float, message: str) -> None:
        steps[0] = round(fraction * max_new_tokens)

    def search() -> None:
        try:
            outcome.append(beam_search(lm, prompt_ids, num_beams, max_new_tokens, progress=record, stop=stop))
        except Exception as error:       # raised again in the caller's thread
            outcome.append(error)

    worker = threading.Thread(target=search, name="beam-search", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(poll)
            if worker.is_alive():
                yield steps[0]
    finally:
        stop.set()
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    yield outcome[0]


def _pad_id(model: Any, tokenizer: Any) -> int | None:
    pad = getattr(model.generation_config, "pad_token_id", None)
    if pad is None:
        pad = tokenizer.pad_token_id
    if pad is None:
        eos = model.generation_config.eos_token_id
        pad = eos[0] if isinstance(eos, (list, tuple)) else eos
    return pad


def _beam_steps(calls, output: list[int], top: int, vocab: int, decode) -> list[TokenStep]:
    """The step records along the returned sequence: the distribution of the beam it came from at each step."""
    steps = []
    for t, token in enumerate(output):
        if t >= len(calls):
            break
        running, values, ids, entropies = calls[t]
        prefix = tuple(output[:t])
        row = next((b for b in range(running.shape[0]) if tuple(running[b].tolist()) == prefix), 0)
        hits = np.nonzero(ids[row] == token)[0]
        logprob = float(values[row, hits[0]]) if len(hits) else float("nan")
        stage = Stage("model", ids[row, :top], np.exp(values[row, :top]), vocab, 0,
                      np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), decode(ids[row, :top]))
        steps.append(TokenStep(t, token, logprob, logprob, float(entropies[row]), (stage,)))
    return steps


def _beam_tree(calls, output: list[int], num_beams: int, end_tokens: set[int], max_new_tokens: int,
               tokenizer: Any) -> BeamTree:
    """Rebuild the search: at each step every running beam proposes its best continuations; the best 2n by
    cumulative score are the candidates generate considers; those running on next step were kept, those that
    ended within the best n finished, the rest were pruned."""
    nodes: list[BeamNode] = []
    node_of: dict[tuple[int, ...], int] = {}
    score_of: dict[tuple[int, ...], float] = {(): 0.0}
    output_prefixes = {tuple(output[: t + 1]) for t in range(len(output))}
    keep = max(2, 1 + len(end_tokens)) * num_beams
    for t, (running, values, ids, _) in enumerate(calls):
        parents = []
        for b in range(running.shape[0]):
            prefix = tuple(running[b].tolist())
            if prefix in score_of and prefix not in [p for p, _ in parents]:
                parents.append((prefix, b))
        candidates = [(score_of[prefix] + float(values[b, c]), prefix + (int(ids[b, c]),), float(values[b, c]))
                      for prefix, b in parents for c in range(values.shape[1])]
        candidates.sort(key=lambda item: -item[0])
        candidates = candidates[:keep]
        next_running = {tuple(r.tolist()) for r in calls[t + 1][0]} if t + 1 < len(calls) else set()
        last = t + 1 >= max_new_tokens
        for rank, (score, path, logprob) in enumerate(candidates):
            ended = path[-1] in end_tokens or last
            if path in next_running and not ended:
                status = "kept"
            elif ended and rank < num_beams:
                status = "finished"
            else:
                status = "pruned"
            node = BeamNode(len(nodes), node_of.get(path[:-1], -1), t, path[-1],
                            tokenizer.decode([path[-1]]), logprob, score, status, path in output_prefixes)
            nodes.append(node)
            node_of[path] = node.id
            if status == "kept":
                score_of[path] = score
    return BeamTree(num_beams, tuple(nodes))


# ----------------------------------------------------------------------------------------------- comparisons


class TokenPieces:
    """Display text per generated token, built incrementally.

    A byte-level token can end in the middle of a character (an emoji is often 2-4 tokens); such tokens get ''
    and the character goes to the token that completes it. Decoding a few tokens of context keeps the leading
    spaces that SentencePiece drops when a token is decoded alone.

    >>> pieces = TokenPieces(tokenizer)
    >>> for token_id in tokenizer("Hi 👋")["input_ids"]: pieces.add(token_id)
    >>> pieces.pieces                          # smollm2: ' 👋' is three byte-level tokens
    ['Hi', '', '', ' 👋']
    """

    CONTEXT = 4

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.pieces: list[str] = []
        self.settled = 0     # tokens whose text is final

    def add(self, token_id: int) -> None:
        self.ids.append(int(token_id))
        self.pieces.append("")
        anchor = max(0, self.settled - self.CONTEXT)
        head = self.tokenizer.decode(self.ids[anchor:self.settled])
        full = self.tokenizer.decode(self.ids[anchor:])
        pending = len(self.ids) - self.settled
        if full.endswith("\ufffd") and pending < self.CONTEXT:
            return
        self.pieces[-1] = full[len(head):] if full.startswith(head) else self.tokenizer.decode([token_id])
        self.settled = len(self.ids)

    def extend(self, ids: Sequence[int]) -> "TokenPieces":
        for token_id in ids:
            self.add(token_id)
        return self


def _result(strategy: Strategy, ids: list[int], logprobs: list[float], entropies: list[float],
            steps: list[TokenStep], tokenizer: Any, end_tokens: set[int], done: bool, max_new_tokens: int,
            beam_tree: BeamTree | None = None, pieces: Sequence[str] | None = None) -> StrategyResult:
    if ids and ids[-1] in end_tokens:
        ended = "end token"
    elif done or len(ids) >= max_new_tokens:
        ended = "length"
    else:
        ended = "running"
    if pieces is None:
        pieces = TokenPieces(tokenizer).extend(ids).pieces
    return StrategyResult(strategy, tuple(ids), tuple(pieces), tuple(logprobs),
                          tuple(entropies), tuple(steps), tokenizer.decode(ids, skip_special_tokens=True), ended,
                          beam_tree)


def stream_comparison(model_name: str, prompt: str, strategies: Any, max_new_tokens: int = 48, seed: int = 0,
                      chat: bool = True, progress: Progress = _quiet) -> Iterator[Comparison]:
    """Yield a Comparison snapshot after every step of the batched loop and after each beam search;
    the last one has done=True. Strategies keep their order."""
    strategies = parse_strategies(strategies)
    max_new_tokens = _integer(max_new_tokens, "max_new_tokens")
    seed = _integer(seed, "seed")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a non-negative whole number, got {seed}.")
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}, got {max_new_tokens}.")
    _check_public(prompt, max_new_tokens)
    lm = _load_decoder(model_name, progress)
    tokenizer = lm.tokenizer
    built = build_prompt(tokenizer, prompt, bool(chat), lm.context_window, max_new_tokens)
    check_sizes(lm.model.config, strategies, len(built.token_ids), max_new_tokens)
    end_tokens = _end_tokens(lm.model, tokenizer)
    start = time.perf_counter()

    rows = row_layout(strategies, 1)
    row_of = {s: r for r, (s, _) in enumerate(rows)}
    ids: list[list[int]] = [[] for _ in rows]
    logprobs: list[list[float]] = [[] for _ in rows]
    entropies: list[list[float]] = [[] for _ in rows]
    steps: list[list[TokenStep]] = [[] for _ in rows]
    pieces = [TokenPieces(tokenizer) for _ in rows]
    beams: dict[int, StrategyResult] = {}
    searching, searched = -1, 0      # the strategy whose beam search runs now, and its steps so far

    def snapshot(done: bool) -> Comparison:
        results = []
        for s, strategy in enumerate(strategies):
            if strategy.name == "beam":
                waiting = StrategyResult(strategy, (), (), (), (), (), "", "running" if s == searching else "waiting",
                                         searched=searched if s == searching else 0)
                results.append(beams.get(s) or waiting)
            else:
                r = row_of[s]
                results.append(_result(strategy, ids[r], logprobs[r], entropies[r], steps[r], tokenizer,
                                       end_tokens, done, max_new_tokens, pieces=pieces[r].pieces))
        return Comparison(model_name, built, seed, max_new_tokens, tuple(results), done,
                          time.perf_counter() - start)

    for batch in sample_steps(lm, built.token_ids, strategies, max_new_tokens, seed):
        for r, detail in enumerate(batch.steps):
            if detail is None:
                continue
            ids[r].append(detail.token_id)
            pieces[r].add(detail.token_id)
            logprobs[r].append(detail.logprob)
            entropies[r].append(detail.entropy)
            steps[r].append(detail)
        yield snapshot(False)
    for s, strategy in enumerate(strategies):
        if strategy.name == "beam":
            searching, searched = s, 0
            yield snapshot(False)       # says which beam search is running while generate works
            for update in beam_search_steps(lm, built.token_ids, strategy.num_beams, max_new_tokens):
                if isinstance(update, StrategyResult):
                    beams[s] = update
                else:
                    searched = update
                yield snapshot(False)
    yield snapshot(True)


def _check_public(prompt: Any, max_new_tokens: int, samples: int = 1) -> None:
    """A public server's limits (playground.public), before any model loads."""
    public.check_text(prompt, "prompt")
    public.check("max_new_tokens", max_new_tokens)
    public.check("samples", samples)


def _load_decoder(model_name: str, progress: Progress) -> Any:
    from playground.models import load_model

    lm = load_model(model_name, progress)
    if getattr(lm.spec, "architecture", "decoder") != "decoder" or not _can_generate(lm.model):
        raise ValueError(f"model {model_name!r} is not a causal language model; choose a decoder such as "
                         "smollm2-135m-instruct or gemma-3-270m.")
    return lm


def _can_generate(model: Any) -> bool:
    check = getattr(model, "can_generate", None)
    return bool(check()) if callable(check) else hasattr(model, "generate")


def compare(model_name: str, prompt: str, strategies: Any, max_new_tokens: int = 48, seed: int = 0,
            chat: bool = True, progress: Progress = _quiet) -> Comparison:
    """Run a whole comparison and return its final snapshot."""
    final = None
    for final in stream_comparison(model_name, prompt, strategies, max_new_tokens, seed, chat, progress):
        pass
    return final


# ----------------------------------------------------------------------------------------------- many samples


@dataclass(frozen=True)
class SampleStats:
    strategy: Strategy
    samples: tuple[tuple[int, ...], ...]   # (N,) token ids per sample, new tokens only
    texts: tuple[str, ...]                 # (N,)
    distinct_1: float                      # unique tokens / all tokens, pooled over the samples
    distinct_2: float                      # unique token pairs / all token pairs, pooled
    repetition: float                      # share of token pairs that repeat an earlier pair of the same sample
    mean_logprob: float                    # mean log p_model per token, pooled
    perplexity: float                      # exp(-mean_logprob)
    first_tokens: tuple[tuple[str, int], ...]  # (first token text, count), most common first
    note: str = ""


def diversity(samples: Sequence[Sequence[int]]) -> tuple[float, float, float]:
    """(distinct-1, distinct-2, repetition) of token-id sequences.

    >>> diversity([[1, 2, 1, 2], [1, 2, 3]])
    (0.42857142857142855, 0.6, 0.2)
    """
    unigrams = [t for sample in samples for t in sample]
    bigrams = [pair for sample in samples for pair in zip(sample, sample[1:])]
    distinct_1 = len(set(unigrams)) / len(unigrams) if unigrams else 0.0
    distinct_2 = len(set(bigrams)) / len(bigrams) if bigrams else 0.0
    repeated = 0
    for sample in samples:
        seen: set[tuple[int, int]] = set()
        for pair in zip(sample, sample[1:]):
            repeated += pair in seen
            seen.add(pair)
    repetition = repeated / len(bigrams) if bigrams else 0.0
    return distinct_1, distinct_2, repetition


def many_samples(model_name: str, prompt: str, strategies: Any, n: int = 20, max_new_tokens: int = 24,
                 seed: int = 0, chat: bool = True, progress: Progress = _quiet) -> list[SampleStats]:
    """Draw n samples per sampling strategy in one batched loop (greedy once, beam once: they are
    deterministic) and measure their diversity and likelihood."""
    strategies = parse_strategies(strategies)
    n = _integer(n, "samples")
    max_new_tokens = _integer(max_new_tokens, "max_new_tokens")
    seed = _integer(seed, "seed")
    _check_public(prompt, max_new_tokens, n)
    lm = _load_decoder(model_name, progress)
    tokenizer = lm.tokenizer
    built = build_prompt(tokenizer, prompt, bool(chat), lm.context_window, max_new_tokens)
    check_sizes(lm.model.config, strategies, len(built.token_ids), max_new_tokens, samples=n)
    end_tokens = _end_tokens(lm.model, tokenizer)
    rows = row_layout(strategies, n)
    ids: list[list[int]] = [[] for _ in rows]
    logprobs: list[list[float]] = [[] for _ in rows]
    for batch in sample_steps(lm, built.token_ids, strategies, max_new_tokens, seed, samples=n, record=False):
        for r, token in enumerate(batch.token_ids.tolist()):
            if token >= 0:
                ids[r].append(token)
                logprobs[r].append(float(batch.logprobs[r]))
        progress((batch.step + 1) / max_new_tokens, f"{len(rows)} samples: token {batch.step + 1}")
    stats = []
    for s, strategy in enumerate(strategies):
        if strategy.name == "beam":
            beam = beam_search(lm, built.token_ids, strategy.num_beams, max_new_tokens)
            members = [(list(beam.token_ids), list(beam.token_logprobs))]
        else:
            members = [(ids[r], logprobs[r]) for r, (rs, _) in enumerate(rows) if rs == s]
        stats.append(_sample_stats(strategy, members, tokenizer, end_tokens))
    return stats


def _sample_stats(strategy: Strategy, members, tokenizer, end_tokens: set[int]) -> SampleStats:
    samples = [[t for t in sample if t not in end_tokens] for sample, _ in members]
    pooled = [lp for _, lps in members for lp in lps]
    mean_lp = float(np.mean(pooled)) if pooled else float("nan")
    first = Counter(tokenizer.decode([sample[0]]) for sample, _ in members if sample)
    d1, d2, rep = diversity(samples)
    note = "" if strategy.samples else "deterministic: one sequence, every draw would be the same"
    return SampleStats(strategy, tuple(tuple(s) for s, _ in members),
                       tuple(tokenizer.decode(s, skip_special_tokens=True) for s, _ in members), d1, d2, rep,
                       mean_lp, math.exp(-mean_lp) if pooled else float("nan"), tuple(first.most_common()), note)

