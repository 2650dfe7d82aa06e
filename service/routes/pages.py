"""The web pages: the bureau's map at ``/`` and the family doctor's phone page at ``/m/``.

The front end is built with npm from ``frontend/`` into ``service/static/`` (``make
frontend``) and shipped inside the package; nothing is loaded from outside the server.

- ``/`` → ``static/index.html`` (the map), ``/m/`` → ``static/m/index.html`` (the phone
  page), ``/r/`` → ``static/r/index.html`` (a resident's own page), ``/c/`` →
  ``static/console/index.html`` (the centre's console), ``/planner/`` →
  ``static/planner/index.html`` (the planner's page), ``/province/`` →
  ``static/province/index.html`` (the province's county ranking and map), ``/login`` →
  ``/`` (the pages have their own login form);
- ``/static/{path}`` → the build output (Starlette's ``StaticFiles`` lookup: no path
  outside the folder, ETag and ``Last-Modified``); the hashed files under
  ``/static/assets/`` are cached for a year, the pages are revalidated every time;
- the pages get three ``<meta>`` values filled in: the path prefix the service runs under
  (``root_path`` behind a reverse proxy) and the optional basemap's URL template and
  datum (``service.basemap_url``, ``service.basemap_crs``; docs/frontend.md);
- without a build, the pages answer 503 with a page that says to run ``make frontend``.
"""

from __future__ import annotations

import functools
import html
import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)

#: The build output of ``frontend/`` (``npm run build``).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: Hashed assets: their names change with their content, so they can be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"

_ROOT_META = '<meta name="healthmap-root" content="">'

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>healthmap: front end not built</title></head>
<body>
<h1>The web front end has not been built</h1>
<p>The API works (see <a href="{root}/docs">{root}/docs</a>), but the map and the phone page
are missing: <code>{missing}</code> does not exist.</p>
<p>Build them once from the repository (needs Node.js and npm):</p>
<pre>make frontend</pre>
<p>which runs <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code> and writes
<code>service/static/</code>. Then reload this page.</p>
<p>前端尚未构建：请在代码目录运行 <code>make frontend</code>，然后刷新本页。</p>
</body></html>
"""


@functools.cache
def _static_files() -> StaticFiles:
    # check_dir=False: the folder may not exist yet (no build); lookups then find nothing.
    return StaticFiles(directory=STATIC_DIR, check_dir=False)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, relative: str) -> Response:
    """One of the built HTML pages with its meta values filled in."""
    path = STATIC_DIR / relative
    root = _root(request)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        # The path inside the package, not the server's absolute path.
        missing = f"service/static/{relative}"
        body = _MISSING.format(root=html.escape(root), missing=html.escape(missing))
        return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
    service = request.app.state.settings.service
    values = {"healthmap-root": root}
    if service.basemap_url:
        values["healthmap-basemap"] = service.basemap_url
        values["healthmap-basemap-crs"] = service.basemap_crs
    metas = [f'<meta name="{k}" content="{html.escape(v)}">' for k, v in values.items()]
    text = text.replace(_ROOT_META, "\n  ".join(metas), 1)
    if root:
        # The build links its assets as /static/…; behind a prefix they are {root}/static/….
        text = text.replace('"/static/', f'"{root}/static/')
    return HTMLResponse(text, headers={"Cache-Control": "no-cache"})


@router.get("/")
def map_page(request: Request) -> Response:
    """The web map (bureau, planner, chronic-disease centre, admin)."""
    return _page(request, "index.html")


@router.get("/m/")
def phone_page(request: Request) -> Response:
    """The family doctor's phone page."""
    return _page(request, "m/index.html")


@router.get("/m")
def phone_page_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/m/", status_code=308)


@router.get("/r/")
def resident_page(request: Request) -> Response:
    """A resident's own page: activation, PIN login, their record (docs/residents.md)."""
    return _page(request, "r/index.html")


@router.get("/r")
def resident_page_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/r/", status_code=308)


@router.get("/c/")
def console_page(request: Request) -> Response:
    """The chronic-disease centre's console (docs/console.md)."""
    return _page(request, "console/index.html")


@router.get("/c")
def console_page_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/c/", status_code=308)


@router.get("/planner/")
def planner_page(request: Request) -> Response:
    """The planner's page: coverage map, what-if, town standards, reports (docs/reports.md)."""
    return _page(request, "planner/index.html")


@router.get("/planner")
def planner_page_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/planner/", status_code=308)


@router.get("/province/")
def province_page(request: Request) -> Response:
    """The province's page: counties ranked, their map, a county's towns (docs/province.md)."""
    return _page(request, "province/index.html")


@router.get("/province")
def province_page_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/province/", status_code=308)


@router.get("/login")
def login_page(request: Request) -> RedirectResponse:
    """Both pages carry their own login form; ``/login`` leads to the map's."""
    return RedirectResponse(f"{_root(request)}/", status_code=307)


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
async def static_file(path: str, request: Request) -> Response:
    """A file of the build (404 problem when there is none)."""
    # Normalised as StaticFiles does; its lookup refuses anything outside STATIC_DIR.
    relative = os.path.normpath(os.path.join(*path.split("/")))
    response = await _static_files().get_response(relative, request.scope)
    if path.startswith("assets/") and response.status_code == 200:
        response.headers["Cache-Control"] = IMMUTABLE
    else:
        response.headers.setdefault("Cache-Control", "no-cache")
    return response
