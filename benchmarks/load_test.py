"""Load test: concurrent gradio_client users across the four tabs' APIs, as in a classroom.

    .venv/bin/python benchmarks/load_test.py                       # starts `python app.py`, 16 users, 120 s
    .venv/bin/python benchmarks/load_test.py --users 8 --duration 60
    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:7860/ --pid 1234   # a running app

Users are spread evenly over /tokenize, /attention, /generate and /denoise; each calls its endpoint
in a loop, with inputs drawn from a small fixed pool per tab (as students trying the examples would),
until the time is up. Before the clock starts, every input of every pool runs once, so every model is
loaded and every per-input cache is filled: memory measured after that is the baseline, and growth
past it over the run would be a leak (goals, issue 7: no failures; no growth once every model is
loaded). Prints calls, failures (with their messages), p50/p95/max latency per tab, and the server's
resident memory (RSS) at start, after the warm-up, at its peak during the run, and at the end.

The Diffusion tab's default model is `tiny-shapes-sd`; until it has been trained into
assets/models/tiny-shapes-sd/, a tiny random pipeline (tests/tiny_diffusion.py) stands in, and the
report says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEXTS = [
    "Tokenizers cut text into pieces: unbelievably, naïve café, 東京",
    "The animal didn't cross the street because it was too tired.",
    "def add(a, b):\n    return a + b",
    "Students follow along on their own laptops while the teacher projects the page.",
]
PROMPTS = ["Write one sentence about the sea.", "The capital of France is", "Give me three names for a cat."]
STRATEGIES = [{"name": "greedy"}, {"name": "top_p", "p": 0.9, "temperature": 0.8}]
SHAPES = ["a small red circle above a large blue square", "a green star on a black background"]


def calls(diffusion_model: str) -> dict[str, list[tuple]]:
    """Per tab: the API name and the argument tuples its users cycle through."""
    return {
        "tokenize": [(text, model) for text in TEXTS for model in ("smollm2-135m-instruct", "all-minilm-l6-v2")],
        "attention": [(text, model, 0, -1) for text in TEXTS for model in ("all-minilm-l6-v2", "smollm2-135m-instruct")],
        "generate": [(prompt, "smollm2-135m-instruct", STRATEGIES, 12, seed, True)
                     for prompt in PROMPTS for seed in (0, 1)],
        "denoise": [(prompt, diffusion_model, 8, 7.5, seed, "DDIM", "") for prompt in SHAPES for seed in (0, 1)],
    }


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children, in MiB (from /proc)."""
    total = 0
    for p in [pid, *child_pids(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def child_pids(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(c) for c in found]
    for child in list(out):
        out += child_pids(child)
    return out


def pick_diffusion_model(scratch: Path) -> tuple[str, str]:
    trained = ROOT / "assets" / "models" / "tiny-shapes-sd"
    if (trained / "model_index.json").is_file():
        return "tiny-shapes-sd", "tiny-shapes-sd (embedded, trained)"
    from tests.tiny_diffusion import build_tiny_pipeline

    folder = build_tiny_pipeline(scratch / "tiny-sd")
    return str(folder), "a tiny random pipeline (tests/tiny_diffusion.py): tiny-shapes-sd is not trained yet"


def start_app(port: int, log: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited with code {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"the app did not serve {url} within 240 s; see {log}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user(url: str, tab: str, pool: list[tuple], offset: int, stop: threading.Event,
         latencies: dict, failures: dict, lock: threading.Lock) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    i = offset
    while not stop.is_set():
        args = pool[i % len(pool)]
        i += 1
        started = time.perf_counter()
        try:
            client.predict(*args, api_name=f"/{tab}")
        except Exception as error:  # every failure is counted and reported, whatever its kind
            with lock:
                failures[tab].append(f"{type(error).__name__}: {str(error)[:160]}")
            continue
        with lock:
            latencies[tab].append(time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (default 120)")
    parser.add_argument("--url", help="a running app (default: start `python app.py` on a free port)")
    parser.add_argument("--pid", type=int, help="the running app's process id, for its memory")
    parser.add_argument("--diffusion-model", help="the /denoise model (default: tiny-shapes-sd when trained, "
                                                  "else a tiny random pipeline)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="pg-load-"))
    if args.diffusion_model:
        diffusion_model, diffusion_note = args.diffusion_model, args.diffusion_model
    else:
        diffusion_model, diffusion_note = pick_diffusion_model(scratch)
    process = None
    if args.url:
        url, pid = args.url, args.pid
    else:
        process, url = start_app(free_port(), scratch / "app.log")
        pid = process.pid
    memory = {"start": rss_mb(pid) if pid else float("nan")}
    pools = calls(diffusion_model)
    try:
        from gradio_client import Client

        print(f"server {url} (pid {pid}); diffusion model: {diffusion_note}")
        warm = Client(url, verbose=False, download_files=False)
        started = time.perf_counter()
        for tab, pool in pools.items():
            for call in pool:
                warm.predict(*call, api_name=f"/{tab}")
        print(f"warm-up: every input once, {time.perf_counter() - started:.1f} s")
        memory["after warm-up"] = rss_mb(pid) if pid else float("nan")

        latencies: dict[str, list[float]] = defaultdict(list)
        failures: dict[str, list[str]] = defaultdict(list)
        lock = threading.Lock()
        stop = threading.Event()
        tabs = list(pools)
        threads = [threading.Thread(target=user, args=(url, tabs[u % len(tabs)], pools[tabs[u % len(tabs)]], u // len(tabs),
                                                       stop, latencies, failures, lock), daemon=True)
                   for u in range(args.users)]
        peak = 0.0
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while time.perf_counter() - started < args.duration:
            time.sleep(1.0)
            if pid:
                peak = max(peak, rss_mb(pid))
        stop.set()
        for thread in threads:
            thread.join(timeout=300)
        elapsed = time.perf_counter() - started
        memory["peak during the run"] = peak if pid else float("nan")
        memory["end"] = rss_mb(pid) if pid else float("nan")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    print(f"\n{args.users} users ({args.users // len(tabs)} per tab), {elapsed:.0f} s "
          f"(the last calls finish after the {args.duration:.0f} s mark)")
    print(f"{'tab':<10} {'calls':>6} {'failed':>6} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'calls/min':>9}")
    for tab in tabs:
        done = latencies[tab]
        if done:
            print(f"{tab:<10} {len(done):>6} {len(failures[tab]):>6} {statistics.median(done):>7.2f} "
                  f"{percentile(done, 0.95):>7.2f} {max(done):>7.2f} {60 * len(done) / elapsed:>9.1f}")
        else:
            print(f"{tab:<10} {0:>6} {len(failures[tab]):>6}")
    total_failures = sum(len(f) for f in failures.values())
    print(f"failures: {total_failures} (goal: none)")
    for tab, messages in failures.items():
        for message in sorted(set(messages)):
            print(f"  {tab}: {messages.count(message)}x {message}")
    print("server memory (RSS, MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in memory.items()))
    if pid:
        growth = memory["end"] - memory["after warm-up"]
        print(f"growth after the warm-up: {growth:+.0f} MiB ({100 * growth / memory['after warm-up']:+.1f}%; "
              "goal: none once every model is loaded)")


if __name__ == "__main__":
    main()
