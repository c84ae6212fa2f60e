"""The server seen from outside, through /proc (Linux): its memory, its threads' CPU time, whether it still
runs; and the app started the way the tests start it. Used by classroom_bench.py.

    >>> import os
    >>> mine = thread_cpu(os.getpid())                 # CPU seconds per thread of this process
    >>> os.getpid() in mine and server_exit(os.getpid()) is None
    True
    >>> process_cpu(os.getpid()) >= sum(mine.values()) - 0.05       # every thread, ended ones too
    True
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import threading
from pathlib import Path

from benchmarks.load_test import child_pids, rss_mb


class MemoryWatch:
    """Samples the server's RSS every 0.5 s in a thread; `peak()` returns the highest since the last call."""

    def __init__(self, pid: int | None):
        self.pid, self._peak, self._stop = pid, 0.0, threading.Event()
        if pid:
            threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._peak = max(self._peak, rss_mb(self.pid))

    def now(self) -> float:
        return rss_mb(self.pid) if self.pid else float("nan")

    def peak(self) -> float:
        if not self.pid:
            return float("nan")
        peak, self._peak = max(self._peak, rss_mb(self.pid)), 0.0
        return peak

    def stop(self) -> None:
        self._stop.set()


def server_exit(pid: int) -> str | None:
    """None while the server runs, else how it ended (read without reaping it: it is this script's child
    when this script started it, and serve_app waits for it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "is gone"
    if state != "Z":
        return None
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return "exited"
    if info is not None and info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return f"was killed by signal {info.si_status} ({signal.Signals(info.si_status).name})"
    return f"exited with code {info.si_status}" if info is not None else "exited"


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of the process, from /proc/<pid>/task/<tid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = task.joinpath("stat").read_text().rsplit(")", 1)[1].split()
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks   # utime, stime
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used, threads that have ended included: a crowd's batch
    and shared runs each compute in a thread that ends with them."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def computing_threads(before: dict[int, float], after: dict[int, float]) -> int:
    """Threads that did real work between two thread_cpu samples: at least 30% of the busiest one's CPU time.
    A lone /generate call runs in one worker thread plus the intra-op threads torch gives it (they share its
    matrix products evenly), so there this counts torch's threads. /denoise also encodes its PNGs in another
    thread, which can pass the bar at a few steps."""
    used = [after[t] - before.get(t, 0.0) for t in after]
    busiest = max(used, default=0.0)
    return sum(1 for u in used if busiest > 0.05 and u >= 0.3 * busiest)


@contextlib.contextmanager
def started_app(log: Path, env: dict[str, str]):
    """tests.conftest.serve_app (`python app.py`, HF_HUB_OFFLINE=1, a free port), without the tail of the app's
    log it prints on closing: the findings in it are summed up in the report, and the log stays in `log`."""
    from tests.conftest import serve_app

    server = serve_app(log, **env)
    url, _ = server.__enter__()
    try:
        yield url
    finally:
        with contextlib.redirect_stdout(io.StringIO()):
            server.__exit__(None, None, None)


def server_log_findings(log: Path) -> dict[str, int]:
    """How often the server logged what issue 15's truncation looks like from its side, and tracebacks."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    return {"Too little data for declared Content-Length": text.count("Too little data for declared Content-Length"),
            "LocalProtocolError": text.count("LocalProtocolError"), "Traceback": text.count("Traceback")}


def child_app_pid() -> int | None:
    """The pid of the app serve_app started (it hands out the url, not the process): our child running app.py."""
    for pid in child_pids(os.getpid()):
        with contextlib.suppress(OSError):
            if b"app.py" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
    return None
