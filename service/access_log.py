"""The access log: one JSON line per request, to stderr and a rotating file.

A line holds what an operator needs to follow a request and nothing about a resident::

    {"event": "access", "at": "2026-11-24T02:03:04.123Z", "method": "GET",
     "path": "/api/v1/residents/{resident_id}", "query": ["unmask"], "status": 404,
     "duration_ms": 3.1, "user": 12, "role": "doctor", "client": "10.1.2.3",
     "request_id": "…", "county": "370725"}

``county`` is the county whose app answered in a province deployment (null for the root
store's). ``path`` is the matched route's template, never the raw path (a resident id, an ID number
or a name may be in it); an unmatched path has every segment holding a digit masked.
``query`` has the parameter *names* only. No body, no header other than the request id.
``client`` is :func:`service.client.client_address` (``service.trusted_proxies``).

:func:`configure_access_log` attaches the handlers to the ``healthmap.access`` logger when
the app is created (``service.access_log``, on by default). With ``healthmap serve
--workers N`` every worker writes the same file: :class:`SharedRotatingFileHandler`
serialises the writes and the rotation of the processes with a lock file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from service.client import client_address
from service.settings import Settings

ACCESS_LOGGER = "healthmap.access"
access_logger = logging.getLogger(ACCESS_LOGGER)
#: Marks the handlers this module attached, so a second app in the process replaces them.
_OURS = "_healthmap_access_handler"


class SharedRotatingFileHandler(RotatingFileHandler):
    """:class:`RotatingFileHandler` that several processes may share.

    The standard handler assumes one writer: with two uvicorn workers each rotates on its
    own count and renames the file under the other, which goes on writing into
    ``access.log.1`` and later clobbers a backup. Here every write takes an exclusive
    ``flock`` on ``<file>.lock`` and, if another process rotated meanwhile (the path's
    inode changed), reopens the file first; the size check then sees the file everyone
    writes. ``concurrent-log-handler`` does the same with more machinery (and a new
    dependency); a lock and an inode check are all a county's access log needs.
    """

    def __init__(self, filename: str | Path, max_bytes: int, backups: int) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._lock_path = self.baseFilename + ".lock"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with open(self._lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    self._follow_rotation()
                    super().emit(record)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except Exception:
            self.handleError(record)

    def _follow_rotation(self) -> None:
        if self.stream is None:
            return
        try:
            on_disk = os.stat(self.baseFilename)
        except FileNotFoundError:
            on_disk = None
        mine = os.fstat(self.stream.fileno())
        if on_disk is None or (on_disk.st_ino, on_disk.st_dev) != (mine.st_ino, mine.st_dev):
            self.stream.close()
            self.stream = self._open()


def access_log_path(settings: Settings) -> Path | None:
    """The access-log file (``service.access_log_file`` under ``data_dir``), or None."""
    name = settings.service.access_log_file
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else settings.data_dir / path


def configure_access_log(settings: Settings) -> list[logging.Handler]:
    """Attach the access log's handlers (stderr and the rotating file) per ``settings``.

    Idempotent: the handlers a previous call attached are closed and replaced (the last
    app created in a process decides). With ``service.access_log`` off nothing is attached
    and the logger propagates as any other (so a test's ``caplog`` still sees it).

    Returns
    -------
    list of logging.Handler
        The handlers attached.
    """
    for handler in [h for h in access_logger.handlers if getattr(h, _OURS, False)]:
        access_logger.removeHandler(handler)
        handler.close()
    if not settings.service.access_log:
        access_logger.propagate = True
        return []
    formatter = logging.Formatter("%(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    path = access_log_path(settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            SharedRotatingFileHandler(
                path, settings.service.access_log_max_bytes, settings.service.access_log_backups
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _OURS, True)
        access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    # Our own handlers write the line; the root's (an embedder's basicConfig) would repeat it.
    access_logger.propagate = False
    return handlers


def request_client(scope: Scope) -> str | None:
    """The client address of a request, as configured (``service.trusted_proxies``)."""
    if "app" not in scope:  # outside an app (a bare middleware test): the TCP peer
        peer = scope.get("client")
        return str(peer[0]) if peer else None
    return client_address(HTTPConnection(scope))


def log_path(scope: Scope) -> str:
    """The path to log: the matched route's template, else a masked path."""
    route = scope.get("route")
    template = getattr(route, "path", None) or getattr(route, "path_format", None)
    if isinstance(template, str):
        return str(scope.get("root_path", "")) + template
    path = str(scope.get("path", ""))
    return "/".join("*" if any(c.isdigit() for c in seg) else seg for seg in path.split("/"))[:200]


def access_fields(
    scope: Scope, status: int, duration_ms: float, request_id: str, query_names: list[str]
) -> dict[str, Any]:
    """The fields of one access-log line (see the module's docstring)."""
    state = scope.get("state", {})
    principal = state.get("principal")
    try:
        client = request_client(scope)
    except Exception:  # the line must be written whatever the settings hold
        client = None
    return {
        "event": "access",
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": scope.get("method"),
        "path": log_path(scope),
        "query": query_names,
        "status": status,
        "duration_ms": round(duration_ms, 1),
        "user": getattr(principal, "id", None) or state.get("user_id"),
        "role": getattr(principal, "role", None),
        "client": client,
        "request_id": request_id,
        # Which county's app answered in a province deployment (service.counties); null
        # for the root store's (a single county, or the province's own routes).
        "county": _county_of(scope),
    }


def _county_of(scope: Scope) -> str | None:
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    county = getattr(settings, "county", None)
    return county if isinstance(county, str) else None


def write_access_line(fields: dict[str, Any]) -> None:
    """Log one line (JSON) on ``healthmap.access``; the fields also ride on the record."""
    if access_logger.isEnabledFor(logging.INFO):
        access_logger.info(json.dumps(fields, ensure_ascii=False), extra={"access": fields})
