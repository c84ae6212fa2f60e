"""How much the batched loop saves, and what recording the step details costs.

    python benchmarks/sampling_bench.py [--tokens 64] [--repeats 3] [--model smollm2-135m-instruct]

Prints, for `--tokens` new tokens (end tokens ignored so every run has the same length):
  * four strategies in one batched run / one strategy          (goal: at most 1.5)
  * four sequential model.generate calls / our four-strategy run (above 1 means the batched loop wins)
  * our greedy run with step details / plain model.generate greedy (goal: at most 1.10)
Each figure is the best of `--repeats` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from playground.models import load_model  # noqa: E402
from playground.sampling import build_prompt, parse_strategies, sample_steps  # noqa: E402

FOUR = [{"name": "greedy"}, {"name": "top_k", "k": 50, "temperature": 1.0},
        {"name": "top_p", "p": 0.9, "temperature": 0.8}, {"name": "min_p", "min_p": 0.1, "temperature": 1.0}]
GENERATE_KWARGS = [{"do_sample": False}, {"do_sample": True, "top_k": 50, "temperature": 1.0},
                   {"do_sample": True, "top_p": 0.9, "temperature": 0.8, "top_k": None},
                   {"do_sample": True, "min_p": 0.1, "temperature": 1.0, "top_k": None}]


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt", default="Write a short story about a lighthouse keeper.")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    lm = load_model(args.model)
    prompt = build_prompt(lm.tokenizer, args.prompt, True, lm.context_window, args.tokens)
    ids = torch.tensor([list(prompt.token_ids)], device=lm.device)
    four = parse_strategies(FOUR)
    n = args.tokens

    def ours(strategies, record=True):
        steps = sum(1 for _ in sample_steps(lm, prompt.token_ids, strategies, n, 0, record=record, stop_at_end=False))
        assert steps == n

    def generate(kwargs):
        torch.manual_seed(0)
        with torch.inference_mode():
            out = lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                                    pad_token_id=lm.tokenizer.pad_token_id or 0, **kwargs)
        assert out.shape[1] - ids.shape[1] == n

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"device {lm.device}, model {args.model}, prompt {len(prompt.token_ids)} tokens, {n} new tokens, "
          f"best of {args.repeats}", flush=True)
    ours(four[:1])   # warm up
    generate(GENERATE_KWARGS[0])
    one = best_of(args.repeats, lambda: ours(four[:1]))
    print(f"one strategy (greedy, step details)      {one:7.2f} s   {n / one:6.1f} tokens/s", flush=True)
    batched = best_of(args.repeats, lambda: ours(four))
    print(f"four strategies, one batched run         {batched:7.2f} s   {4 * n / batched:6.1f} tokens/s", flush=True)
    sequential = best_of(args.repeats, lambda: [generate(kwargs) for kwargs in GENERATE_KWARGS])
    print(f"four sequential model.generate calls     {sequential:7.2f} s", flush=True)
    plain = best_of(args.repeats, lambda: generate(GENERATE_KWARGS[0]))
    print(f"plain model.generate greedy              {plain:7.2f} s", flush=True)
    bare = best_of(args.repeats, lambda: ours(four[:1], record=False))
    print(f"our greedy run without step details      {bare:7.2f} s", flush=True)
    print(f"four in one run / one strategy           {batched / one:7.2f}   (goal <= 1.5)")
    print(f"four generate calls / our four-run       {sequential / batched:7.2f}   (> 1: batching wins)")
    print(f"step-detail overhead vs plain generate   {one / plain:7.2f}   (goal <= 1.10)")
    print(f"loop without details vs plain generate   {bare / plain:7.2f}")


if __name__ == "__main__":
    main()
