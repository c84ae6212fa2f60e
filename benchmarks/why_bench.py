"""How fast the Why-this-token tab answers (best of --repeat, the machine may be shared).

    python benchmarks/why_bench.py                           # SmolLM2, the issue's three goals
    python benchmarks/why_bench.py --model gemma-3-270m --repeat 3 --threads 2

It prints, with each figure's ratio to its goal:
  integrated gradients   attribute() of a 64-token prompt with the default steps (goal 3 s), with the
                         steps it used and its completeness error; and the same forward + backward
                         passes as one bare batch, to show what the steps themselves cost
  contributions          contributions() of the 9-token default prompt (goal 1 s)
  patching               patch() of a 12-token clean / corrupted pair over every layer and position,
                         residual stream (goal 15 s), and what one forward pass per cell would cost
  other methods          gradient x input, occlusion and rollout of the 64-token prompt, and an ablation
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from playground.inside import ablate, attribute, contributions, patch  # noqa: E402
from playground.inside.attribution import IG_STEPS  # noqa: E402
from playground.inside.hooks import load_decoder  # noqa: E402

PARAGRAPH = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars. It is named after the "
             "engineer Gustave Eiffel, whose company designed and built the tower for the 1889 World's Fair. "
             "Locally nicknamed the Iron Lady, it has become a global cultural icon of France and one of the "
             "most recognisable structures in the world. It stands in the city of")
DEFAULT_PROMPT = "The Eiffel Tower is in the city of"
CLEAN = "The famous Eiffel Tower is a landmark in the city of"
CORRUPTED = "The famous Colosseum is a landmark in the city of"
GOALS = {"integrated gradients": 3.0, "contributions": 1.0, "patching": 15.0}


def prompt_of(tokenizer, n_tokens: int) -> str:
    """The end of PARAGRAPH that tokenizes to exactly n_tokens (special tokens included)."""
    words = PARAGRAPH.split(" ")
    for start in range(len(words)):
        text = " ".join(words[start:])
        if len(tokenizer(text)["input_ids"]) <= n_tokens:
            return text
    return PARAGRAPH


def best(function, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def line(what: str, seconds: float, extra: str = "") -> None:
    goal = GOALS.get(what)
    ratio = f"  ({seconds / goal:.2f} of the {goal:g} s goal)" if goal else ""
    print(f"{what:24s} {seconds:7.2f} s{ratio}  {extra}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is printed")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--tokens", type=int, default=64, help="prompt length for the attribution figures")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    decoder = load_decoder(args.model)
    tokenizer = decoder.loaded.tokenizer
    long_prompt = prompt_of(tokenizer, args.tokens)
    tokens = len(tokenizer(long_prompt)["input_ids"])
    clean_tokens = len(tokenizer(CLEAN)["input_ids"])
    print(f"{args.model} on {torch.get_num_threads()} threads, best of {args.repeat}; attribution prompt "
          f"{tokens} tokens, patching pair {clean_tokens} tokens")
    attribute(DEFAULT_PROMPT, args.model, "", "gradient_x_input")                   # warm up
    seconds, result = best(lambda: attribute(long_prompt, args.model, "", "integrated_gradients"), args.repeat)
    line("integrated gradients", seconds, f"{result.steps} of at most {IG_STEPS} steps, completeness error "
                                           f"{100 * result.completeness_error:.2f}%")
    bare = _bare_gradients(decoder, tokenizer(long_prompt)["input_ids"], result.steps, args.repeat)
    line("  its steps, one batch", bare, f"{result.steps} forward + backward passes of {tokens} tokens, "
                                         "no scan, no Captum")
    for method in ("gradient_x_input", "occlusion", "attention_rollout"):
        seconds, _ = best(lambda: attribute(long_prompt, args.model, "", method), args.repeat)
        line(method.replace("_", " "), seconds)
    seconds, parts = best(lambda: contributions(DEFAULT_PROMPT, args.model, ""), args.repeat)
    line("contributions", seconds, f"{len(parts.components)} components, target {parts.target!r}")
    seconds, _ = best(lambda: ablate(DEFAULT_PROMPT, args.model, [[10, 0], [20, 1]], [5], "mean"), args.repeat)
    line("ablation (mean)", seconds)
    seconds, patched = best(lambda: patch(CLEAN, CORRUPTED, args.model, ""), args.repeat)
    runs = patched.restored.size
    line("patching", seconds, f"{runs} patched runs ({decoder.num_layers} layers x {clean_tokens} positions), "
                              f"target {patched.target!r}")
    one, _ = best(lambda: _forward(decoder, tokenizer(CORRUPTED)["input_ids"]), args.repeat)
    print(f"{'  one run per cell':24s} {one * runs:7.2f} s  ({runs} plain forward passes, estimated from one)")


def _forward(decoder, ids) -> None:
    with torch.inference_mode():
        decoder.model(input_ids=torch.tensor([ids]))


def _bare_gradients(decoder, ids, steps: int, repeat: int) -> float:
    embed = decoder.model.get_input_embeddings()
    with torch.no_grad():
        inputs = embed(torch.tensor([ids])).expand(steps, -1, -1).clone()

    def run():
        embeds = inputs.clone().requires_grad_(True)
        value = decoder.model(inputs_embeds=embeds, logits_to_keep=1).logits[:, -1].log_softmax(-1)[:, 0]
        torch.autograd.grad(value.sum(), embeds)
    seconds, _ = best(run, repeat)
    return seconds


if __name__ == "__main__":
    main()
