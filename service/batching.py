"""One background thread that takes what was queued meanwhile and handles it as one batch.

The audit writer (``service.audit.AuditWriter``: one transaction for the records of
concurrent requests) and the push lists' refresher (``service.worklists``: each team's
list once for the visits recorded meanwhile) both need it. The thread starts with the
first item, in the process that queues it: uvicorn forks its workers after the app is
made, and a thread started before the fork would not exist in them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BatchingThread(Generic[T]):
    """Hands the items queued with :meth:`put` to ``handle`` in batches, in one thread.

    Parameters
    ----------
    handle : callable
        Called with each batch (a list, in queue order); it must not raise.
    name : str
        The thread's name.
    max_batch : int, optional
        Items per batch at most (no bound by default).
    """

    def __init__(
        self, handle: Callable[[list[T]], None], *, name: str, max_batch: int | None = None
    ) -> None:
        self.handle = handle
        self.name = name
        self.max_batch = max_batch
        self.queue: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, item: T) -> None:
        """Queue ``item`` (starting the thread on the first one)."""
        self.queue.put(item)
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()

    def close(self) -> None:
        """Handle what is queued and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self.queue.put(None)
            thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self.queue.get()
            if item is None:
                return
            batch = [item]
            while self.max_batch is None or len(batch) < self.max_batch:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self.handle(batch)
