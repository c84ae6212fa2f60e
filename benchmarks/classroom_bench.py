"""A class on one server (issue 14): N students press the same button at the same moment.

    .venv/bin/python benchmarks/classroom_bench.py                          # starts the app, 16 users, all four scenes
    .venv/bin/python benchmarks/classroom_bench.py --users 30 --out class30.json
    .venv/bin/python benchmarks/classroom_bench.py --scenes denoise-same --steps 8 --threads 1
    .venv/bin/python benchmarks/classroom_bench.py --server-env OMP_NUM_THREADS=1    # torch on one thread per call
    .venv/bin/python benchmarks/classroom_bench.py --url http://127.0.0.1:7860/ --pid 1234   # a running app
    .venv/bin/python benchmarks/classroom_bench.py --files keep-alive     # users fetch files as a browser does

Scenes (each a crowd of `--users` gradio_client users, one Client each, created before a threading.Barrier
releases them together):

    generate-same    /generate, SmolLM2, greedy + top-p, `--tokens` new tokens, every user the same seed
    generate-seeds   the same, each user a different seed
    denoise-same     /denoise, tiny-shapes-sd, `--steps` DDIM steps, guidance 5, every user the same seed
    denoise-seeds    the same, each user a different seed

For each endpoint, "one user alone" is the median of 3 lone calls, after a warm-up call that loads the model.
The lone calls, the warm-up and each crowd use seeds no other call uses, so a server that keeps a cache of
results can't answer one of them from another (the reference calls below come after the crowd, so with such
a cache they check the crowd against its own cached result). Per scene the table gives the slowest user of
the crowd, its ratio to one user alone (goals: 1.5 for identical requests, 3 for different ones), p50 and p95
of the crowd's latencies, and failures, each with its text. A failure is any of:

  * an exception in a user's call;
  * a truncated file (issue 15): the download raised "peer closed connection without sending complete message
    body" (the server logs "Too little data for declared Content-Length"), or a PNG, final image or step
    preview, does not decode whole (a file the server found empty comes back as 0 bytes, with no error);
  * an incomplete result: a step or strategy missing, no tokens;
  * identical scenes: a result that differs from the lone call of the same request (the text and token ids
    of each strategy; every pixel of the final image and of each step preview, and the timesteps);
  * different seeds: two users with the same result, or the first and last user's result differing from a
    lone call of their request.

Also: p50 and p95 per endpoint over all its crowds, the server's CPU time per call (lone and in each crowd),
its resident memory (start, after the warm-ups, the peak of each crowd, end), the load average before and
after (the machine may be shared), and how many of the server's threads were busy during a lone /generate
call (from /proc/<pid>/task): one worker thread plus torch's intra-op threads, which shows whether
PLAYGROUND_TORCH_THREADS (`--threads`) was honoured. (That count relies on libgomp's default wait policy, in
which an intra-op thread spins, and so stays busy, between the matrix products it shares; with
OMP_WAIT_POLICY=PASSIVE it sleeps instead and may not be counted.) When a lone call costs the server several
times the CPU of a call in a crowd, a note says why: that spinning, which other load on the machine turns
into lost time. `--out` writes all of it, with every latency, as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from benchmarks.classroom_results import (Failure, differences, failure_of, fingerprint,  # noqa: E402
                                          read_denoise, read_generate)
from benchmarks.load_test import percentile  # noqa: E402
from benchmarks.server_proc import (MemoryWatch, child_app_pid, computing_threads, process_cpu,  # noqa: E402
                                    server_exit, server_log_findings, started_app, thread_cpu)

PROMPT = "Write a short story about a lighthouse keeper."   # long enough that no strategy ends within 24 tokens
STRATEGIES = [{"name": "greedy"}, {"name": "top_p", "p": 0.9, "temperature": 1.0}]
SHAPES_PROMPT = "a small red circle above a large blue square on a white background"   # the Diffusion tab's default
SCENES = ("generate-same", "generate-seeds", "denoise-same", "denoise-seeds")
GOALS = {"same": 1.5, "seeds": 3.0}   # slowest of the crowd / one user alone (issue 14)
# Seeds: the warm-up, the lone calls and each crowd get their own, so a result cache can't serve one from another.
WARM_SEED, LONE_SEEDS, SAME_SEED, FIRST_CROWD_SEED = 999, (1, 2, 3), 0, 100


@dataclass(frozen=True)
class SceneResult:
    scene: str
    endpoint: str
    users: int
    alone_s: float                  # median of the endpoint's lone calls
    slowest_s: float
    ratio: float                    # slowest / alone
    goal: float
    p50_s: float
    p95_s: float
    latencies_s: list[float]        # (users,) each user's call, in user order, failed ones too
    failures: list[Failure]
    peak_rss_mb: float              # the server's resident memory at its highest during the crowd
    server_cpu_s: float             # CPU seconds the server's threads used during the crowd (nan: no pid)
    note: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One API endpoint: its arguments for a seed, and how to read (and check) its result."""
    name: str
    args: Callable[[int], tuple]    # seed -> the predict arguments
    read: Callable[[Any], Any]      # predict's result -> what is compared; raises Incomplete / Truncated


