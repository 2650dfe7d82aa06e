"""The API's own documentation: Swagger UI at ``/docs`` and the problem types.

The service runs on a health intranet with no internet, so Swagger UI is served from the
service itself: its files come from the ``fastapi-offline`` package (only its static
files are used). Without that package ``/docs`` says so and points to ``/openapi.json``;
it never falls back to a CDN.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from service.errors import PROBLEM_TYPES, NotFound

router = APIRouter(include_in_schema=False)

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@functools.cache
def swagger_assets() -> Path | None:
    """Folder of the Swagger UI files, or None when they are not installed."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def _script_hashes(html: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    openapi_url = root + str(request.app.openapi_url)
    if swagger_assets() is None:
        return HTMLResponse(
            "<!doctype html><title>healthmap API</title><p>Swagger UI is not installed"
            f' (pip install fastapi-offline). The API description is at <a href="{openapi_url}">'
            f"{openapi_url}</a>.</p>"
        )
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{request.app.title} – API",
        swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
        swagger_favicon_url=f"{root}/docs/assets/favicon.png",
    )
    html = bytes(page.body).decode("utf-8")
    # Everything from the service; the page's one inline script is allowed by its hash.
    # Swagger UI sets style attributes in its markup, hence 'unsafe-inline' for styles only.
    csp = (
        f"default-src 'none'; script-src 'self' {_script_hashes(html)}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


@router.get("/docs/assets/{name}")
def swagger_asset(name: str) -> FileResponse:
    folder = swagger_assets()
    if folder is None or name not in ASSETS:  # a fixed list: no path ever reaches the disk
        raise NotFound()
    return FileResponse(folder / name, headers={"Cache-Control": "public, max-age=86400"})


@router.get("/problems/{slug}")
def problem_type(slug: str) -> dict[str, object]:
    """What a problem ``type`` means (the ``type`` member of errors points here)."""
    problem = PROBLEM_TYPES.get(slug)
    if problem is None:
        raise NotFound("No such problem type.")
    return {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "description": problem.description,
    }
