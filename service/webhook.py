"""Telling another system about an emergency reading: a fire-and-forget JSON POST.

When ``service.emergency_webhook_url`` is set, every newly recorded emergency reading is
POSTed there (the county's messaging platform, a duty phone gateway…). The request that
recorded the reading never waits for it: the POST runs on a small background pool with a
short timeout, and a failure is logged, never raised. The payload carries ids and values
only — no name, phone or address: the receiver looks the patient up in its own system.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx

logger = logging.getLogger("healthmap.service")

#: Seconds a webhook POST may take (connect + read) before it is abandoned.
WEBHOOK_TIMEOUT_S = 2.0

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # Two threads: bursts queue up instead of spawning a thread per reading.
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="healthmap-webhook")
        return _pool


def send(url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT_S) -> bool:
    """POST ``payload`` as JSON to ``url``; True on a 2xx answer. Never raises."""
    try:
        response = httpx.post(url, json=payload, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        logger.warning("emergency webhook failed: %s", type(exc).__name__)
        return False
    if not response.is_success:
        logger.warning("emergency webhook answered %s", response.status_code)
        return False
    return True


def notify(url: str | None, payload: dict[str, Any]) -> Future[bool] | None:
    """Queue the POST of ``payload`` to ``url`` (nothing when ``url`` is empty)."""
    if not url:
        return None
    return _executor().submit(send, url, payload)
