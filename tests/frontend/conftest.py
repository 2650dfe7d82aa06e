"""Fixtures of the browser tests: a small built store, the real server, Debian's Chromium.

One store for the whole session (``healthmap sample`` at scale 0.01 → ``ingest`` →
``build``), served by ``healthmap serve --demo-users`` in a subprocess on a free port of
127.0.0.1, and driven by Playwright's sync API in ``/usr/bin/chromium`` (never a
downloaded browser). ``browser_helpers.Watch`` records what a page did.

Without Chromium the tests fail. Where the front-end build (``make frontend``) is missing
they skip on a workstation and fail under CI.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import AS_OF, HEALTHMAP, serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCALE = "0.01"
STATIC = Path(__file__).resolve().parents[2] / "service" / "static"


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: the browser tests must run)", pytrace=False)
    pytest.skip(message)


def _require_chromium_and_build() -> None:
    """Checked before the minute of building the sample store.

    Chromium is a requirement of the browser tests: missing, they fail. Only a front end
    not built yet (``make test`` builds it) skips them, on a workstation; under CI it fails.
    """
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is not installed (apt-get install chromium)", pytrace=False)
    if not (STATIC / "index.html").is_file() or not (STATIC / "m" / "index.html").is_file():
        _missing("the front end is not built (make frontend)")


def _run(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [HEALTHMAP, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"healthmap {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def sample_store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A built SQLite store of a small sample county (as of :data:`AS_OF`)."""
    _require_chromium_and_build()
    root = tmp_path_factory.mktemp("browser_store")
    url = f"sqlite:///{root / 'store.db'}"
    _run("sample", "--out", str(root / "data"), "--scale", SCALE, "--as-of", AS_OF, cwd=root)
    _run("--db", url, "ingest", str(root / "data"), cwd=root)
    _run("--db", url, "build", "--as-of", AS_OF, cwd=root)
    return url


@pytest.fixture(scope="session")
def server(sample_store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of ``healthmap serve --demo-users`` on the built store."""
    _require_chromium_and_build()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHMAP_")}
    env["HEALTHMAP_MODE"] = "demo"
    log = tmp_path_factory.mktemp("server") / "server.log"
    with serving(["--db", sample_store_url], ["--demo-users"], log, env) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium_and_build()
    from playwright.sync_api import sync_playwright  # a dev dependency: never skipped

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
