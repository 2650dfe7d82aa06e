"""``GET /api/v1/indicators`` pages by cursor: ``next`` links walk the whole listing.

Over the small county of ``svc_county`` on both stores: following ``next`` from a first
page of 3 rows returns exactly the rows of one big page, in order; the cursor is checked
(garbage, another level, together with ``offset``: 422); ``offset`` still pages as before.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

Headers = dict[str, dict[str, str]]


def _get(api: TestClient, auth: Headers, url: str, **params: Any) -> Any:
    # No params at all for a ``next`` link: an empty mapping would replace its query.
    r = api.get(url, params=params or None, headers=auth["bureau1"])
    assert r.status_code == 200, r.text
    return r.json()


def test_next_links_walk_the_listing(api: TestClient, auth: Headers) -> None:
    whole = _get(api, auth, "/api/v1/indicators", level="grid", limit=5000)
    assert whole["next"] is None and whole["total"] == len(whole["items"]) >= 6
    page = _get(api, auth, "/api/v1/indicators", level="grid", limit=3)
    seen, offsets = list(page["items"]), [page["offset"]]
    while page["next"] is not None:
        assert "cursor=" in page["next"] and "offset=" not in page["next"]
        page = _get(api, auth, page["next"])
        assert page["total"] == whole["total"] and len(page["items"]) <= 3
        seen += page["items"]
        offsets.append(page["offset"])
    assert seen == whole["items"]
    assert offsets == list(range(0, whole["total"], 3))
    # offset pages as before
    middle = _get(api, auth, "/api/v1/indicators", level="grid", limit=3, offset=2)
    assert middle["items"] == whole["items"][2:5] and middle["offset"] == 2


def test_a_bad_cursor_is_a_422(api: TestClient, auth: Headers) -> None:
    first = _get(api, auth, "/api/v1/indicators", level="grid", limit=2)
    cursor = first["next"].split("cursor=")[1]
    for params in (
        {"level": "grid", "cursor": "not-a-cursor"},
        {"level": "grid", "cursor": "e30"},  # {}
        {"level": "town", "cursor": cursor},
        {"level": "grid", "cursor": cursor, "indicator": "htn_control_rate"},
        {"level": "grid", "cursor": cursor, "offset": 4},
    ):
        r = api.get("/api/v1/indicators", params=params, headers=auth["bureau1"])
        assert r.status_code == 422, (params, r.text)
        assert r.json()["errors"][0]["loc"] == "query.cursor"
