"""playground/shared.py: one run for many identical requests, followed at each one's pace, stoppable alone."""

from __future__ import annotations

import threading
import time

import pytest

from playground.shared import SharedRuns


def slow_count(n: int, started: list, delay: float = 0.01):
    def run():
        started.append(1)
        for i in range(n):
            time.sleep(delay)
            yield i
    return run


def test_sixteen_identical_requests_at_once_share_one_run():
    runs, started, results = SharedRuns(), [], [None] * 16
    barrier = threading.Barrier(16)

    def user(i):
        barrier.wait()
        results[i] = list(runs.stream("same", slow_count(20, started)))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert started == [1] and runs.started == 1
    assert results == [list(range(20))] * 16


def test_a_finished_run_is_replayed_and_the_cache_is_bounded():
    runs, started = SharedRuns(max_runs=2), []
    for key in ("a", "b", "a", "c", "a"):
        assert list(runs.stream(key, slow_count(3, started, 0))) == [0, 1, 2]
    assert len(started) == 3                   # a, b, c; "a" replayed twice, still kept (it was used last)
    list(runs.stream("b", slow_count(3, started, 0)))
    assert len(started) == 4                   # "b" had been dropped to keep two runs


def test_one_user_stopping_leaves_the_others_running():
    runs, started = SharedRuns(), []
    first = runs.stream("x", slow_count(30, started))
    second = runs.stream("x", slow_count(30, started))
    assert [next(first), next(first)] == [0, 1]
    first.close()                                   # Stop, for the first user only
    assert list(second) == list(range(30)) and started == [1]


def test_a_run_nobody_follows_stops_and_is_not_kept():
    runs, started, made = SharedRuns(), [], []

    def endless():
        started.append(1)
        for i in range(10**9):
            made.append(i)
            time.sleep(0.005)
            yield i

    stream = runs.stream("forever", endless)
    next(stream)
    stream.close()
    time.sleep(0.2)
    count = len(made)
    time.sleep(0.2)
    assert len(made) <= count + 1                    # the producer stopped
    again = runs.stream("forever", endless)
    assert next(again) == 0 and started == [1, 1]    # not replayed from a half-done run: started afresh
    again.close()


def test_an_error_reaches_every_follower_and_is_not_kept():
    runs, started = SharedRuns(), []

    def failing():
        started.append(1)
        yield 0
        raise ValueError("steps must be a whole number")

    for _ in range(2):
        stream = runs.stream("bad", failing)
        assert next(stream) == 0
        with pytest.raises(ValueError, match="whole number"):
            next(stream)
    assert started == [1, 1]
