"""One in-memory cache for every loaded model and tokenizer.

Each key loads once, however many requests ask for it at the same moment: the first caller loads,
the others wait for it. When the loaded entries outgrow the memory budget (PLAYGROUND_MEMORY_MB,
default 8192, for the shared cache) the least recently used ones are dropped.

    >>> cache = ModelCache(budget_bytes=100)
    >>> cache.get("a", lambda: ("value", 60))
    'value'
    >>> cache.get("b", lambda: ("other", 60))   # 120 > 100: "a" is evicted
    'other'
    >>> cache.keys()
    ['b']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable

from playground.settings import current

Loader = Callable[[], tuple[Any, int]]  # returns (value, size in bytes)


def model_budget() -> int:
    """The shared model cache's budget in bytes: PLAYGROUND_MEMORY_MB."""
    return int(current().memory_mb * 2**20)


class ModelCache:
    def __init__(self, budget_bytes: int | Callable[[], int] = model_budget):
        self._budget = budget_bytes
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a loader actually ran, for tests and the status line

    def get(self, key: Hashable, load: Loader) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            try:
                value, size = load()
            except BaseException:
                with self._lock:
                    self._loading.pop(key, None)  # a later request tries again with a fresh lock
                raise
            with self._lock:
                self.loads += 1
                self._entries[key] = (value, size)
                self._evict(keep=key)
                self._loading.pop(key, None)
            return value

    @property
    def budget_bytes(self) -> int:
        """The budget now (a setting, read when entries are added)."""
        return self._budget() if callable(self._budget) else self._budget

    def _evict(self, keep: Hashable) -> None:
        total = sum(size for _, size in self._entries.values())
        for key in list(self._entries):
            if total <= self.budget_bytes:
                break
            if key == keep:
                continue
            total -= self._entries.pop(key)[1]

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    def used_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


CACHE = ModelCache()
