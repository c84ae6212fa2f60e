"""Compatible requests of many users computed as one batch: a class asking at once waits about as long as one.

A `Crowd` gathers the requests that arrive together for the same batch key (for decoding: the same model, prompt
and length; for denoising: the same model and settings but the seed). The first request opens a batch; for a
moment (`gather_seconds`, renewed while members keep coming, up to `gather_max_seconds`), and for as long as the
batch waits for a free compute slot, every compatible request joins it. Then one loop runs for all of them,
`run(members)` (a generator of per-step values for the whole batch), and each member reads only its own part
(`split(step, member)`): its own stream, at its own pace.
A member that stops reading (Gradio's Stop) leaves the batch; when nobody reads any more the loop stops.

    >>> crowd = Crowd(gather_seconds=0.0)
    >>> def run(members):                               # one "step" per value; each member asked for a number
    ...     for step in range(3):
    ...         yield [m * 10 + step for m in members]
    >>> list(crowd.stream("same model", 4, run, lambda values, index: values[index]))
    [40, 41, 42]

`slots` bounds how many batches compute at once (one by default: on a small CPU, two loops at once only
share the cores). A batch that waits for its slot keeps taking members, so a class's requests end up in one.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Hashable, Iterator, Sequence

_END = object()


class _Batch:
    def __init__(self) -> None:
        self.members: list[Any] = []
        self.queues: list[queue.SimpleQueue] = []
        self.reading: list[bool] = []
        self.open = True


class Crowd:
    def __init__(self, gather_seconds: float = 0.05, slots: int = 1, gather_max_seconds: float = 0.5):
        self.gather_seconds = gather_seconds          # a lone request waits this long for company
        self.gather_max_seconds = gather_max_seconds  # while members keep coming, the batch waits up to this
        self._slots = threading.Semaphore(slots)
        self._forming: dict[Hashable, _Batch] = {}
        self._lock = threading.Lock()
        self.batches: list[int] = []   # members per batch run, for tests and benchmarks

    def stream(self, key: Hashable, member: Any, run: Callable[[Sequence[Any]], Iterator[Any]],
               split: Callable[[Any, int], Any]) -> Iterator[Any]:
        """This member's part of every step of the batch it joins (or opens) under `key`."""
        with self._lock:
            batch = self._forming.get(key)
            if batch is None:
                batch = self._forming[key] = _Batch()
                threading.Thread(target=self._run, args=(key, batch, run), daemon=True, name="crowd-batch").start()
            index = len(batch.members)
            batch.members.append(member)
            batch.queues.append(queue.SimpleQueue())
            batch.reading.append(True)
        return self._read(batch, index, split)

    def _read(self, batch: _Batch, index: int, split: Callable[[Any, int], Any]) -> Iterator[Any]:
        inbox = batch.queues[index]
        try:
            while True:
                item = inbox.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                part = split(item, index)
                if part is not None:
                    yield part
        finally:
            batch.reading[index] = False

    def _gather(self, batch: _Batch) -> None:
        """Wait `gather_seconds`, and again after each wait in which someone joined (a class's requests reach
        the server spread over a few tenths of a second on a busy machine), at most `gather_max_seconds`."""
        started = time.monotonic()
        with self._lock:
            seen = len(batch.members)         # the opener (stream() adds it before this thread can lock)
        while True:
            time.sleep(self.gather_seconds)
            with self._lock:
                count = len(batch.members)
            if count == seen or time.monotonic() - started >= self.gather_max_seconds:
                return
            seen = count

    def _run(self, key: Hashable, batch: _Batch, run: Callable[[Sequence[Any]], Iterator[Any]]) -> None:
        self._gather(batch)
        with self._slots:
            with self._lock:                 # from here on nobody joins: the rows are fixed
                batch.open = False
                if self._forming.get(key) is batch:
                    del self._forming[key]
                members = list(batch.members)
            self.batches.append(len(members))
            generator = None
            try:
                generator = run(members)
                for item in generator:
                    for inbox in batch.queues:
                        inbox.put(item)
                    if not any(batch.reading):
                        break
            except BaseException as error:   # every member raises it
                for inbox in batch.queues:
                    inbox.put(error)
            finally:
                if generator is not None and hasattr(generator, "close"):
                    generator.close()
                for inbox in batch.queues:
                    inbox.put(_END)
