"""How fast the Attention tab answers, and how much it sends to the browser.

    python benchmarks/attention_bench.py                 # MiniLM and SmolLM2 at 128 and 512 tokens
    python benchmarks/attention_bench.py --tokens 128 --models all-minilm-l6-v2

For each model and length it prints:
  forward      a bare model(..., output_attentions=True) call with the eager implementation (fastest of
               --repeat, taking turns with the first map)
  first map    the tab's first heatmap: run_attention (one forward, copied to numpy) + the Plotly heatmap
               ratio = first map / forward (goal: at most 1.2)
  analyze      everything the "Show attention" button computes: it streams the first map, then the
               overview and the head statistics
  switch       a layer/head change on the cached run (median of 10); ratio to the 100 ms goal
  bytes        heatmap JSON + overview PNG sent to the browser, against BertViz's model view HTML of
               the same input (measured when it has at most 5 M weights, else extrapolated from the
               bytes per weight of a measured window, and marked "est.")
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from playground import attention as att  # noqa: E402
from playground.models import load_model  # noqa: E402
from tabs import attention as tab  # noqa: E402
from tabs import attention_views as views  # noqa: E402

PARAGRAPH = ("The animal didn't cross the street because it was too tired. It lay down on the warm pavement, "
             "and the cars went around it while the children watched from the window of the school. ")
SWITCH_GOAL_S = 0.100


def text_of(tokenizer, n_tokens: int) -> str:
    """A text that tokenizes to exactly n_tokens (special tokens included) where the tokenizer allows."""
    text = PARAGRAPH * (n_tokens // 20 + 2)
    specials = len(tokenizer("")["input_ids"])
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: n_tokens - specials]
    candidate = tokenizer.decode(ids)
    while len(tokenizer(candidate)["input_ids"]) > n_tokens:
        ids = ids[:-1]
        candidate = tokenizer.decode(ids)
    return candidate


def timed(function, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bertviz_bytes(result: att.AttentionResult) -> tuple[int, bool]:
    total = result.num_layers * result.num_heads * result.num_tokens ** 2
    if total <= 5_000_000:
        window = att.BertvizWindow(0, result.num_tokens, list(range(result.num_layers)))
        return len(att.bertviz_document(result, "model", window, "vendor/").encode()), False
    window = att.bertviz_window(result, 0)
    measured = len(att.bertviz_document(result, "model", window, "vendor/").encode())
    shown = result.num_layers * result.num_heads * (window.stop - window.start) ** 2
    return int(measured / shown * total), True


def best_of_turns(functions, repeat: int) -> list[float]:
    """Fastest of `repeat` runs of each function, the functions taking turns so that a shared machine's
    other load hits them alike (the fastest run is the one least disturbed)."""
    for function in functions:
        function()   # warm-up
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def bench(name: str, n_tokens: int, repeat: int) -> None:
    loaded = load_model(name, attn_implementation="eager")
    text = text_of(loaded.tokenizer, n_tokens)
    ids = torch.tensor([loaded.tokenizer(text)["input_ids"]])
    def forward_pass():
        with torch.inference_mode():
            loaded.model(input_ids=ids, output_attentions=True)

    def first_map():
        att.RESULTS.clear()
        result = att.run_attention(text, name)
        return views.heatmap_figure(result, 0, 0, "weights").to_json()   # what Gradio sends the page

    forward, first = best_of_turns([forward_pass, first_map], repeat)

    def analyze():
        att.RESULTS.clear()
        for _ in tab.analyze.__wrapped__(text, name, 0, 0, "weights", progress=lambda *a, **k: None):
            pass

    full = timed(analyze, repeat=1)
    result = att.run_attention(text, name)
    picks = [(l % result.num_layers, h % result.num_heads) for l, h in zip(range(3, 13), range(1, 11))]
    switches = []
    for layer, head in picks:
        start = time.perf_counter()
        plot = views.heatmap_figure(result, layer, head, "weights").to_json()
        switches.append(time.perf_counter() - start)
    switch = statistics.median(switches)
    png = io.BytesIO()
    Image.fromarray(views.overview_image(result).image).save(png, format="PNG")
    sent = len(plot.encode()) + png.tell()
    bertviz, estimated = bertviz_bytes(result)
    print(f"{name:24s} T={result.num_tokens:4d}  forward {forward * 1000:7.0f} ms  first map {first * 1000:7.0f} ms "
          f"(ratio {first / forward:4.2f}, goal <= 1.2)  analyze {full * 1000:7.0f} ms  "
          f"switch {switch * 1000:6.1f} ms ({switch / SWITCH_GOAL_S:4.2f} x 100 ms)  "
          f"bytes: heatmap+overview {sent / 1e6:6.2f} MB vs BertViz model view {bertviz / 1e6:8.1f} MB"
          f"{' est.' if estimated else ''} ({bertviz / sent:5.0f} x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["all-minilm-l6-v2", "smollm2-135m-instruct"])
    parser.add_argument("--tokens", nargs="+", type=int, default=[128, 512])
    parser.add_argument("--repeat", type=int, default=7, help="median of this many runs (the machine may be shared)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {load_model(args.models[0]).device}")
    for name in args.models:
        for n_tokens in args.tokens:
            bench(name, n_tokens, args.repeat)


if __name__ == "__main__":
    main()