@dataclass(frozen=True)
class Lone:
    """One user alone on an endpoint: the lone calls after the warm-up."""
    warm_up_s: float                # the first call, which loads the model
    seconds: list[float]            # (3,) wall time of each lone call
    server_cpu_s: list[float]       # (3,) CPU seconds the server's threads used during each (nan: no pid)
    threads: list[int]              # (3,) server threads that computed during each (0: no pid)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


def generate_args(tokens: int):
    return lambda seed: (PROMPT, "smollm2-135m-instruct", STRATEGIES, tokens, seed, True)


def denoise_args(steps: int):
    return lambda seed: (SHAPES_PROMPT, "tiny-shapes-sd", steps, 5.0, seed, "DDIM", "")


# ---------------------------------------------------------------------------------------------
# Calls


@dataclass
class User:
    """One student: a gradio_client Client, the folder their files land in, and with `--files keep-alive` the one
    HTTP connection they fetch their files over (as a browser does) instead of gradio_client's own download,
    which opens a new client, with a new TLS context, for every file: about 20 ms of CPU each, which here falls on
    the server's two cores (in a class it falls on each student's machine)."""
    client: Any
    folder: Path
    http: Any = None                # httpx.Client, or None: gradio_client downloads the files itself
    fetched: Any = field(default_factory=itertools.count)   # numbers the fetched files, so none overwrites another

    def fetch(self, value):
        """`value` with every file the server returned (gradio FileData) fetched into `folder`, as its path."""
        if isinstance(value, (list, tuple)):
            return type(value)(self.fetch(item) for item in value)
        if isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData":
            response = self.http.get(value["url"])
            response.raise_for_status()
            path = self.folder / f"{next(self.fetched):04d}-{Path(value['path']).name}"
            path.write_bytes(response.content)
            return str(path)
        if isinstance(value, dict):
            return {key: self.fetch(item) for key, item in value.items()}
        return value


def call(user: User, endpoint: Endpoint, seed: int, timeout: float):
    result = user.client.submit(*endpoint.args(seed), api_name=f"/{endpoint.name}").result(timeout=timeout)
    return user.fetch(result) if user.http is not None else result


def crowd(clients: list, endpoint: Endpoint, seeds: list[int], timeout: float):
    """Every client calls at once (a Barrier releases them together). Returns (latencies, reads or Failures)."""
    barrier = threading.Barrier(len(clients))
    latencies = [float("nan")] * len(clients)
    outcomes: list = [None] * len(clients)

    def user(u: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            result = call(clients[u], endpoint, seeds[u], timeout)
        except Exception as error:   # every failure is counted and reported, whatever its kind
            latencies[u], outcomes[u] = time.perf_counter() - started, failure_of(u, error)
            return
        latencies[u] = time.perf_counter() - started
        try:
            outcomes[u] = endpoint.read(result)
        except Exception as error:
            outcomes[u] = failure_of(u, error)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 60)
    return latencies, outcomes


