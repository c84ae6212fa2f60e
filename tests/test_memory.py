"""playground/memory.py: the malloc arena cap and the periodic trim (glibc only)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from playground import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_the_arena_cap_applies_unless_the_environment_already_sets_one():
    code = "from playground import memory; print(memory.limit_malloc_arenas())"
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert plain.stdout.strip() == "True"
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"MALLOC_ARENA_MAX": "4", "PATH": "/usr/bin:/bin"})
    assert chosen.stdout.strip() == "False"


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_a_trim_hands_freed_memory_back():
    code = ("import ctypes, threading\n"
            "from playground import memory\n"
            "def churn():\n"
            "    blocks = [bytearray(64 * 1024) for _ in range(2000)]\n"   # 128 MB of small blocks in a thread's arena
            "    del blocks[:-1]\n"
            "t = threading.Thread(target=churn); t.start(); t.join()\n"
            "def rss():\n"
            "    return int(open('/proc/self/statm').read().split()[1])\n"
            "before = rss(); released = memory.trim_now(); after = rss()\n"
            "print(released, before - after)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    released, pages = done.stdout.split()
    assert released == "True" and int(pages) > 1000


def test_periodic_trim_refuses_a_bad_interval():
    if not GLIBC:
        assert memory.trim_periodically(-1) is False
        return
    with pytest.raises(ValueError, match="seconds must be positive"):
        memory.trim_periodically(0)
