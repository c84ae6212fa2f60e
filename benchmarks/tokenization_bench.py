"""Tokenization speed: server-side tokenize-and-render time, and model load time cold vs cached.

    .venv/bin/python benchmarks/tokenization_bench.py            # everything (the cold loads take minutes)
    .venv/bin/python benchmarks/tokenization_bench.py --no-cold  # skip the one-time GGUF conversions

Goals (issue 2): 100k characters tokenize and render in at most 1 s server side; a model loads from
the converted cache in at most 5 s. The script prints each figure and its ratio to the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAMPLE = Path(__file__).resolve().parents[1] / "assets" / "examples" / "tokenization.json"
LOAD_CODE = """
import json, sys, time
import transformers, torch  # imported first: the figure is the load, not the interpreter's imports
from playground.models import load_model, load_tokenizer
if sys.argv[2] == "warm":  # as in a running app: another model already pulled in the modeling libraries
    load_model("all-minilm-l6-v2" if sys.argv[1] != "all-minilm-l6-v2" else "smollm2-135m-instruct")
started = time.perf_counter()
# transformers imports its loading machinery (torch.distributed, dynamo...) on first use: once per
# process, whatever the model; timed apart so the figure below is the model's own load.
import transformers.modeling_utils, transformers.tokenization_utils_tokenizers
from transformers import AutoModel, AutoModelForCausalLM, PreTrainedTokenizerFast
imports = time.perf_counter() - started
started = time.perf_counter()
load_tokenizer(sys.argv[1]); load_model(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started, "imports": imports}))
"""


def sample_text(chars: int) -> str:
    pieces = [row["text"] for row in json.loads(SAMPLE.read_text(encoding="utf-8"))]
    text = " ".join(pieces)
    return (text * (chars // len(text) + 1))[:chars]


def time_render(chars: int, repeats: int = 5) -> float:
    from tabs.tokenization import compare
    from tabs.common import ALL_MODELS

    text = sample_text(chars)
    compare(text, ALL_MODELS)  # warm: tokenizers loaded
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        compare(text, ALL_MODELS)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_load(name: str, cache: str | None, warm: bool = False) -> tuple[float, float]:
    """(load seconds, seconds importing transformers' loading machinery first) in a new process."""
    env = dict(os.environ)
    if cache:
        env["PLAYGROUND_CACHE"] = cache
    done = subprocess.run([sys.executable, "-c", LOAD_CODE, name, "warm" if warm else "fresh"], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[1], check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return figures["seconds"], figures["imports"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-cold", action="store_true", help="skip the cold (GGUF conversion) loads")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores, torch threads {__import__('torch').get_num_threads()}")
    print("\n== tokenize and render, three tokenizers side by side (median of 5, server side)")
    for chars in (1_000, 10_000, 100_000):
        seconds = time_render(chars)
        line = f"{chars:>7,} chars: {seconds * 1000:7.1f} ms"
        if chars == 100_000:
            line += f"   ratio to the 1 s goal: {seconds / 1.0:.2f}"
        print(line, flush=True)
    print("\n== model load (tokenizer + weights) from the converted cache")
    for name in ("smollm2-135m-instruct", "gemma-3-270m", "all-minilm-l6-v2"):
        cached, imports = time_load(name, None)
        warm, _ = time_load(name, None, warm=True)
        line = (f"{name:24s} cached, fresh process: {cached:6.2f} s (ratio to the 5 s goal: {cached / 5:.2f}; "
                f"+{imports:4.2f} s importing the loading libraries first)   "
                f"cached, in a running app: {warm:6.2f} s ({warm / 5:.2f})")
        if not args.no_cold and name != "all-minilm-l6-v2":
            with tempfile.TemporaryDirectory() as empty_cache:
                cold, _ = time_load(name, empty_cache)
            line += f"   cold (GGUF conversion): {cold:6.2f} s   speed-up: {cold / cached:.1f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
