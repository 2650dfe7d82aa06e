"""Child processes that die with their parent, and the owner of long-running store work.

``kill -9`` of ``healthmap build`` once left its forked pool workers, the spawned worker
that drops superseded builds and multiprocessing's resource tracker alive for good: each
held a copy of the others' pipe ends, so none of them ever read end-of-file
(docs/operations.md). Every process the pipelines start now calls
:func:`die_with_parent` first:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child the moment
  its parent dies, however it died. It is called through ``ctypes`` on libc because no
  maintained library does just this (``python-prctl`` and ``prctl`` on PyPI have had no
  release since 2020 and 2010, and both are C extensions to build); it is one system call;
* everywhere, a watchdog thread that ends the child when its parent pid changes (the
  parent died and the child was re-parented to init or a subreaper), within
  :data:`WATCHDOG_SECONDS`. It also covers the case where the parent dies between the fork
  and the ``prctl`` call.

The multiprocessing resource tracker is not ours to configure; it exits by itself at
end-of-file once every process that held its pipe (the parent and the children above) is
gone.

Work that outlives a process in the store (an ingest batch, a build) records its
:func:`process_owner` — host, pid and the process's start time — so the next run can tell
a row whose process was killed (:func:`owner_alive` is False) from one still running.
The start time tells a pid reused by another process from the original.

This lives in ``store`` because the lowest process that starts children is
:mod:`store.sqlite_arrow`'s reader; the pipelines use it too.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import psutil

#: From <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
#: How often a child's watchdog looks at its parent pid.
WATCHDOG_SECONDS = 1.0


def _set_parent_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, interval: float) -> None:
    while True:
        if os.getppid() != parent:
            # The parent is gone: nobody will read what this process computes.
            os._exit(1)
        time.sleep(interval)


def die_with_parent(parent: int | None = None, *, interval: float = WATCHDOG_SECONDS) -> None:
    """Make this (child) process end when ``parent`` dies.

    Call it first in a child: a pool's ``initializer``, a script's ``__main__``.

    Parameters
    ----------
    parent : int, optional
        The parent's pid as the parent saw it before starting the child (pass it: a child
        that asks ``os.getppid()`` itself may already see init if the parent died in
        between). Default: the current parent.
    interval : float
        Seconds between two looks of the watchdog thread.
    """
    parent = os.getppid() if parent is None else parent
    _set_parent_death_signal()
    if os.getppid() != parent:  # died before the signal was armed
        os._exit(1)
    threading.Thread(
        target=_watch, args=(parent, interval), name="healthmap-parent-watchdog", daemon=True
    ).start()


def process_owner() -> dict[str, Any]:
    """This process as the owner of a store row: ``{"host", "pid", "started"}``."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _started(pid)}


def _started(pid: int) -> float | None:
    try:
        return round(psutil.Process(pid).create_time(), 2)
    except psutil.Error:
        return None


def owner_alive(owner: Any) -> bool | None:
    """Whether the process of an owner record (:func:`process_owner`) still runs.

    True or False on this host; None when it cannot be told (another host, or no owner
    recorded): the caller decides by age then.
    """
    if not isinstance(owner, dict) or owner.get("host") != socket.gethostname():
        return None
    try:
        pid = int(owner["pid"])
    except (KeyError, TypeError, ValueError):
        return None
    started = _started(pid)
    if started is None:
        return False
    recorded = owner.get("started")
    # Another process with the same pid (pids are reused) started at another time.
    return recorded is None or abs(float(recorded) - started) < 1.0
