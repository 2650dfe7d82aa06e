"""service.batching.BatchingThread: what was queued meanwhile, handled as one batch."""

from __future__ import annotations

import threading

from service.batching import BatchingThread


def test_items_queued_meanwhile_are_one_batch_up_to_the_bound() -> None:
    batches: list[list[int]] = []
    handled = threading.Event()

    def handle(batch: list[int]) -> None:
        batches.append(batch)
        if sum(len(b) for b in batches) == 7:
            handled.set()

    worker = BatchingThread(handle, name="test-batches", max_batch=3)
    for i in range(6):  # queued before the thread exists: it starts with the seventh
        worker.queue.put(i)
    worker.put(6)
    assert handled.wait(10)
    worker.close()
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_close_handles_what_is_queued_and_stops_the_thread() -> None:
    batches: list[list[str]] = []
    worker = BatchingThread(batches.append, name="test-close")
    worker.close()  # never started: nothing to stop
    worker.put("a")
    worker.put("b")
    worker.close()
    assert [x for b in batches for x in b] == ["a", "b"]
    assert not any(t.name == "test-close" for t in threading.enumerate())