def make_clients(url: str, users: int, scratch: Path, files: str) -> list[User]:
    """One User per student, each with their own folder (created in parallel, before any barrier)."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from gradio_client import Client

    def make(u: int) -> User:
        folder = scratch / f"user-{u:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        if files == "keep-alive":
            return User(Client(url, verbose=False, download_files=False, analytics_enabled=False), folder,
                        httpx.Client(timeout=120))
        return User(Client(url, verbose=False, download_files=str(folder), analytics_enabled=False), folder)

    with ThreadPoolExecutor(min(users, 8)) as pool:
        return list(pool.map(make, range(users)))


def measure_alone(client, endpoint: Endpoint, timeout: float, pid: int | None, log) -> Lone:
    """A warm-up call (it loads the model), then 3 lone calls, each with the server's CPU time and threads."""
    started = time.perf_counter()
    endpoint.read(call(client, endpoint, WARM_SEED, timeout))
    warm_up = time.perf_counter() - started
    seconds, cpu, threads = [], [], []
    for seed in LONE_SEEDS:
        before, cpu_before = (thread_cpu(pid), process_cpu(pid)) if pid else ({}, 0.0)
        started = time.perf_counter()
        endpoint.read(call(client, endpoint, seed, timeout))
        seconds.append(time.perf_counter() - started)
        after = thread_cpu(pid) if pid else {}
        cpu.append(process_cpu(pid) - cpu_before if pid else float("nan"))
        threads.append(computing_threads(before, after) if pid else 0)
    lone = Lone(warm_up, seconds, cpu, threads)
    log(f"/{endpoint.name}: warm-up (loads the model) {warm_up:.1f} s; one user alone "
        f"{', '.join(f'{x:.2f}' for x in seconds)} s (median {lone.median_s:.2f} s)"
        + (f"; server CPU {', '.join(f'{x:.2f}' for x in cpu)} s on {threads} threads" if pid else ""))
    return lone


def run_endpoint(clients, endpoint: Endpoint, scenes: list[str], timeout: float, memory: MemoryWatch,
                 pid: int | None, log) -> tuple[Lone, list[SceneResult]]:
    """One user alone, then each scene's crowd and its reference calls."""
    lone_client = clients[0]
    lone = measure_alone(lone_client, endpoint, timeout, pid, log)
    alone = lone.median_s
    results = []
    for scene in scenes:
        kind = scene.split("-", 1)[1]
        n = len(clients)
        seeds = [SAME_SEED] * n if kind == "same" else [FIRST_CROWD_SEED + u for u in range(n)]
        memory.peak()
        cpu_before = process_cpu(pid) if pid else 0.0
        latencies, outcomes = crowd(clients, endpoint, seeds, timeout)
        cpu_after = process_cpu(pid) if pid else 0.0
        peak = memory.peak()
        failures = [o for o in outcomes if isinstance(o, Failure)]
        reads = {u: o for u, o in enumerate(outcomes) if not isinstance(o, Failure)}
        failures += check(scene, lone_client, endpoint, seeds, reads, timeout)
        done = [t for u, t in enumerate(latencies) if t == t and not isinstance(outcomes[u], Failure)]
        slowest = max(latencies)   # a user whose call failed waited too
        note = "" if len(done) == n else f"{n - len(done)} of {n} calls failed; p50/p95 over the rest"
        results.append(SceneResult(
            scene=scene, endpoint=f"/{endpoint.name}", users=n, alone_s=alone, slowest_s=slowest,
            ratio=slowest / alone, goal=GOALS[kind], p50_s=statistics.median(done) if done else float("nan"),
            p95_s=percentile(done, 0.95) if done else float("nan"), latencies_s=latencies, failures=failures,
            peak_rss_mb=peak, server_cpu_s=cpu_after - cpu_before if pid else float("nan"), note=note))
        log(f"{scene}: slowest of {n} {slowest:.2f} s, ratio {slowest / alone:.1f}, {len(failures)} failures"
            + (f"; server CPU {results[-1].server_cpu_s:.1f} s" if pid else ""))
        if pid and server_exit(pid):
            break
    return lone, results


