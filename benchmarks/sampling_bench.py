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
import math
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


def measure(variants: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (wall seconds, process CPU seconds) per variant. The variants take turns in every round so that
    other load on a shared machine hits them alike; CPU time of a 1-thread run is steadier than wall time."""
    best = {name: (math.inf, math.inf) for name in variants}
    for round_ in range(repeats):
        for name, run in variants.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
            print(f"  round {round_ + 1}: {name:<44} {wall:7.2f} s wall {cpu:7.2f} s CPU", flush=True)
    return best


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
    best = measure({
        "one strategy (greedy, step details)": lambda: ours(four[:1]),
        "four strategies, one batched run": lambda: ours(four),
        "four sequential model.generate calls": lambda: [generate(kwargs) for kwargs in GENERATE_KWARGS],
        "plain model.generate greedy": lambda: generate(GENERATE_KWARGS[0]),
        "our greedy loop without step details": lambda: ours(four[:1], record=False),
    }, args.repeats)
    print(f"{'':<44} {'wall s':>8} {'CPU s':>8} {'tokens/s':>9}")
    for name, (wall, cpu) in best.items():
        rows = 4 if "four" in name else 1
        print(f"{name:<44} {wall:8.2f} {cpu:8.2f} {rows * n / wall:9.1f}")
    (one, one_cpu), (four_run, four_cpu), (seq, seq_cpu), (plain, plain_cpu), (bare, bare_cpu) = best.values()
    print(f"{'ratio':<44} {'wall':>8} {'CPU':>8}")
    print(f"{'four in one run / one strategy (goal <= 1.5)':<44} {four_run / one:8.2f} {four_cpu / one_cpu:8.2f}")
    print(f"{'four generate calls / our four-run (> 1 wins)':<44} {seq / four_run:8.2f} {seq_cpu / four_cpu:8.2f}")
    print(f"{'step details vs plain generate (goal <= 1.10)':<44} {one / plain:8.2f} {one_cpu / plain_cpu:8.2f}")
    print(f"{'our loop, no details vs plain generate':<44} {bare / plain:8.2f} {bare_cpu / plain_cpu:8.2f}")


if __name__ == "__main__":
    main()
