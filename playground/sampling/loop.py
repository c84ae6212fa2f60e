"""3. The batched decoding loop: every greedy and sampling row of a comparison (or of several users' requests
on one prompt) in one forward pass per step, with one prompt prefill and KV cache shared by all rows.

Each row has its own transformers warpers and its own seeded torch.Generator, so a row's tokens never depend on
the rows beside it:

    >>> from playground.models import load_model
    >>> lm = load_model("smollm2-135m-instruct")
    >>> ids = lm.tokenizer("The capital of France is")["input_ids"]
    >>> strategies = parse_strategies([{"name": "greedy"}, {"name": "top_p", "p": 0.9}])
    >>> rows = rows_for(strategies, seed=0, samples=1)
    >>> [(row.strategy.name, row.seed) for row in rows]
    [('greedy', 0), ('top_p', 0)]
    >>> first = next(decode_rows(lm, ids, rows, max_new_tokens=4))
    >>> first.token_ids.shape                        # (B,): one token per row
    (2,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from playground.crowd import Crowd
from playground.models import small_batch_linear
from playground.sampling.prompt import end_tokens
from playground.sampling.records import Stage, StepBatch, TokenStep
from playground.sampling.strategies import TOP_CANDIDATES, Strategy, build_warpers, parse_strategies

__all__ = ["Row", "rows_for", "decode_rows", "decode_together", "sample_steps", "memo_decoder"]


@dataclass(frozen=True)
class Row:
    strategy: Strategy      # greedy or a sampling strategy (beam search has no row: it runs generate)
    seed: int               # its torch.Generator's seed (greedy rows draw nothing)


def rows_for(strategies: Sequence[Strategy], seed: int, samples: int = 1) -> list[Row]:
    """The rows of a comparison: strategy-major, sample j of a sampling strategy seeded with seed + j (greedy
    has one row: it is deterministic); beam search has none."""
    return [Row(strategy, int(seed) + j) for strategy in strategies if strategy.name != "beam"
            for j in range(samples if strategy.samples else 1)]


def sample_steps(lm: Any, prompt_ids: Sequence[int], strategies: Sequence[Strategy], max_new_tokens: int,
                 seed: int, samples: int = 1, record: bool = True, top: int = TOP_CANDIDATES,
                 stop_at_end: bool = True) -> Iterator[StepBatch]:
    """decode_rows on the rows of a comparison (rows_for)."""
    return decode_rows(lm, prompt_ids, rows_for(strategies, seed, samples), max_new_tokens, record, top, stop_at_end)


def decode_rows(lm: Any, prompt_ids: Sequence[int], rows: Sequence[Row], max_new_tokens: int, record: bool = True,
                top: int = TOP_CANDIDATES, stop_at_end: bool = True) -> Iterator[StepBatch]:
    """One batched decoding loop with a KV cache for `rows`; yields one StepBatch per generated position.

    The linear layers run under small_batch_linear (a few rows: W @ x.T on the CPU, see playground.models).
    """
    import torch

    if not rows:
        return
    model, device = lm.model, lm.device
    stops = end_tokens(model, lm.tokenizer)
    stage_lists = [build_warpers(row.strategy) for row in rows]
    generators = [torch.Generator(device=device).manual_seed(row.seed) for row in rows]
    groups = _groups(rows)
    batch = len(rows)
    finished = torch.zeros(batch, dtype=torch.bool)
    pad = next(iter(stops), 0)
    decode = memo_decoder(lm.tokenizer)

    with torch.inference_mode(), small_batch_linear(device, batch):
        ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        if batch > 1:
            cache.batch_repeat_interleave(batch)      # one prompt prefill shared by every row
        logits = out.logits[:, -1, :].float().expand(batch, -1)
        history = ids.expand(batch, -1)
    for step in range(max_new_tokens):
        # Gradio may resume this generator on another worker thread, and inference mode (like the function
        # mode of small_batch_linear) is per thread: each stretch of work between two yields enters it afresh.
        with torch.inference_mode(), small_batch_linear(device, batch):
            chosen, logprobs, details = _choose(logits, history, rows, stage_lists, generators, groups, step,
                                                record, top, decode)
            chosen = torch.where(finished, torch.full_like(chosen, -1), chosen)
            result = StepBatch(step, chosen.cpu().numpy(), logprobs.cpu().numpy(),
                               tuple(None if finished[r] else details[r] for r in range(batch)))
        yield result
        with torch.inference_mode(), small_batch_linear(device, batch):
            if stop_at_end:   # benchmarks turn this off to time exactly max_new_tokens steps
                finished = finished | torch.tensor([int(t) in stops for t in chosen.tolist()])
            if bool(finished.all()) or step == max_new_tokens - 1:
                return
            feed = torch.where(chosen < 0, torch.full_like(chosen, pad), chosen).to(device)[:, None]
            history = torch.cat([history, feed], dim=1)
            out = model(input_ids=feed, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits = out.logits[:, -1, :].float()


def _groups(rows: Sequence[Row]) -> list[list[int]]:
    """Runs of neighbouring rows with the same strategy: they share warpers and are transformed together
    (warpers work row by row, so grouping changes nothing but the speed)."""
    groups: list[list[int]] = []
    for r, row in enumerate(rows):
        if groups and rows[groups[-1][0]].strategy == row.strategy:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def memo_decoder(tokenizer: Any) -> Callable[[Sequence[int]], tuple[str, ...]]:
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


def _choose(logits, history, rows, stage_lists, generators, groups, step, record, top, decode):
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
    for members in groups:
        rows_of = slice(members[0], members[-1] + 1)                            # a group's rows are contiguous
        scores = logits[rows_of]                                                # (n, V)
        stages = [("model", scores)]
        for name, warper in stage_lists[members[0]]:
            scores = warper(history[rows_of], scores)
            stages.append((name, scores))
        if rows[members[0]].strategy.samples:
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


def decode_together(lm: Any, prompt_ids: Sequence[int], rows: Sequence[Row], max_new_tokens: int,
                    record: bool = True) -> Iterator[StepBatch]:
    """decode_rows for this request's `rows`, run in one batch with every request for the same model, prompt
    and length that arrives with it (playground.crowd): a class asking at once shares each forward pass. Equal
    rows of different users (greedy; a sampling strategy with the same seed) are computed once. Each row keeps
    its own generator, so its tokens are the ones it gets alone.

        >>> from playground.models import load_model
        >>> lm = load_model("smollm2-135m-instruct")
        >>> ids = lm.tokenizer("The capital of France is")["input_ids"]
        >>> rows = rows_for(parse_strategies([{"name": "greedy"}]), seed=0)
        >>> [batch.token_ids.tolist() for batch in decode_together(lm, ids, rows, 2)]
        [[7042], [30]]
    """
    def run(members: Sequence[tuple[Row, ...]]) -> Iterator[tuple[StepBatch, list[list[int]]]]:
        union: list[Row] = []
        where: dict[Row, int] = {}
        for own in members:
            for row in own:
                same = Row(row.strategy, 0) if not row.strategy.samples else row   # greedy ignores its seed
                if same not in where:
                    where[same] = len(union)
                    union.append(same)
        order = sorted(range(len(union)), key=lambda r: repr(union[r].strategy))   # equal strategies side by side
        position = {r: p for p, r in enumerate(order)}
        picks = [[position[where[Row(row.strategy, 0) if not row.strategy.samples else row]] for row in own]
                 for own in members]
        for batch in decode_rows(lm, prompt_ids, [union[r] for r in order], max_new_tokens, record):
            yield batch, picks

    def split(item: tuple[StepBatch, list[list[int]]], member: int) -> StepBatch:
        batch, picks = item
        mine = picks[member]
        return StepBatch(batch.step, batch.token_ids[mine], batch.logprobs[mine], tuple(batch.steps[r] for r in mine))

    key = (id(lm.model), tuple(int(i) for i in prompt_ids), int(max_new_tokens), bool(record))
    for part in DECODING.stream(key, tuple(rows), run, split):
        if (part.token_ids < 0).all():      # this request's rows have all ended: alone, its loop ends here
            return
        yield part


# Decoding requests of all users: one batch computes at a time (two loops at once only share the cores).
DECODING = Crowd(gather_seconds=0.05, slots=1)
