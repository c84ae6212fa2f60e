"""4. Beam search through `model.generate` itself, with a recording logits processor that rebuilds the tree
of kept, finished and pruned candidates (the output is generate's own, token for token)."""

from __future__ import annotations

import threading
from typing import Any, Iterator, Sequence

import numpy as np

from playground.models import small_batch_linear
from playground.progress import Progress, no_progress
from playground.sampling.loop import memo_decoder
from playground.sampling.prompt import end_tokens
from playground.sampling.records import BeamNode, BeamTree, Stage, StrategyResult, TokenStep
from playground.sampling.strategies import TOP_CANDIDATES, Strategy
from playground.sampling.text import strategy_result

__all__ = ["beam_search", "beam_search_steps"]


def beam_search(lm: Any, prompt_ids: Sequence[int], num_beams: int, max_new_tokens: int,
                top: int = TOP_CANDIDATES, progress: Progress = no_progress,
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
    stops = end_tokens(model, lm.tokenizer)
    with torch.inference_mode(), small_batch_linear(lm.device, num_beams):
        output = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=num_beams,
                                max_new_tokens=max_new_tokens, logits_processor=LogitsProcessorList([recorder]),
                                stopping_criteria=StoppingCriteriaList([Stopped()]),
                                pad_token_id=_pad_id(model, lm.tokenizer))
    new = [int(t) for t in output[0, len(prompt_ids):].tolist()]
    for i, token in enumerate(new):
        if token in stops:
            new = new[: i + 1]
            break
    steps = _beam_steps(recorder.calls, new, top, recorder.vocab, memo_decoder(lm.tokenizer))
    tree = _beam_tree(recorder.calls, new, num_beams, stops, max_new_tokens, lm.tokenizer)
    strategy = Strategy("beam", num_beams=num_beams)
    return strategy_result(strategy, new, [s.logprob for s in steps], [s.entropy for s in steps], steps, lm.tokenizer,
                           stops, done=True, max_new_tokens=max_new_tokens, beam_tree=tree)


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
