"""The web pages and their static files (``service/routes/pages.py``).

Most tests run on a small fake build in a temporary folder, so they need neither npm nor
a database server: the pages never touch the store (SQLite is only there because the app
migrates a store at start-up). The last tests check the real build in ``service/static``
(``make frontend``): skipped on a workstation without it, failing under CI.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from svc_helpers import make_settings

from service.app import create_app
from service.routes import pages
from store.engine import make_engine

INDEX = """<!doctype html>
<html><head>
  <meta name="healthmap-root" content="">
  <script type="module" crossorigin src="/static/assets/map-abc123.js"></script>
  <link rel="stylesheet" crossorigin href="/static/assets/map-abc123.css">
</head><body><div id="app"></div></body></html>
"""
PHONE = INDEX.replace("map-abc123", "phone-def456")


@pytest.fixture
def fake_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "m").mkdir()
    (static / "index.html").write_text(INDEX, encoding="utf-8")
    (static / "m" / "index.html").write_text(PHONE, encoding="utf-8")
    (static / "assets" / "map-abc123.js").write_text("console.log('map');\n")
    (static / "assets" / "map-abc123.css").write_text("body{margin:0}\n")
    (tmp_path / "secret.txt").write_text("outside the static folder\n")
    monkeypatch.setattr(pages, "STATIC_DIR", static)
    pages._static_files.cache_clear()
    yield static
    pages._static_files.cache_clear()


@pytest.fixture
def make_pages_client(sqlite_template: Path, tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """A started client of the whole app on a copy of the migrated SQLite template."""
    shutil.copy(sqlite_template, tmp_path / "store.db")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    clients: list[TestClient] = []

    def build(root_path: str = "", **overrides: Any) -> TestClient:
        app = create_app(make_settings(url, **overrides), engine)
        client = TestClient(app, root_path=root_path, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for c in clients:
        c.__exit__(None, None, None)
    engine.dispose()


def test_map_page(fake_build: Path, make_pages_client: Callable[..., TestClient]) -> None:
    r = make_pages_client().get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "worker-src 'self' blob:" in csp
    assert '<meta name="healthmap-root" content="">' in r.text
    assert 'src="/static/assets/map-abc123.js"' in r.text
    assert "healthmap-basemap" not in r.text  # no basemap unless configured


def test_phone_page_and_redirects(
    fake_build: Path, make_pages_client: Callable[..., TestClient]
) -> None:
    client = make_pages_client()
    r = client.get("/m/")
    assert r.status_code == 200 and "phone-def456.js" in r.text
    r = client.get("/m", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/m/"
    r = client.get("/login", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/"


def test_static_assets(fake_build: Path, make_pages_client: Callable[..., TestClient]) -> None:
    client = make_pages_client()
    r = client.get("/static/assets/map-abc123.js")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert r.headers["cache-control"] == pages.IMMUTABLE
    assert r.headers["x-content-type-options"] == "nosniff"
    etag = r.headers["etag"]
    assert (
        client.get("/static/assets/map-abc123.js", headers={"if-none-match": etag}).status_code
        == 304
    )
    assert client.head("/static/assets/map-abc123.css").status_code == 200
    r = client.get("/static/index.html")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/static/assets/nope.js",
        "/static/",
        "/static/assets",
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/assets/..%2f..%2fsecret.txt",
    ],
)
def test_static_misses_are_problems(
    fake_build: Path, make_pages_client: Callable[..., TestClient], path: str
) -> None:
    r = make_pages_client().get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "outside the static folder" not in r.text


def test_missing_build_says_make_frontend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_pages_client: Callable[..., TestClient]
) -> None:
    monkeypatch.setattr(pages, "STATIC_DIR", tmp_path / "no-build")
    pages._static_files.cache_clear()
    client = make_pages_client()
    for path in ("/", "/m/"):
        r = client.get(path)
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("text/html")
        assert "make frontend" in r.text
        assert "<script" not in r.text
    pages._static_files.cache_clear()


def test_basemap_settings_reach_the_page_and_the_csp(
    fake_build: Path, make_pages_client: Callable[..., TestClient]
) -> None:
    url = "https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}&l={z}&tk=KEY"
    client = make_pages_client(service={"basemap_url": url, "basemap_crs": "gcj02"})
    r = client.get("/")
    escaped = url.replace("&", "&amp;")
    assert f'<meta name="healthmap-basemap" content="{escaped}">' in r.text
    assert '<meta name="healthmap-basemap-crs" content="gcj02">' in r.text
    assert "https://*.tianditu.gov.cn" in r.headers["content-security-policy"]


def test_path_prefix_behind_a_proxy(
    fake_build: Path, make_pages_client: Callable[..., TestClient]
) -> None:
    client = make_pages_client(root_path="/healthmap")
    r = client.get("/healthmap/")
    assert r.status_code == 200
    assert '<meta name="healthmap-root" content="/healthmap">' in r.text
    assert 'src="/healthmap/static/assets/map-abc123.js"' in r.text
    assert client.get("/healthmap/static/assets/map-abc123.js").status_code == 200
    r = client.get("/healthmap/m", follow_redirects=False)
    assert r.headers["location"] == "/healthmap/m/"


# ----------------------------------------------------------------------------------------
# The real build (make frontend)
# ----------------------------------------------------------------------------------------
REAL_STATIC = Path(pages.__file__).resolve().parent.parent / "static"


@pytest.fixture
def real_build() -> Path:
    if not (REAL_STATIC / "index.html").is_file():
        message = "service/static is not built (make frontend)"
        if os.environ.get("CI"):
            pytest.fail(message + " — CI runs make test, which builds it")
        pytest.skip(message)
    pages._static_files.cache_clear()
    return REAL_STATIC


@pytest.mark.parametrize("page", ["/", "/m/"])
def test_real_build_is_self_contained(
    real_build: Path, make_pages_client: Callable[..., TestClient], page: str
) -> None:
    client = make_pages_client()
    r = client.get(page)
    assert r.status_code == 200
    html = r.text
    # No inline script (the CSP forbids it) and nothing from another host.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script in the page"
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html), "external reference"
    assert " style=" not in html, "style attribute (the CSP has no 'unsafe-inline')"
    refs = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert any(ref.endswith(".js") for ref in refs) and any(ref.endswith(".css") for ref in refs)
    for ref in refs:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.headers["cache-control"] == pages.IMMUTABLE
        if ref.endswith(".css"):
            # Fonts and images of the stylesheets come from the bundle or data: URIs.
            assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", asset.text), ref
