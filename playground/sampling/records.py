"""What a comparison gives back: per-step candidates, per-strategy results, beam trees. Frozen dataclasses of
numpy arrays and tuples, with `to_dict` for the API."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from playground.sampling.strategies import Strategy

__all__ = ["Stage", "TokenStep", "StepBatch", "Prompt", "BeamNode", "BeamTree", "StrategyResult", "Comparison",
           "step_dict"]


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
            out["steps"] = [step_dict(step) for step in self.steps]
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


def step_dict(step: TokenStep) -> dict:
    return {
        "step": step.step, "token_id": step.token_id, "logprob": round(step.logprob, 6),
        "sample_logprob": round(step.sample_logprob, 6), "entropy": round(step.entropy, 6),
        "stages": [{"name": s.name, "token_ids": s.token_ids.tolist(), "probs": np.round(s.probs, 6).tolist(),
                    "tokens": list(s.texts), "kept": s.kept, "removed": s.removed,
                    "removed_ids": s.removed_ids.tolist(), "removed_tokens": list(s.removed_texts)}
                   for s in step.stages],
    }