def check(scene: str, client, endpoint: Endpoint, seeds: list[int], reads: dict, timeout: float) -> list[Failure]:
    """Identical scenes: every result equals a lone call of the request. Different seeds: no two results
    alike, and the first and last user's result equal a lone call of their request. Lone calls come after
    the crowd (see the module's docstring)."""
    failures = []
    references = {0, len(seeds) - 1} if scene.endswith("seeds") else {0}
    for u in sorted(references):
        try:
            reference = endpoint.read(call(client, endpoint, seeds[u], timeout))
        except Exception as error:
            failures.append(Failure(-1, "exception", f"the lone reference call (seed {seeds[u]}): {failure_of(-1, error).message}"))
            continue
        compared = reads.items() if scene.endswith("same") else [(u, reads[u])] if u in reads else []
        for v, got in compared:
            if gap := differences(got, reference):
                failures.append(Failure(v, "mismatch", f"seed {seeds[v]}: differs from a lone call: {gap}"[:400]))
    if scene.endswith("seeds"):
        seen: dict[bytes, int] = {}
        for u, got in reads.items():
            key = fingerprint(got)
            if key in seen:
                failures.append(Failure(u, "duplicate", f"seed {seeds[u]} gave the same result as user "
                                                        f"{seen[key]} (seed {seeds[seen[key]]})"))
            seen.setdefault(key, u)
    return failures


# ---------------------------------------------------------------------------------------------
# Report


