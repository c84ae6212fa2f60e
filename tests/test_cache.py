import threading
import time

import pytest

from playground.cache import ModelCache, model_budget


def test_each_key_loads_once_under_concurrent_requests():
    cache = ModelCache(budget_bytes=10**9)
    calls = []

    def slow_load():
        calls.append(1)
        time.sleep(0.2)
        return object(), 10

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("model", slow_load))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and cache.loads == 1
    assert len({id(r) for r in results}) == 1


def test_least_recently_used_entries_are_evicted_over_budget():
    cache = ModelCache(budget_bytes=100)
    cache.get("a", lambda: ("A", 40))
    cache.get("b", lambda: ("B", 40))
    cache.get("a", lambda: pytest.fail("a is cached"))
    cache.get("c", lambda: ("C", 40))  # 120 > 100: b is the least recently used
    assert cache.keys() == ["a", "c"]
    assert cache.used_bytes() == 80


def test_an_entry_larger_than_the_budget_is_still_served():
    cache = ModelCache(budget_bytes=10)
    assert cache.get("big", lambda: ("BIG", 50)) == "BIG"
    assert cache.keys() == ["big"]


def test_a_failed_load_is_not_cached():
    cache = ModelCache(budget_bytes=100)
    with pytest.raises(ValueError):
        cache.get("x", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert cache.get("x", lambda: ("ok", 1)) == "ok"


def test_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MEMORY_MB", "2")
    assert model_budget() == 2 * 2**20 == ModelCache().budget_bytes
    monkeypatch.setenv("PLAYGROUND_MEMORY_MB", "lots")
    with pytest.raises(ValueError, match="PLAYGROUND_MEMORY_MB"):
        model_budget()
