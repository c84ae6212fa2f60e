"""A class at once: compatible requests share one batch (playground/crowd.py, sampling's decode_together),
identical ones one run (playground/shared.py, sampling's COMPARISONS), and every user gets what they would
get alone, token for token."""

from __future__ import annotations

import threading

import numpy as np

from playground import sampling as S
from playground.crowd import Crowd
from tests.sampling_fixtures import tiny, tiny_lm  # noqa: F401  (fixtures)


def at_once(count: int, work) -> list:
    """Run work(i) for i in range(count) in threads that start together; their results in order."""
    results, barrier = [None] * count, threading.Barrier(count)

    def user(i):
        barrier.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_members_that_arrive_together_share_a_batch_and_read_their_own_part():
    crowd = Crowd(gather_seconds=0.2)

    def run(members):
        for step in range(3):
            yield [m + step for m in members]

    results = at_once(6, lambda i: list(crowd.stream("key", i * 100, run, lambda values, j: values[j])))
    assert results == [[i * 100, i * 100 + 1, i * 100 + 2] for i in range(6)]
    assert crowd.batches == [6]


def test_a_member_that_stops_leaves_the_others_and_an_error_reaches_everyone():
    crowd = Crowd(gather_seconds=0.05)

    def run(members):
        for step in range(50):
            yield step

    first = crowd.stream("k", 0, run, lambda value, j: value)
    second = crowd.stream("k", 1, run, lambda value, j: value)
    assert next(first) == 0
    first.close()
    assert list(second) == list(range(1, 50)) or list(second) == []   # the second reads on to the end

    def failing(members):
        yield 1
        raise ValueError("prompt is empty")

    streams = [crowd.stream("bad", i, failing, lambda value, j: value) for i in range(2)]
    for stream in streams:
        assert next(stream) == 1
        try:
            next(stream)
        except ValueError as error:
            assert "prompt is empty" in str(error)
        else:
            raise AssertionError("the error was lost")


def test_users_with_different_seeds_decode_in_one_batch_and_get_their_own_tokens(tiny_lm):
    ids = tiny_lm.tokenizer("the cat sat on")["input_ids"]
    strategies = S.parse_strategies([{"name": "greedy"}, {"name": "top_p", "p": 0.9, "temperature": 1.5}])
    alone = [[b.token_ids.tolist() for b in S.decode_rows(tiny_lm, ids, S.rows_for(strategies, seed), 8)]
             for seed in range(8)]
    before = len(S.loop.DECODING.batches)
    crowd = at_once(8, lambda seed: [b.token_ids.tolist() for b in
                                     S.decode_together(tiny_lm, ids, S.rows_for(strategies, seed), 8)])
    assert crowd == alone                                         # token for token, each user
    assert len({tuple(map(tuple, tokens)) for tokens in crowd}) > 1   # the seeds did differ
    assert max(S.loop.DECODING.batches[before:]) >= 4             # they shared batches (8 users, 9 distinct rows)


def test_identical_comparisons_at_once_are_computed_once(tiny):
    strategies = [{"name": "greedy"}, {"name": "top_k", "k": 5}]
    started = S.COMPARISONS.started
    runs = at_once(8, lambda i: S.compare(tiny, "the cat sat", strategies, max_new_tokens=6, seed=11, chat=False))
    assert S.COMPARISONS.started == started + 1
    texts = {tuple(result.token_ids for result in run.results) for run in runs}
    assert len(texts) == 1 and all(run.done for run in runs)
    alone = S.compare(tiny, "the cat sat", strategies, max_new_tokens=6, seed=12, chat=False)   # another seed: new
    assert S.COMPARISONS.started == started + 2 and alone.results[0].token_ids == runs[0].results[0].token_ids


def test_a_class_arriving_over_a_few_tenths_of_a_second_still_shares_one_batch_and_a_lone_member_waits_once():
    import time

    crowd = Crowd(gather_seconds=0.1, gather_max_seconds=2.0)

    def run(members):
        yield list(members)

    def late(i):                        # one member every 60 ms: 0.42 s from the first to the last
        time.sleep(0.06 * i)
        return next(crowd.stream("key", i, run, lambda values, j: values[j]))

    assert at_once(8, late) == list(range(8)) and crowd.batches == [8]
    started = time.monotonic()
    assert list(crowd.stream("alone", 1, run, lambda values, j: values[j])) == [1]
    assert time.monotonic() - started < 0.18          # one gather_seconds, not two
    capped = Crowd(gather_seconds=0.1, gather_max_seconds=0.15)
    at_once(8, lambda i: (time.sleep(0.06 * i), list(capped.stream("key", i, run, lambda v, j: v[j])))[1])
    assert len(capped.batches) > 1                    # the cap ends the gathering
