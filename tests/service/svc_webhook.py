"""A webhook receiver for the outbox tests: counts the POSTs it gets by ``Idempotency-Key``.

It listens on a fixed port of 127.0.0.1 that can be chosen before it starts, so a test can
point the service at a receiver that is down (nothing listens: connection refused) and
bring it up later on the same address.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A stub webhook receiver; ``counts[key]`` is how many POSTs carried that key."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.counts: Counter[str] = Counter()
        self.bodies: dict[str, dict[str, Any]] = {}
        self.content_types: dict[str, str] = {}
        self.first_seen: dict[str, float] = {}
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key") or "<none>"
                with receiver._changed:
                    receiver.counts[key] += 1
                    receiver.bodies[key] = json.loads(body)
                    receiver.content_types[key] = self.headers.get("Content-Type") or ""
                    receiver.first_seen.setdefault(key, time.monotonic())
                    receiver._changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> Receiver:
        """Listen (again) on the receiver's port."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, keys: int, timeout: float) -> bool:
        """True once ``keys`` distinct keys arrived, False after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.counts) >= keys, timeout)
