"""Work that many users ask for at once, done once: a class pressing the same *Try this* shares one run.

`SharedRuns.stream(key, start)` returns an iterator over the items of the run named `key`. The first caller
starts it (`start()` returns a generator, run in a thread of its own); everyone who asks for the same key while
it runs follows the same run from its first item, at their own pace; a finished run is kept (up to
`max_runs`) and replayed to later callers without computing anything. Each follower can stop following (close
its iterator: Gradio's Stop) without stopping the others; a run nobody follows any more is stopped, and a run
that was stopped or failed is not kept.

    >>> runs = SharedRuns(max_runs=4)
    >>> def count():
    ...     yield from range(3)
    >>> list(runs.stream("count to 3", count)), list(runs.stream("count to 3", count))
    ([0, 1, 2], [0, 1, 2])
    >>> runs.started                                   # the second caller replayed the first run
    1

Keys must name everything the result depends on (model, inputs, seed): only deterministic runs may share.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterator


class _Run:
    """One run's items so far, its end, and who follows it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.done = False
        self.error: BaseException | None = None
        self.followers = 0
        self.read = 0        # items the furthest follower has taken
        self.stop = threading.Event()
        self.changed = threading.Condition()


class SharedRuns:
    def __init__(self, max_runs: int = 32, max_bytes: int | None = None,
                 size_of: Callable[[list[Any]], int] | None = None, lookahead: int | None = None):
        """Keep at most `max_runs` finished runs and, when `size_of(items)` says what a run weighs, at most
        `max_bytes` of them (the least recently asked for go first). With `lookahead`, a run computes at most
        that many items ahead of its furthest follower (paced by its readers, as a generator called in the
        reader's own thread would be; None: as fast as it can)."""
        self.lookahead = lookahead
        self.max_runs = max_runs
        self.max_bytes = max_bytes
        self.size_of = size_of
        self._running: dict[Hashable, _Run] = {}
        self._finished: OrderedDict[Hashable, list[Any]] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self.started = 0   # runs actually computed, for tests and benchmarks

    def stream(self, key: Hashable, start: Callable[[], Iterator[Any]]) -> Iterator[Any]:
        """The items of run `key`: replayed if it finished before, followed if it runs, else started. The
        caller counts as a follower from this call on (not from its first `next`)."""
        with self._lock:
            if key in self._finished:
                self._finished.move_to_end(key)
                return iter(list(self._finished[key]))
            run = self._running.get(key)
            if run is None or run.stop.is_set():     # a run being stopped can't be joined: start afresh
                run = self._running[key] = _Run()
                self.started += 1
                threading.Thread(target=self._produce, args=(key, run, start), daemon=True,
                                 name=f"shared-run-{self.started}").start()
            run.followers += 1
        return self._follow(key, run)

    def _follow(self, key: Hashable, run: _Run) -> Iterator[Any]:
        seen = 0
        try:
            while True:
                with run.changed:
                    while seen == len(run.items) and not run.done:
                        run.changed.wait()
                    fresh, done, error = run.items[seen:], run.done, run.error
                    seen += len(fresh)
                    if seen > run.read:
                        run.read = seen
                        run.changed.notify_all()
                yield from fresh
                if done and seen == len(run.items):
                    if error is not None:
                        raise error
                    return
        finally:
            with self._lock:
                run.followers -= 1
                stopping = run.followers == 0 and not run.done
                if stopping:
                    run.stop.set()          # nobody watches any more: stop computing
            if stopping:
                with run.changed:
                    run.changed.notify_all()

    def _keep(self, key: Hashable, items: list[Any]) -> None:
        """Keep a finished run for replay within the bounds (called with the lock held)."""
        self._finished[key] = items
        self._sizes[key] = self.size_of(items) if self.size_of is not None else 0
        while self._finished and (len(self._finished) > self.max_runs or
                                  (self.max_bytes is not None and sum(self._sizes.values()) > self.max_bytes)):
            oldest, _ = self._finished.popitem(last=False)
            del self._sizes[oldest]

    def _produce(self, key: Hashable, run: _Run, start: Callable[[], Iterator[Any]]) -> None:
        generator = None
        try:
            generator = start()
            for item in generator:
                with run.changed:
                    run.items.append(item)
                    run.changed.notify_all()
                    while (self.lookahead is not None and len(run.items) - run.read >= self.lookahead
                           and not run.stop.is_set()):
                        run.changed.wait()
                if run.stop.is_set():
                    break
        except BaseException as error:  # handed to every follower, who raises it
            run.error = error
        finally:
            if generator is not None and hasattr(generator, "close"):
                generator.close()
            with self._lock:
                if self._running.get(key) is run:
                    del self._running[key]
                if run.error is None and not run.stop.is_set():
                    self._keep(key, run.items)
            with run.changed:
                run.done = True
                run.changed.notify_all()