def print_table(results: list[SceneResult], lones: dict[str, Lone], users: int) -> None:
    print(f"\n{'scene':<15} {'endpoint':<10} {'alone s':>8} {f'slowest of {users} s':>17} {'ratio':>6} {'goal':>5} "
          f"{'met':>4} {'p50 s':>7} {'p95 s':>7} {'failures':>8}   server CPU s per call: alone, in the crowd")
    for r in results:
        met = "no" if r.ratio > r.goal or r.failures else "?" if alone_inflated(lones[r.endpoint], r) else "yes"
        print(f"{r.scene:<15} {r.endpoint:<10} {r.alone_s:>8.2f} {r.slowest_s:>17.2f} {r.ratio:>6.1f} "
              f"{r.goal:>5.1f} {met:>4} {r.p50_s:>7.2f} {r.p95_s:>7.2f} {len(r.failures):>8}   "
              f"{statistics.median(lones[r.endpoint].server_cpu_s):>6.2f} {r.server_cpu_s / r.users:>6.2f}")
    print("\nper endpoint, all its crowds together:")
    for endpoint in sorted({r.endpoint for r in results}):
        done = [t for r in results if r.endpoint == endpoint for u, t in enumerate(r.latencies_s)
                if t == t and all(f.user != u for f in r.failures)]
        if done:
            print(f"  {endpoint:<10} {len(done)} calls  p50 {statistics.median(done):.2f} s  p95 {percentile(done, 0.95):.2f} s")
    for r in results:
        if r.note:
            print(f"  {r.scene}: {r.note}")
        for f in r.failures:
            who = "reference" if f.user < 0 else f"user {f.user}"
            print(f"  FAILURE {r.scene}, {who}, {f.kind}: {f.message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=16, help="users in each crowd (default 16; a large class: 30)")
    parser.add_argument("--scenes", default=",".join(SCENES), help=f"comma-separated subset of {', '.join(SCENES)}")
    parser.add_argument("--tokens", type=int, default=24, help="/generate's new tokens (default 24)")
    parser.add_argument("--steps", type=int, default=20, help="/denoise's DDIM steps (default 20)")
    parser.add_argument("--threads", type=int, help="torch threads for the server, as PLAYGROUND_TORCH_THREADS "
                                                    "(only when this script starts it)")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="another environment variable for the server this script starts (repeatable), "
                             "e.g. OMP_NUM_THREADS=1 to see what torch's threads cost before the app sets them")
    parser.add_argument("--url", help="a running app (default: start `python app.py` on a free port)")
    parser.add_argument("--pid", type=int, help="the running app's process id, for its memory and threads")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one call may take (default 600)")
    parser.add_argument("--files", choices=["gradio_client", "keep-alive"], default="gradio_client",
                        help="how each user gets the files of an answer (the PNGs of /denoise): gradio_client's "
                             "own download (default), or over one keep-alive connection per user, as a browser "
                             "does (see User)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    scenes = [s.strip() for s in args.scenes.split(",") if s.strip()]
    if unknown := [s for s in scenes if s not in SCENES]:
        parser.error(f"unknown scene(s) {', '.join(unknown)}; choose from {', '.join(SCENES)}")
    if args.users < 2:
        parser.error("--users must be at least 2: a crowd")
    if args.url and (args.threads or args.server_env):
        parser.error("--threads and --server-env set the environment of a server this script starts; with --url, "
                     "start the app with them yourself")
    if bad := [pair for pair in args.server_env if "=" not in pair]:
        parser.error(f"--server-env takes NAME=VALUE, not {', '.join(bad)}")

    def log(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    scratch = Path(tempfile.mkdtemp(prefix="pg-classroom-"))
    app_log = scratch / "app.log"
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        if args.url:
            url, pid = args.url, args.pid
        else:
            env = dict(pair.split("=", 1) for pair in args.server_env)
            if args.threads:
                env["PLAYGROUND_TORCH_THREADS"] = str(args.threads)
            url = stack.enter_context(started_app(app_log, env))
            pid = child_app_pid()
        memory = MemoryWatch(pid)
        stack.callback(memory.stop)
        log(f"server {url} (pid {pid or 'unknown'}); {args.users} users, files by {args.files}; "
            f"load average {load_before[0]:.2f}"
            + "".join(f"; {pair}" for pair in args.server_env))
        memory_marks = {"start": memory.now()}
        clients = make_clients(url, args.users, scratch, args.files)
        endpoints = [Endpoint("generate", generate_args(args.tokens), lambda result: read_generate(result, args.tokens, len(STRATEGIES))),
                     Endpoint("denoise", denoise_args(args.steps), lambda result: read_denoise(result, args.steps))]
        results, lones = [], {}
        ended = None
        for endpoint in endpoints:
            if not (mine := [s for s in scenes if s.startswith(endpoint.name + "-")]):
                continue
            try:
                lones[f"/{endpoint.name}"], found = run_endpoint(clients, endpoint, mine, args.timeout, memory, pid, log)
            except Exception:
                if not (pid and (ended := server_exit(pid))):
                    raise
                break
            results += found
            memory_marks[f"after /{endpoint.name}"] = memory.now()
            if pid and (ended := server_exit(pid)):
                break
        memory_marks["end"] = memory.now()
        if ended:
            log(f"the server {ended}: the scenes after that were not run (see {app_log})")
    load_after = os.getloadavg()
    for folder in scratch.glob("user-*"):      # the downloads, checked already; app.log stays
        shutil.rmtree(folder, ignore_errors=True)
    if ended:
        print(f"\nTHE SERVER {ended.upper()} during the run; the table holds what was measured before.")

    print_table(results, lones, args.users)
    print("\nserver memory (RSS, MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in memory_marks.items())
          + "; crowd peaks: " + ", ".join(f"{r.scene} {r.peak_rss_mb:.0f}" for r in results))
    threads_note = describe_threads(args.threads, lones, args.server_env)
    print(threads_note)
    if spin := spin_note(lones, results):
        print(spin)
    findings = server_log_findings(app_log) if not args.url else {}
    if findings:
        print(f"server log ({app_log}): " + ", ".join(f"{k} {v}x" for k, v in findings.items()))
    print(f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPU cores")
    if args.out:
        report = {"users": args.users, "files": args.files, "tokens": args.tokens, "steps": args.steps, "url": url,
                  "prompt": PROMPT, "strategies": STRATEGIES, "diffusion_prompt": SHAPES_PROMPT,
                  "server_ended": ended, "threads_asked": args.threads, "server_env": args.server_env, "threads_note": threads_note,
                  "spin_note": spin,
                  "alone": {name: {**asdict(lone), "median_s": lone.median_s} for name, lone in lones.items()},
                  "scenes": [asdict(r) for r in results], "memory_mb": memory_marks, "server_log": findings,
                  "load_average": {"before": load_before, "after": load_after}, "cpu_count": os.cpu_count()}
        args.out.write_text(json.dumps(report, indent=1, allow_nan=True))
        print(f"wrote {args.out}")


def describe_threads(asked: int | None, lones: dict[str, Lone], server_env: list[str]) -> str:
    """What the server's threads did during lone calls, and whether PLAYGROUND_TORCH_THREADS was honoured
    (judged on /generate, whose lone call computes in one worker thread and torch's intra-op threads)."""
    seen = {name: statistics.median(lone.threads) for name, lone in lones.items() if any(lone.threads)}
    if not seen:
        return "server threads: unknown (give --pid for a server this script did not start)"
    line = ("server threads computing during a lone call (median of 3): "
            + ", ".join(f"{name} {count:g}" for name, count in seen.items())
            + "; server CPU per lone call: " + ", ".join(
                f"{name} {statistics.median(lone.server_cpu_s):.2f} s" for name, lone in lones.items()))
    if asked is None:
        return line
    if "/generate" not in seen:
        return line + f"; PLAYGROUND_TORCH_THREADS={asked}: whether it is honoured is judged on /generate (not run)"
    if any(pair.startswith("OMP_") for pair in server_env):
        return line + f"; PLAYGROUND_TORCH_THREADS={asked}: not judged (an OMP_ variable changes what the count means)"
    if seen["/generate"] == asked:
        return line + f"; PLAYGROUND_TORCH_THREADS={asked} honoured"
    return (line + f"; PLAYGROUND_TORCH_THREADS={asked} NOT honoured: /generate computed on {seen['/generate']:g} "
                   "threads (the server does not set torch's threads from it yet)")


def spin_note(lones: dict[str, Lone], results: list[SceneResult]) -> str:
    """A warning when a lone call costs the server far more CPU than a call in a crowd does: torch's OpenMP
    threads spinning while they wait for work, which makes "one user alone" slow on a loaded machine."""
    notes = []
    for name, lone in lones.items():
        crowds = [r for r in results if r.endpoint == name and alone_inflated(lone, r)]
        if crowds:
            cheapest = min(r.server_cpu_s / r.users for r in crowds)
            notes.append(f"a lone {name} call used {statistics.median(lone.server_cpu_s):.1f} s of server CPU, "
                         f"a call in a crowd {cheapest:.1f} s")
    if not notes:
        return ""
    return ("NOTE: " + "; ".join(notes) + ". torch's OpenMP threads spin while they wait for work (libgomp spins at "
            "full speed while it has no more threads than cores, and throttles when concurrent calls give it more), "
            "and other load on the machine turns the spinning into lost time: 'one user alone' is slow, and the "
            "ratios look better than they are (their goals are marked '?'). Compare with --server-env "
            "OMP_WAIT_POLICY=PASSIVE.")


def alone_inflated(lone: Lone, scene: SceneResult) -> bool:
    """Lone calls kept over 1.5 cores busy and cost the server over 3x the CPU of a call in this crowd of
    different requests (see spin_note). Either alone is no sign: a crowd that batches its requests is meant to
    cost less per call, and a large product may keep every core busy."""
    cores = statistics.median(lone.server_cpu_s) / statistics.median(lone.seconds)
    return (scene.scene.endswith("-seeds") and cores > 1.5
            and statistics.median(lone.server_cpu_s) > 3 * scene.server_cpu_s / scene.users)   # False when nan


if __name__ == "__main__":
    main()
