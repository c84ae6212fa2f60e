"""Keeping a long-running server's memory flat: fewer malloc arenas, and free pages handed back.

A Gradio server answers requests on a pool of worker threads. glibc's malloc gives each thread its own
arena (up to 8 per core), and memory freed in an arena stays with the process: a model run that
allocated 300 MB of temporaries on one worker leaves that worker's arena large, and the next big run on
another worker grows another arena. Resident memory then creeps up for a long time after every model
is loaded (benchmarks/load_test.py measured +221 MiB over 2 minutes, and still growing, before this).

    >>> limit_malloc_arenas()          # at start-up, before the worker threads exist
    True
    >>> trim_periodically(30.0)        # a daemon thread calls malloc_trim(0) every 30 s
    True

Both do nothing (and return False) where the C library is not glibc (macOS, Windows, musl), or when
MALLOC_ARENA_MAX is already set in the environment (the user's choice wins).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
import time
from functools import lru_cache
from typing import Any

from playground.settings import current

M_ARENA_MAX = -8     # mallopt parameter number, from glibc's malloc.h
ARENAS = 2


@lru_cache(maxsize=1)
def _glibc() -> Any | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (MALLOC_ARENA_MAX) for threads that start after this call."""
    libc = _glibc()
    if libc is None or current().malloc_arena_max_set:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, int(arenas)))


def trim_now() -> bool:
    """Hand free heap pages back to the system (glibc's malloc_trim); True if any were released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def trim_periodically(seconds: float) -> bool:
    """Start a daemon thread that calls trim_now() every `seconds` (a trim took 18 ms after two concurrent
    512-token attention runs on the 2-core machine, well under 1 ms when little was freed)."""
    if _glibc() is None:
        return False
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}.")
    def run() -> None:
        while True:
            time.sleep(seconds)
            trim_now()

    threading.Thread(target=run, name="playground-malloc-trim", daemon=True).start()
    return True
